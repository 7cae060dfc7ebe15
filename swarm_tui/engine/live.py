"""A scenario running live for the dashboard: on its own thread, commands in, snapshots out.

The engine runs on a background thread with its own loop: paced virtual time for mock (1x, 5x,
20x, pausable), wall time for real backends. The UI never touches engine objects: it asks for a
snapshot (an immutable picture of the swarm, built on the engine thread) at its own rate, reads
new event lines, and sends commands (pause, speed, inject a fault, partition, promote, roll back,
scale) that the engine thread carries out. Neither side ever blocks the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from swarm_tui.backends.base import Backend
from swarm_tui.engine.agents import AgentState
from swarm_tui.engine.clock import VirtualTimeLoop
from swarm_tui.engine.controllers.breaker import BreakerState
from swarm_tui.engine.events import Event, TaskFinished
from swarm_tui.engine.faults import Fault
from swarm_tui.engine.metrics import percentile
from swarm_tui.engine.runner import close_loop, new_run_id, run_scenario, utc_now
from swarm_tui.engine.scenario import Scenario, ScenarioContext
from swarm_tui.engine.swarm import Swarm
from swarm_tui.results.model import ScenarioResult

if TYPE_CHECKING:
    from swarm_tui.results.journal import JournalWriter

SPEEDS = (1.0, 5.0, 20.0)
SERIES = ("agents", "load", "target", "vix", "p95_ms", "error_rate", "pnl")
SERIES_LEN = 120
MESSAGES_UP_TO = 150  # above this many agents the dashboard draws a heatmap: no message dots
ROWS_EVERY_S = 0.25  # agent rows are rebuilt at most this often (wall time); tables refresh slower

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


@dataclass(frozen=True, slots=True)
class AgentRow:
    id: str
    role: str
    kind: str
    strategy: str
    version: str
    pool: str
    state: str
    sandbox: str
    last_heartbeat: float  # scenario time; the age is the snapshot's t minus this
    tasks: int
    errors: int
    p95_ms: float
    cpu_pct: float
    mem_mb: float
    pnl: float


@dataclass(frozen=True, slots=True)
class TopologyView:
    kind: str
    nodes: tuple[str, ...]
    roles: tuple[str, ...]
    states: tuple[str, ...]
    pools: tuple[str, ...]
    broken: frozenset[tuple[str, str]] = frozenset()
    groups: tuple[tuple[str, ...], ...] = ()
    messages: tuple[tuple[str, str, float], ...] = ()  # (src, dst, age in s)
    version: int = 0


@dataclass(frozen=True, slots=True)
class RolloutView:
    kind: str
    status: str
    step: int
    steps: int
    weights: dict[str, float]
    actual: dict[str, float]
    log: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class CheckRow:
    name: str
    expected: str
    observed: str
    passed: bool  # so far, while the run goes on (Snapshot.checks_final says when it is final)


@dataclass(frozen=True, slots=True)
class EventLine:
    seq: int
    t: float
    kind: str
    text: str


@dataclass(frozen=True)
class Snapshot:
    """An immutable picture of a live run."""

    seq: int
    t: float
    status: str  # starting | running | paused | done | error | stopped
    speed: float
    scenario: str
    title: str
    pattern: str
    backend: str
    run_id: str
    agents: tuple[AgentRow, ...] = ()
    topology: TopologyView | None = None
    series: dict[str, tuple[float, ...]] = field(default_factory=dict)
    rollout: RolloutView | None = None
    checks: tuple[CheckRow, ...] = ()
    checks_final: bool = False
    events_total: int = 0
    error: str | None = None
    autoscaler: dict[str, Any] | None = None


class LiveRun:
    """One scenario running on a background thread, driven by the dashboard."""

    def __init__(
        self,
        scenario: Scenario,
        backend_factory: Callable[[int], Backend],
        *,
        backend_name: str = "mock",
        seed: int = 0,
        speed: float = 1.0,
        pause_at: float | None = None,
        run_id: str | None = None,
        market_csv: str | None = None,
        event_limit: int = 5000,
        journal: JournalWriter | None = None,
    ) -> None:
        self.scenario = scenario
        self.backend_factory = backend_factory
        self.backend_name = backend_name
        self.seed = seed
        self.speed = speed
        self.pause_at = pause_at
        self.run_id = run_id or new_run_id()
        self.market_csv = market_csv
        self.journal = journal
        self._stop_requested = False
        self.status = "starting"
        self.result: ScenarioResult | None = None
        self.error: str | None = None
        self.latest: Snapshot | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ctx: ScenarioContext | None = None
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[Any] | None = None
        self._lock = threading.Lock()
        self._events: deque[EventLine] = deque(maxlen=event_limit)
        self._event_seq = 0
        self._snap_seq = 0
        self._series: dict[str, deque[float]] = {k: deque(maxlen=SERIES_LEN) for k in SERIES}
        self._recent: deque[tuple[float, float, bool]] = deque()  # (t, latency ms, ok) of finished tasks
        self._checks: tuple[CheckRow, ...] = ()
        self._checks_at = 0.0
        self._checks_t = -1e9
        self._rows: tuple[AgentRow, ...] = ()
        self._final_topology: TopologyView | None = None
        self._rows_at = -1e9
        self._rows_t = -1e9
        self._virtual = not backend_factory(seed).capabilities.real if backend_factory else True
        self.done = threading.Event()

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def virtual(self) -> bool:
        return self._virtual

    def start(self) -> LiveRun:
        self._thread = threading.Thread(target=self._thread_main, name=f"engine {self.scenario.id}", daemon=True)
        self._thread.start()
        return self

    def _thread_main(self) -> None:
        if self._virtual:
            loop: asyncio.AbstractEventLoop = VirtualTimeLoop(speed=None if self.pause_at is not None else self.speed)
        else:
            loop = asyncio.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)
        if self.pause_at is not None and isinstance(loop, VirtualTimeLoop):
            loop.call_at(self.pause_at, self._pause_here)
        try:
            self._task = loop.create_task(self._main())
            loop.run_until_complete(self._task)
        except BaseException as exc:
            self.error = self.error or f"{type(exc).__name__}: {exc}"
            self.status = "error"
        finally:
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
        self.status = "paused" if self.status == "paused" else "running"
        subscribers = [self._on_event] + ([self.journal] if self.journal is not None else [])
        try:
            self.result = await run_scenario(
                self.scenario,
                backend,
                seed=self.seed,
                run_id=self.run_id,
                subscribers=subscribers,
                market_csv=self.market_csv,
                on_context=self._on_context,
                before_shutdown=self._last_look,
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
            self._build_snapshot(final=True)
            if self.journal is not None:
                summary = {self.result.status: 1} if self.result is not None else {}
                self.journal.close({"finished_at": utc_now(), "summary": summary, "interrupted": self.result is None})

    def _last_look(self, ctx: ScenarioContext) -> None:
        """The swarm as the experiment left it: the final snapshot shows this, not the teardown."""
        swarm = ctx.swarms[0] if ctx.swarms else None
        if swarm is not None:
            now = ctx.clock.now()
            self._rows = self._agent_rows(ctx, swarm, now)
            self._rows_t = now
            self._final_topology = self._topology(ctx, swarm, now)

    def _on_context(self, ctx: ScenarioContext) -> None:
        self.ctx = ctx
        asyncio.get_running_loop().create_task(self._sampler(ctx))

    def stop(self, wait: float = 10.0) -> None:
        """End the run (its sandboxes are killed) and wait for the engine thread."""
        self._stop_requested = True
        loop = self.loop
        if loop is not None and not loop.is_closed() and self._task is not None:
            with contextlib.suppress(RuntimeError):
                if isinstance(loop, VirtualTimeLoop):
                    loop.resume()
                loop.call_soon_threadsafe(self._task.cancel)
        if self._thread is not None:
            self._thread.join(wait)

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
    def paused(self) -> bool:
        loop = self.loop
        return isinstance(loop, VirtualTimeLoop) and loop.paused

    def pause(self) -> bool:
        if not isinstance(self.loop, VirtualTimeLoop) or self.done.is_set():
            return False
        self.loop.pause()
        self.status = "paused"
        return True

    def resume(self) -> bool:
        if not isinstance(self.loop, VirtualTimeLoop) or self.done.is_set():
            return False
        self.loop.resume()
        self.status = "running"
        return True

    def toggle_pause(self) -> str:
        if self.status == "paused":
            return "resumed" if self.resume() else "cannot resume"
        return "paused" if self.pause() else "cannot pause (real backends run on wall time)"

    def set_speed(self, speed: float) -> bool:
        if not isinstance(self.loop, VirtualTimeLoop) or speed <= 0:
            return False
        self.speed = speed
        self.loop.set_speed(speed)
        return True

    def next_speed(self) -> float:
        """Cycle 1x -> 5x -> 20x -> 1x (mock only); returns the new speed."""
        i = SPEEDS.index(self.speed) if self.speed in SPEEDS else -1
        speed = SPEEDS[(i + 1) % len(SPEEDS)]
        self.set_speed(speed)
        return self.speed

    def _swarm(self) -> Swarm | None:
        ctx = self.ctx
        return ctx.swarms[0] if ctx is not None and ctx.swarms else None

    def _submit(self, coro_fn: Callable[[], Any]) -> bool:
        loop = self.loop
        if loop is None or loop.is_closed() or self.done.is_set():
            return False

        def launch() -> None:
            swarm = self._swarm()
            if swarm is not None:
                swarm.spawn(coro_fn())

        return self._call(launch)

    def _over(self) -> str | None:
        if self.done.is_set() or self.status in ("done", "error", "stopped"):
            return f"the scenario has ended ({self.status}): restart it with ctrl+r"
        return None

    def inject(self, agent_id: str, kind: str, **params: Any) -> str:
        """Inject a fault into an agent (by hand); returns a line for a notification."""
        ctx, swarm = self.ctx, self._swarm()
        if self._over():
            return self._over() or ""
        if ctx is None or swarm is None:
            return "nothing is running yet"
        if agent_id not in swarm.agents:
            return f"no agent {agent_id}"
        settings = {**MANUAL_FAULTS.get(kind, {}), **params}
        duration = settings.pop("duration", None)
        fault = Fault(kind, target=agent_id, duration=duration, params=settings)
        self._submit(lambda: ctx.inject(fault, swarm))
        extra = f" for {duration:g} s" if duration else ""
        return f"{kind} injected into {agent_id}{extra}"

    def partition(self, seconds: float = 10.0) -> str:
        ctx, swarm = self.ctx, self._swarm()
        if self._over():
            return self._over() or ""
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

    def _rollout(self) -> Any:
        return self.ctx.state.get("rollout") if self.ctx is not None else None

    def promote(self) -> str:
        if self._over():
            return self._over() or ""
        rollout = self._rollout()
        if rollout is None:
            return "this scenario has no rollout to promote"
        ok = [False]
        self._call(lambda: ok.__setitem__(0, rollout.request_advance()))
        return f"{rollout.kind}: promote requested (step {rollout.step} of {rollout.steps_total})"

    def rollback(self) -> str:
        if self._over():
            return self._over() or ""
        rollout = self._rollout()
        if rollout is None:
            return "this scenario has no rollout to roll back"
        self._call(rollout.request_back)
        verb = "abort" if rollout.kind == "canary" else "rollback"
        return f"{rollout.kind}: {verb} requested"

    def scale(self, delta: int) -> str:
        if self._over():
            return self._over() or ""
        swarm = self._swarm()
        if swarm is None:
            return "nothing is running yet"
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

    # -- events and series (engine thread) ----------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if isinstance(event, TaskFinished):
            self._recent.append((event.t, event.latency_ms, event.ok))
            if event.ok and event.outcome == "ok":
                return  # routine: counted in the charts, not a line in the log
        with self._lock:
            self._event_seq += 1
            self._events.append(EventLine(self._event_seq, event.t, event.kind, event.describe()))

    def events_since(self, seq: int) -> list[EventLine]:
        """Event lines newer than ``seq`` (thread-safe)."""
        with self._lock:
            if not self._events or self._events[-1].seq <= seq:
                return []
            return [e for e in self._events if e.seq > seq]

    async def _refresh_metrics(self, swarm: Swarm) -> None:
        """CPU and memory of every live sandbox, for the agents table."""
        backend = swarm.backend
        quick = getattr(backend, "metrics_now", None)
        agents = [a for a in list(swarm.agents.values()) if a.sandbox is not None and a.live]
        if quick is not None:
            for a in agents:
                m = quick(a.sandbox)
                a.cpu_pct, a.mem_mb = m.cpu_pct, m.mem_mb
            return
        results = await asyncio.gather(*(backend.metrics(a.sandbox) for a in agents), return_exceptions=True)
        for a, m in zip(agents, results, strict=True):
            if not isinstance(m, BaseException):
                a.cpu_pct, a.mem_mb = m.cpu_pct, m.mem_mb

    async def _sampler(self, ctx: ScenarioContext) -> None:
        while True:
            await ctx.clock.sleep(1.0)
            now = ctx.clock.now()
            if ctx.swarms:
                await self._refresh_metrics(ctx.swarms[0])
            while self._recent and self._recent[0][0] < now - 1.0:
                self._recent.popleft()
            recent = list(self._recent)
            swarm = ctx.swarms[0] if ctx.swarms else None
            members = len(swarm.members()) if swarm else 0
            scaler = ctx.state.get("autoscaler")
            target = scaler.target * members if scaler is not None and scaler.metric.startswith("tasks") else 0.0
            market = ctx.market
            vix = market.last.vix if market.history else 0.0
            marks = market.last.prices if market.history else {}
            pnl = sum(b.pnl(marks) for tr in ctx.state.get("traders", []) for b in tr.broker.books.values())
            values = {
                "agents": float(members),
                "load": float(len(recent)),
                "target": float(target),
                "vix": float(vix),
                "p95_ms": percentile([ms for _t, ms, ok in recent if ok], 95) if recent else 0.0,
                "error_rate": (sum(1 for *_x, ok in recent if not ok) / len(recent)) if recent else 0.0,
                "pnl": float(pnl),
            }
            for key, value in values.items():
                self._series[key].append(0.0 if not math.isfinite(value) else value)

    # -- snapshots -----------------------------------------------------------------------------------
    def request_snapshot(self) -> None:
        """Ask the engine thread for a fresh snapshot; read it later from ``latest``."""
        self._call(self._build_snapshot)

    def _build_snapshot(self, final: bool = False) -> None:
        ctx = self.ctx
        self._snap_seq += 1
        loop = self.loop
        status = self.status
        if status == "running" and isinstance(loop, VirtualTimeLoop) and loop.paused:
            status = "paused"
        base = dict(
            seq=self._snap_seq,
            status=status,
            speed=self.speed,
            scenario=self.scenario.id,
            title=self.scenario.title,
            pattern=self.scenario.pattern,
            backend=self.backend_name,
            run_id=self.run_id,
            error=self.error,
            events_total=self._event_seq,
        )
        if ctx is None:
            self.latest = Snapshot(t=0.0, **base)
            return
        now = ctx.clock.now()
        swarm = ctx.swarms[0] if ctx.swarms else None
        agents: tuple[AgentRow, ...] = ()
        topology = None
        if swarm is not None:
            wall = time.monotonic()
            paused = isinstance(loop, VirtualTimeLoop) and loop.paused
            moved = now != self._rows_t and (
                paused or wall - self._rows_at >= ROWS_EVERY_S or now - self._rows_t >= 0.5
            )
            if self._final_topology is not None:
                agents, topology = self._rows, self._final_topology  # the run is over: its last look
            else:
                if final or moved or not self._rows:
                    self._rows = self._agent_rows(ctx, swarm, now)
                    self._rows_at, self._rows_t = wall, now
                agents = self._rows
                topology = self._topology(ctx, swarm, now)
        self.latest = Snapshot(
            t=now,
            agents=agents,
            topology=topology,
            series={k: tuple(v) for k, v in self._series.items()},
            rollout=self._rollout_view(ctx),
            checks=self._check_rows(ctx, final),
            checks_final=final and self.result is not None,
            autoscaler=self._autoscaler_view(ctx),
            **base,
        )

    def _agent_rows(self, ctx: ScenarioContext, swarm: Swarm, now: float) -> tuple[AgentRow, ...]:
        traders = ctx.state.get("traders", [])
        marks = ctx.market.last.prices if ctx.market.history else {}
        pnl: dict[str, float] = {}
        for trader in traders:
            for name, book in trader.by_agent.books.items():
                pnl[name] = pnl.get(name, 0.0) + book.pnl(marks)
        rows = []
        for a in list(swarm.agents.values()):
            if a.state == AgentState.STOPPED and (a.stopped_at is None or now - a.stopped_at > 10.0):
                continue
            rows.append(
                AgentRow(
                    id=a.id,
                    role=a.role,
                    kind=a.kind,
                    strategy=a.spec.resolved_strategy,
                    version=a.version,
                    pool=a.pool,
                    state=a.state.value,
                    sandbox=a.sandbox.id if a.sandbox else "",
                    last_heartbeat=a.last_heartbeat,
                    tasks=a.tasks,
                    errors=a.errors,
                    p95_ms=round(a.p95_ms(), 1),
                    cpu_pct=a.cpu_pct,
                    mem_mb=a.mem_mb,
                    pnl=round(pnl.get(a.id, 0.0), 2),
                )
            )
        return tuple(rows)

    def _topology(self, ctx: ScenarioContext, swarm: Swarm, now: float) -> TopologyView:
        topo = swarm.topology
        nodes = tuple(topo.nodes)
        agents = swarm.agents
        states = tuple(agents[n].state.value if n in agents else "stopped" for n in nodes)
        pools = tuple(agents[n].pool if n in agents else "stable" for n in nodes)
        roles = tuple(topo.roles.get(n, "agent") for n in nodes)
        router = swarm.router
        groups = ()
        if router.groups:
            by: dict[int, list[str]] = {}
            for node, g in router.groups.items():
                by.setdefault(g, []).append(node)
            groups = tuple(tuple(v) for _k, v in sorted(by.items()))
        broken: set[tuple[str, str]] = set()
        breaker = ctx.state.get("breaker")
        if breaker is not None and breaker.state != BreakerState.CLOSED and "->" in breaker.name:
            a, b = breaker.name.split("->", 1)
            broken.add((a, b))
        horizon = 1.0 if ctx.clock.virtual else 0.5
        messages: tuple[tuple[str, str, float], ...] = ()
        if len(nodes) <= MESSAGES_UP_TO:
            messages = tuple((s, d, round(now - t, 3)) for t, s, d in list(router.recent) if now - t <= horizon)
        return TopologyView(
            kind=topo.kind,
            nodes=nodes,
            roles=roles,
            states=states,
            pools=pools,
            broken=frozenset(broken),
            groups=groups,
            messages=messages[-64:],
            version=topo.version,
        )

    def _rollout_view(self, ctx: ScenarioContext) -> RolloutView | None:
        rollout = ctx.state.get("rollout")
        if rollout is None:
            return None
        total = sum(s.requests for s in rollout.step_stats.values())
        actual = {k: round(100.0 * s.requests / total, 1) for k, s in rollout.step_stats.items()} if total else {}
        return RolloutView(
            kind=rollout.kind,
            status=rollout.status,
            step=rollout.step,
            steps=rollout.steps_total,
            weights=rollout.weights(),
            actual=actual,
            log=tuple(dict(x) for x in rollout.steps_log),
        )

    def _autoscaler_view(self, ctx: ScenarioContext) -> dict[str, Any] | None:
        scaler = ctx.state.get("autoscaler")
        if scaler is None:
            return None
        last = scaler.decisions[-1] if scaler.decisions else None
        return {
            "metric": scaler.metric,
            "target": scaler.target,
            "min": scaler.min_replicas,
            "max": scaler.max_replicas,
            "last": last.describe() if last else "",
        }

    def _check_rows(self, ctx: ScenarioContext, final: bool) -> tuple[CheckRow, ...]:
        if final and self.result is not None:
            self._checks = tuple(
                CheckRow(c["name"], c["expected"], str(c["observed"]), bool(c["passed"])) for c in self.result.checks
            )
            return self._checks
        # Re-judge after a second of scenario time (so a paused run shows its paused state),
        # but not more than a few times a second of wall time at high speed.
        wall, now = time.monotonic(), ctx.clock.now()
        loop = self.loop
        paused = isinstance(loop, VirtualTimeLoop) and loop.paused
        if now == self._checks_t or (not paused and now - self._checks_t < 1.0 and wall - self._checks_at < 1.0):
            return self._checks
        self._checks_at, self._checks_t = wall, now
        try:
            checks = self.scenario.checks(ctx)
        except Exception:
            return self._checks
        self._checks = tuple(CheckRow(c.name, c.expected, str(c.to_dict()["observed"]), bool(c.passed)) for c in checks)
        return self._checks
