"""Running scenarios: one fresh context, clock and backend per scenario; results assembled.

:func:`run_scenario` is the async core (the dashboard runs it on its engine thread);
:func:`run_one` runs it on a loop of its own (virtual for mock, wall time otherwise) and
always leaves no sandbox behind, whatever ends the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
import signal
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from swarm_tui.backends.base import Backend, BackendError
from swarm_tui.engine.clock import Clock, new_loop, wall_now
from swarm_tui.engine.events import Event, EventBus, Note, ScenarioFinished, ScenarioStarted
from swarm_tui.engine.market import MarketDataError
from swarm_tui.engine.scenario import Scenario, ScenarioContext, ScenarioError
from swarm_tui.results.model import RunResult, ScenarioResult

BackendFactory = Callable[[int], Backend]
Subscriber = Callable[[Event], None]


def new_run_id() -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


SIGNAL_EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
TEARDOWN_BUDGET_S = 20.0  # the longest a teardown may wait on the graceful part before it only kills


class Shutdown:
    """A request to end a run early: the first signal stops it, a second one hurries the teardown.

    Stopping cancels the scenario that runs; its teardown still kills every sandbox. Hurrying
    skips the graceful part of the teardown (waiting for the swarm's background work) and goes
    straight to killing. Neither can interrupt the killing itself: only SIGKILL can, and for
    that agents exit on their own (local) or expire (E2B keep-alive).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.signum: int | None = None
        self.hurry = False
        self._on_stop: list[Callable[[], None]] = []
        self._on_hurry: list[Callable[[], None]] = []
        self._previous: dict[int, Any] = {}
        self.on_message: Callable[[str], None] | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return SIGNAL_EXIT_CODES.get(self.signum, 128 + (self.signum or 2)) if self.signum else 0

    @property
    def reason(self) -> str:
        name = signal.Signals(self.signum).name if self.signum else "request"
        return f"interrupted by {name}"

    def install(self) -> Shutdown:
        """Take over SIGINT, SIGTERM and SIGHUP (main thread only; elsewhere a no-op)."""
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                with contextlib.suppress(ValueError, OSError):
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, handler)
        self._previous.clear()

    def __enter__(self) -> Shutdown:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        # After a signal the process is on its way out and everything is written: ignore further
        # signals, so one arriving while the interpreter exits cannot replace the exit code.
        if not self.requested:
            self.restore()
            return
        for sig in self._previous:
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, signal.SIG_IGN)

    def _handle(self, signum: int, _frame: Any) -> None:
        self.request(signum)

    def request(self, signum: int = signal.SIGINT) -> None:
        if self.signum is None:
            self.signum = signum
            callbacks = self._on_stop
            message = f"{signal.Signals(signum).name}: stopping; killing every sandbox (again to hurry)"
        else:
            self.hurry = True
            callbacks = self._on_hurry
            message = "hurrying: skipping the graceful teardown, killing sandboxes now"
        if self.on_message is not None:
            with contextlib.suppress(Exception):
                self.on_message(message)
        for callback in list(callbacks):
            with contextlib.suppress(Exception):
                callback()

    def watch(self, on_stop: Callable[[], None], on_hurry: Callable[[], None]) -> Callable[[], None]:
        """Call ``on_stop`` on the first request and ``on_hurry`` on the next; returns an unwatch."""
        self._on_stop.append(on_stop)
        self._on_hurry.append(on_hurry)

        def unwatch() -> None:
            with contextlib.suppress(ValueError):
                self._on_stop.remove(on_stop)
                self._on_hurry.remove(on_hurry)

        return unwatch


@dataclass
class ScenarioRun:
    """A scenario in progress: what the dashboard and the live display look at."""

    scenario: Scenario
    context: ScenarioContext | None = None
    result: ScenarioResult | None = None
    started_wall: float = 0.0


async def run_scenario(
    scenario: Scenario,
    backend: Backend,
    *,
    seed: int,
    run_id: str,
    subscribers: Iterable[Subscriber] = (),
    market_csv: str | None = None,
    on_context: Callable[[ScenarioContext], None] | None = None,
    before_shutdown: Callable[[ScenarioContext], None] | None = None,
    hurry: asyncio.Event | None = None,
    cancel_reason: Callable[[], str | None] | None = None,
) -> ScenarioResult:
    """Run one scenario on the running loop and return its result. Never leaves sandboxes.

    ``before_shutdown`` sees the swarm as the experiment left it, before its sandboxes are killed.
    Cancelled, it still tears down and records what it measured (status ``error``); it then
    returns that result if ``cancel_reason()`` names a reason (a shutdown of the whole run), and
    otherwise re-raises the cancellation (the dashboard restarting a run).
    """
    clock = Clock()
    bus = EventBus()
    ctx = ScenarioContext(
        scenario=scenario, clock=clock, bus=bus, backend=backend, seed=seed, run_id=run_id, market_csv=market_csv
    )
    bus.subscribe(ctx.metrics)
    for subscriber in subscribers:
        bus.subscribe(subscriber)
    if on_context is not None:
        on_context(ctx)
    bus.publish(
        ScenarioStarted(
            t=0.0,
            scenario=scenario.id,
            pattern=scenario.pattern,
            title=scenario.title,
            seed=seed,
            backend=backend.name,
            params=_jsonable(scenario.params),
            topology=scenario.topology,
        )
    )
    wall0 = wall_now()
    status, error = "error", None
    cancelled = False
    checks: list[dict[str, Any]] = []
    try:
        await backend.start()
        await asyncio.wait_for(scenario.run(ctx), scenario.max_sim_s)
        errors = [e for swarm in ctx.swarms for e in swarm.errors]
        if errors:
            raise errors[0]
        judged = scenario.checks(ctx)
        checks = [c.to_dict() for c in judged]
        status = "passed" if judged and all(c.passed for c in judged) else "failed"
    except (ScenarioError, BackendError, MarketDataError) as exc:
        error = str(exc)
    except TimeoutError:
        error = f"did not finish within {scenario.max_sim_s:g} s of scenario time"
    except asyncio.CancelledError:
        cancelled = True
        reason = cancel_reason() if cancel_reason is not None else None
        error = f"{reason or 'stopped'} at t={clock.now():.2f} s; figures are what was measured until then"
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()
    except Exception as exc:  # a bug in a scenario must not take the run down
        error = f"{type(exc).__name__}: {exc}"
        bus.publish(
            Note(t=clock.now(), scenario=scenario.id, text=error, data={"traceback": traceback.format_exc(limit=8)})
        )
    finally:
        if before_shutdown is not None:
            with contextlib.suppress(Exception):
                before_shutdown(ctx)
        await _teardown(ctx, backend, hurry)
    end = clock.now()
    metrics = ctx.metrics.summary(end)
    metrics.update(_jsonable(ctx.observed))
    metrics["sim_time_s"] = round(end, 4)
    result = ScenarioResult(
        id=scenario.id,
        pattern=scenario.pattern,
        status=status,
        duration_s=wall_now() - wall0,
        checks=checks,
        metrics=metrics,
        events=bus.count,
        title=scenario.title,
        error=error,
        mechanisms=dict(scenario.mechanisms),
    )
    bus.publish(ScenarioFinished(t=end, scenario=scenario.id, status=status, result=result.to_dict()))
    if cancelled and (cancel_reason is None or cancel_reason() is None):
        raise asyncio.CancelledError
    return result


async def _teardown(ctx: ScenarioContext, backend: Backend, hurry: asyncio.Event | None) -> None:
    """Stop the swarms (their background work, then their sandboxes), then make sure the backend
    killed everything. A set ``hurry`` event skips waiting for the graceful part."""

    async def graceful() -> None:
        for swarm in ctx.swarms:
            await swarm.shutdown()

    waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(graceful())]
    if hurry is not None:
        waiters.append(asyncio.ensure_future(hurry.wait()))
    try:
        await asyncio.wait(waiters, timeout=TEARDOWN_BUDGET_S, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            if not waiter.done():
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await waiter
        # Idempotent: kills whatever the graceful part did not get to.
        with contextlib.suppress(BackendError, asyncio.TimeoutError, Exception):
            await asyncio.wait_for(backend.close(), TEARDOWN_BUDGET_S)


def run_one(
    scenario: Scenario,
    backend: Backend,
    *,
    seed: int,
    run_id: str,
    subscribers: Iterable[Subscriber] = (),
    market_csv: str | None = None,
    on_context: Callable[[ScenarioContext], None] | None = None,
    shutdown: Shutdown | None = None,
) -> ScenarioResult:
    """Run one scenario on a loop of its own (virtual time unless the backend is real).

    With a ``shutdown``, a signal cancels the scenario; the result it returns then records what
    was measured until then, with every sandbox killed.
    """
    loop = new_loop(virtual=not backend.capabilities.real)
    hurry = asyncio.Event()
    reason = (lambda: shutdown.reason if shutdown.requested else None) if shutdown else None
    task = loop.create_task(
        run_scenario(
            scenario,
            backend,
            seed=seed,
            run_id=run_id,
            subscribers=subscribers,
            market_csv=market_csv,
            on_context=on_context,
            hurry=hurry,
            cancel_reason=reason,
        )
    )

    def stop() -> None:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(task.cancel)

    def hurry_up() -> None:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(hurry.set)

    unwatch = shutdown.watch(stop, hurry_up) if shutdown else None
    if shutdown is not None and shutdown.requested:
        task.cancel()
    try:
        return loop.run_until_complete(task)
    except BaseException:
        # Interrupted without a Shutdown watching (a bare Ctrl-C): cancel the scenario and let
        # its teardown kill every sandbox before the interruption goes on.
        task.cancel()
        with contextlib.suppress(BaseException):
            loop.run_until_complete(task)
        raise
    finally:
        if unwatch is not None:
            unwatch()
        close_loop(loop)


def close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left on a loop, let it finish, and close the loop."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in pending:
        t.cancel()
    if pending:
        with contextlib.suppress(BaseException):
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    with contextlib.suppress(BaseException):
        loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


def _jsonable(value: Any) -> Any:
    """Plain JSON types only (tuples to lists, sets sorted, unknown objects as strings)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, float):
        return round(value, 6)
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


@dataclass
class Runner:
    """Runs a list of scenarios one after another and assembles the run's result."""

    backend_factory: BackendFactory
    backend_name: str
    seed: int | None = 0
    market_csv: str | None = None
    subscribers: list[Subscriber] = field(default_factory=list)
    on_start: Callable[[Scenario], None] | None = None
    on_finish: Callable[[ScenarioResult], None] | None = None
    on_context: Callable[[ScenarioContext], None] | None = None
    run_id: str = field(default_factory=new_run_id)
    shutdown: Shutdown | None = None
    last: RunResult | None = None

    def run(self, scenarios: list[Scenario]) -> RunResult:
        from swarm_tui.results.comparison import build_comparison

        seed = self.seed if self.seed is not None else secrets.randbelow(2**31)
        result = RunResult(run_id=self.run_id, backend=self.backend_name, seed=seed, started_at=utc_now())
        self.last = result
        try:
            for scenario in scenarios:
                if self.shutdown is not None and self.shutdown.requested:
                    result.interrupted = True
                    break
                if self.on_start:
                    self.on_start(scenario)
                backend = self.backend_factory(seed)
                outcome = run_one(
                    scenario,
                    backend,
                    seed=seed,
                    run_id=self.run_id,
                    subscribers=self.subscribers,
                    market_csv=self.market_csv,
                    on_context=self.on_context,
                    shutdown=self.shutdown,
                )
                result.scenarios.append(outcome)
                if self.on_finish:
                    self.on_finish(outcome)
                if self.shutdown is not None and self.shutdown.requested:
                    result.interrupted = True
                    break
        except KeyboardInterrupt:
            result.interrupted = True
            raise
        finally:
            result.finished_at = utc_now()
            result.comparison, result.recommendations = build_comparison(result.scenarios)
        return result
