"""A scenario running live for the dashboard: on its own thread, commands in, snapshots out.

The engine runs on a background thread with its own loop: paced virtual time for mock (1x, 5x,
20x, pausable), wall time for real backends, or stepped virtual time for tests (time moves only
when :meth:`LiveRun.advance_to` says). The UI never touches engine objects: what it shows is the
run's :class:`~swarm_tui.engine.projection.SwarmProjection`, fed by the event bus on the engine
thread and frozen into a :class:`~swarm_tui.engine.projection.Snapshot` on request; commands
(pause, speed, inject a fault, partition, promote, roll back, scale) are carried out on the
engine thread. Neither side ever blocks the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from swarm_tui.engine.clock import VirtualTimeLoop
from swarm_tui.engine.events import Event
from swarm_tui.engine.faults import Fault
from swarm_tui.engine.projection import (
    AgentRow,
    EventLine,
    Snapshot,
    SwarmProjection,
    with_messages,
)
from swarm_tui.engine.runner import AnyContext, AnyScenario, close_loop, new_run_id, run_scenario, utc_now
from swarm_tui.engine.sandbox import Backend
from swarm_tui.engine.scenario import RolloutControl
from swarm_tui.engine.swarm import Swarm
from swarm_tui.results.journal import JournalWriter
from swarm_tui.results.model import ScenarioResult

SPEEDS = (1.0, 5.0, 20.0)
MESSAGES_UP_TO = 150  # above this many agents the dashboard draws a heatmap: no message dots
ROWS_EVERY_S = 0.25  # agent rows are rebuilt at most this often (wall time) while the run goes

# Default settings of faults injected by hand.
MANUAL_FAULTS: dict[str, dict[str, Any]] = {
    "crash": {},
    "cpu-spike": {"duration": 10.0, "factor": 6.0},
    "memory-leak": {"rate_mb_s": 40.0},
    "net-delay": {"duration": 10.0, "delay_ms": 300.0},
    "net-loss": {"duration": 10.0, "loss": 0.3},
    "error-rate": {"duration": 10.0, "rate": 0.5},
    "slow": {"duration": 10.0, "factor": 4.0},
    "byzantine": {"duration": 10.0},
    "bad-version": {},
}
ENDED = ("done", "error", "stopped")


class LiveRun:
    """One scenario running on a background thread, driven by the dashboard."""

    def __init__(
        self,
        scenario: AnyScenario,
        backend_factory: Callable[[int], Backend],
        *,
        backend_name: str = "mock",
        seed: int = 0,
        speed: float = 1.0,
        pause_at: float | None = None,
        stepped: bool = False,
        run_id: str | None = None,
        market_csv: str | None = None,
        journal: JournalWriter | None = None,
        virtual: bool | None = None,
    ) -> None:
        self.scenario = scenario
        self.backend_factory = backend_factory
        self.backend_name = backend_name
        self.seed = seed
        self.speed = speed
        self.pause_at = pause_at
        self.stepped = stepped
        self.run_id = run_id or new_run_id()
        self.market_csv = market_csv
        self.journal = journal
        self.projection = SwarmProjection(scenario.topology)
        self._stop_requested = False
        self.status = "starting"
        self.result: ScenarioResult | None = None
        self.error: str | None = None
        self.latest: Snapshot | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ctx: AnyContext | None = None
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[Any] | None = None
        self._lock = threading.Lock()
        self._snap_seq = 0
        self._rows: tuple[AgentRow, ...] = ()
        self._rows_at = -1e9
        self._last_look: Snapshot | None = None
        self._started = threading.Event()
        self._virtual = virtual if virtual is not None else not backend_factory(seed).capabilities.real
        self.stepped = stepped and self._virtual  # only virtual time can be stepped
        self.done = threading.Event()

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def virtual(self) -> bool:
        return self._virtual

    def start(self) -> LiveRun:
        self._thread = threading.Thread(target=self._thread_main, name=f"engine {self.scenario.id}", daemon=True)
        self._thread.start()
        self._started.wait(10.0)
        return self

    def _thread_main(self) -> None:
        loop: asyncio.AbstractEventLoop
        if self._virtual:
            if self.stepped:
                loop = VirtualTimeLoop(stepped=True)
            else:
                loop = VirtualTimeLoop(speed=None if self.pause_at is not None else self.speed)
        else:
            loop = asyncio.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)
        if self.pause_at is not None and isinstance(loop, VirtualTimeLoop) and not self.stepped:
            loop.call_at(self.pause_at, self._pause_here)
        try:
            self._task = loop.create_task(self._main())
            self._started.set()
            loop.run_until_complete(self._task)
        except BaseException as exc:
            self.error = self.error or f"{type(exc).__name__}: {exc}"
            self.status = "error"
        finally:
            self._started.set()
            close_loop(loop)
            self.done.set()

    def _pause_here(self) -> None:
        loop = self.loop
        if isinstance(loop, VirtualTimeLoop):
            loop._speed = self.speed  # after the instant run-up, pace at the chosen speed
            loop._paused = True
            loop._reanchor()
        self.status = "paused"
        self._build_snapshot()

    async def _main(self) -> None:
        backend = self.backend_factory(self.seed)
        # Stepped time stands still between steps: it shows as paused.
        self.status = "paused" if self.status == "paused" or self.stepped else "running"
        subscribers: list[Callable[[Event], None]] = [self._project]
        if self.journal is not None:
            subscribers.append(self.journal)
        try:
            self.result = await run_scenario(
                self.scenario,
                backend,
                seed=self.seed,
                run_id=self.run_id,
                subscribers=subscribers,
                market_csv=self.market_csv,
                on_context=self._on_context,
                before_shutdown=self._take_last_look,
                cancel_reason=lambda: "stopped" if self._stop_requested else None,
            )
            if self._stop_requested:
                self.status = "stopped"
            else:
                self.status = "done" if self.result.status != "error" else "error"
                self.error = self.result.error
        except asyncio.CancelledError:
            self.status = "stopped"
        finally:
            self._build_snapshot()
            if self.journal is not None:
                summary = {self.result.status: 1} if self.result is not None else {}
                self.journal.close({"finished_at": utc_now(), "summary": summary, "interrupted": self.result is None})

    def _project(self, event: Event) -> None:
        with self._lock:  # the UI thread reads the log while the engine thread feeds it
            self.projection(event)

    def _take_last_look(self, ctx: AnyContext) -> None:
        """The swarm as the experiment left it: the final snapshot shows this, not the teardown."""
        self._build_snapshot(force_rows=True)
        self._last_look = self.latest

    def _on_context(self, ctx: AnyContext) -> None:
        self.ctx = ctx

    def stop(self, wait: float = 10.0) -> None:
        """End the run (its sandboxes are killed) and wait for the engine thread."""
        self._stop_requested = True
        loop = self.loop
        if loop is not None and not loop.is_closed() and self._task is not None:
            with contextlib.suppress(RuntimeError):
                if isinstance(loop, VirtualTimeLoop):
                    if loop.stepped:
                        loop.release()
                    loop.resume()
                loop.call_soon_threadsafe(self._task.cancel)
        if self._thread is not None:
            self._thread.join(wait)

    # -- stepped time (tests) ------------------------------------------------------------------------
    def advance_to(self, t: float, timeout: float = 60.0) -> float:
        """Stepped mode: run the scenario to scenario time ``t`` and wait until everything due by
        then is done (or the run ended). Returns the time reached."""
        loop = self.loop
        if not isinstance(loop, VirtualTimeLoop) or not loop.stepped:
            raise RuntimeError("advance_to needs a LiveRun started with stepped=True")
        if self.done.is_set():
            return self.latest.t if self.latest is not None else 0.0
        return loop.advance_to(t, timeout, gone=self.done.is_set)

    def advance(self, seconds: float, timeout: float = 60.0) -> float:
        """Stepped mode: run ``seconds`` more of scenario time."""
        now = self.ctx.clock.now() if self.ctx is not None else 0.0
        return self.advance_to(now + seconds, timeout)

    def settle(self, timeout: float = 60.0) -> None:
        """Stepped mode: wait until the commands sent so far have been carried out."""
        loop = self.loop
        if isinstance(loop, VirtualTimeLoop) and loop.stepped and not self.done.is_set():
            loop.settle(timeout, gone=self.done.is_set)

    def finish(self, timeout: float = 120.0) -> None:
        """Stepped mode: let the scenario run freely to its end and wait for it."""
        loop = self.loop
        if isinstance(loop, VirtualTimeLoop) and loop.stepped:
            with contextlib.suppress(RuntimeError):
                loop.release()
        if not self.done.wait(timeout):
            raise TimeoutError(f"{self.scenario.id} did not finish within {timeout:g} s")

    # -- commands (thread-safe) ------------------------------------------------------------------
    def _call(self, fn: Callable[[], Any]) -> bool:
        loop = self.loop
        if loop is None or loop.is_closed() or self.done.is_set():
            return False
        try:
            loop.call_soon_threadsafe(fn)
        except RuntimeError:
            return False
        return True

    @property
    def ended(self) -> bool:
        return self.done.is_set() or self.status in ENDED

    @property
    def paused(self) -> bool:
        loop = self.loop
        return isinstance(loop, VirtualTimeLoop) and loop.paused

    def pause(self) -> bool:
        loop = self.loop
        if not isinstance(loop, VirtualTimeLoop) or self.ended:
            return False
        if loop.stepped:  # time moves only by steps anyway
            self.status = "paused"
            return True
        with contextlib.suppress(RuntimeError):
            loop.pause()
            self.status = "paused"
            return True
        return False

    def resume(self) -> bool:
        loop = self.loop
        if not isinstance(loop, VirtualTimeLoop) or self.ended:
            return False
        if loop.stepped:
            self.status = "running"
            return True
        with contextlib.suppress(RuntimeError):
            loop.resume()
            self.status = "running"
            return True
        return False

    def toggle_pause(self) -> str:
        if self.ended:
            return self._over() or "the scenario has ended"
        if not self._virtual:
            return "cannot pause: real backends run on wall time"
        if self.status == "paused":
            return "resumed" if self.resume() else "cannot resume"
        return "paused" if self.pause() else "cannot pause"

    def set_speed(self, speed: float) -> bool:
        loop = self.loop
        if not isinstance(loop, VirtualTimeLoop) or speed <= 0 or self.ended:
            return False
        if loop.stepped:  # stepped time has no pace: the speed is only remembered
            self.speed = speed
            return True
        try:
            loop.set_speed(speed)
        except RuntimeError:  # the loop closed as the run ended
            return False
        self.speed = speed
        return True

    def next_speed(self) -> float:
        """Cycle 1x -> 5x -> 20x -> 1x (mock only); returns the speed now in force."""
        i = SPEEDS.index(self.speed) if self.speed in SPEEDS else -1
        self.set_speed(SPEEDS[(i + 1) % len(SPEEDS)])
        return self.speed

    def _swarm(self) -> Swarm | None:
        ctx = self.ctx
        return ctx.swarms[0] if ctx is not None and ctx.swarms else None

    def _submit(self, coro_fn: Callable[[], Coroutine[Any, Any, Any]]) -> bool:
        def launch() -> None:
            swarm = self._swarm()
            if swarm is not None:
                swarm.spawn(coro_fn())

        return self._call(launch)

    def _over(self) -> str | None:
        if self.ended:
            return f"the scenario has ended ({self.status}): restart it with ctrl+r"
        return None

    def inject(self, agent_id: str, kind: str, **params: Any) -> str:
        """Inject a fault into an agent (by hand); returns a line for a notification."""
        ctx, swarm = self.ctx, self._swarm()
        over = self._over()
        if over:
            return over
        if ctx is None or swarm is None:
            return "nothing is running yet"
        agent = swarm.agents.get(agent_id)
        if agent is None:
            return f"no agent {agent_id}"
        if not agent.live and agent.state.value != "starting":
            return f"{agent_id} is {agent.state.value}: faults go to live agents"
        crashed = next((t for t, f, target in ctx.injected if target == agent_id and f.kind == "crash"), None)
        if crashed is not None:
            # A mock crash is silent: the agent still looks healthy until the detector notices.
            return f"{agent_id} was crashed at t={crashed:.1f}s: it is dead, waiting to be detected"
        settings = {**MANUAL_FAULTS.get(kind, {}), **params}
        duration = settings.pop("duration", None)
        fault = Fault(kind, target=agent_id, duration=duration, params=settings)
        self._submit(lambda: ctx.inject(fault, swarm))
        extra = f" for {duration:g} s" if duration else ""
        return f"{kind} injected into {agent_id}{extra}"

    def partition(self, seconds: float = 10.0) -> str:
        ctx, swarm = self.ctx, self._swarm()
        over = self._over()
        if over:
            return over
        if ctx is None or swarm is None:
            return "nothing is running yet"
        live = [a.id for a in swarm.live()]
        if len(live) < 2:
            return "a partition needs at least two live agents"
        half = math.ceil(len(live) / 2)
        groups = [live[:half], live[half:]]
        fault = Fault("partition", duration=seconds, params={"groups": groups})
        self._submit(lambda: ctx.inject(fault, swarm))
        return f"swarm partitioned {len(groups[0])}/{len(groups[1])} for {seconds:g} s"

    def _rollout(self, doing: str) -> tuple[RolloutControl | None, str]:
        """The run's rollout, or why there is none to ``doing``."""
        over = self._over()
        if over:
            return None, over
        rollout = self.ctx.controls.rollout if self.ctx is not None else None
        return rollout, "" if rollout is not None else f"this scenario has no rollout to {doing}"

    def promote(self) -> str:
        rollout, why = self._rollout("promote")
        if rollout is None:
            return why
        self._call(rollout.request_advance)
        return f"{rollout.kind}: promote requested (step {rollout.step} of {rollout.steps_total})"

    def rollback(self) -> str:
        rollout, why = self._rollout("roll back")
        if rollout is None:
            return why
        self._call(rollout.request_back)
        verb = "abort" if rollout.kind == "canary" else "rollback"
        return f"{rollout.kind}: {verb} requested"

    def scale(self, delta: int) -> str:
        over = self._over()
        if over:
            return over
        swarm = self._swarm()
        if swarm is None:
            return "nothing is running yet"
        scaler = self.ctx.controls.autoscaler if self.ctx is not None else None
        if scaler is not None:
            # The autoscaler would undo a change by hand at its next decision: say so, do nothing.
            return (
                f"the autoscaler sizes this swarm ({scaler.metric}, {scaler.min_replicas}..{scaler.max_replicas}"
                " agents): scaling by hand is off while it runs"
            )
        roles = [a.role for a in swarm.members() if a.role not in ("hub", "standby", "coordinator")]
        if not roles:
            return "no scalable agents"
        role = max(set(roles), key=lambda r: (roles.count(r), r))
        members = swarm.members(role=role)
        if delta > 0:
            spec = members[-1].spec
            self._submit(lambda: swarm.deploy(spec))
            return f"scaling up: one more {role} ({len(members) + 1})"
        live = [a for a in members if a.live]
        if len(live) <= 1:
            return f"cannot scale {role} below one agent"
        victim = live[-1]
        self._submit(lambda: swarm.remove(victim, reason="scaled down by hand"))
        return f"scaling down: draining {victim.id} ({len(members) - 1} {role})"

    # -- what the UI reads ----------------------------------------------------------------------------
    def events_since(self, seq: int) -> list[EventLine]:
        """Event lines newer than ``seq`` (thread-safe)."""
        with self._lock:
            return self.projection.lines_since(seq)

    def request_snapshot(self) -> None:
        """Ask the engine thread for a fresh snapshot; read it later from ``latest``."""
        self._call(self._build_snapshot)

    def snapshot_now(self, timeout: float = 10.0) -> Snapshot | None:
        """A fresh snapshot, waited for (tests: after a step, what the UI would see)."""
        built = threading.Event()

        def build() -> None:
            try:
                self._build_snapshot(force_rows=True)
            finally:
                built.set()

        if self._call(build):
            built.wait(timeout)
        return self.latest

    def _status(self) -> str:
        loop = self.loop
        status = self.status
        if status == "running" and isinstance(loop, VirtualTimeLoop) and loop.paused:
            status = "paused"
        return status

    def _build_snapshot(self, force_rows: bool = False) -> None:
        self._snap_seq += 1
        run = {
            "seq": self._snap_seq,
            "status": self._status(),
            "speed": self.speed,
            "scenario": self.scenario.id,
            "title": self.scenario.title,
            "pattern": self.scenario.pattern,
            "backend": self.backend_name,
            "run_id": self.run_id,
            "error": self.error,
        }
        last = self._last_look
        if last is not None:  # the run is over: its last look, with the final checks and status
            with self._lock:
                view = self.projection.view(last.t, rows=last.agents)
            self.latest = Snapshot.of(view, **{**run, "error": self.error or view.error})
            return
        ctx = self.ctx
        now = ctx.clock.now() if ctx is not None else 0.0
        wall = time.monotonic()
        paused = self.paused
        with self._lock:
            projection = self.projection
            if force_rows or paused or wall - self._rows_at >= ROWS_EVERY_S or not self._rows:
                self._rows = projection.rows(now)
                self._rows_at = wall
            view = projection.view(now, rows=self._rows)
        topology = view.topology
        swarm = self._swarm()
        if topology is not None and swarm is not None and len(topology.nodes) <= MESSAGES_UP_TO:
            horizon = 1.0 if self._virtual else 0.5
            messages = tuple(
                (src, dst, round(now - t, 3)) for t, src, dst in list(swarm.router.recent) if now - t <= horizon
            )
            topology = with_messages(topology, messages[-64:])
        self.latest = Snapshot.of(view, topology=topology, **run)
