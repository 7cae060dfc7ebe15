"""Running a scenario: one fresh context, clock and backend; its result; no sandbox left behind.

:func:`run_scenario` is the async core (the dashboard runs it on its engine thread);
:func:`run_one` runs it on a loop of its own (virtual for mock, wall time otherwise) and
always leaves no sandbox behind, whatever ends the run. Running several scenarios, journals,
exports and signals belong to the run session (:mod:`swarm_tui.session`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from swarm_tui.engine.clock import Clock, new_loop, wall_now
from swarm_tui.engine.controllers.analysis import load_statistics
from swarm_tui.engine.events import Event, EventBus, Note, ScenarioFinished, ScenarioStarted
from swarm_tui.engine.judge import all_checks
from swarm_tui.engine.market import MarketDataError
from swarm_tui.engine.observer import RunObserver
from swarm_tui.engine.result import ScenarioResult
from swarm_tui.engine.sandbox import Backend, BackendError
from swarm_tui.engine.scenario import Scenario, ScenarioContext, ScenarioError

BackendFactory = Callable[[int], Backend]
Subscriber = Callable[[Event], None]
AnyScenario = Scenario[Any, Any]
AnyContext = ScenarioContext[Any, Any]


def new_run_id() -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


TEARDOWN_BUDGET_S = 20.0  # the longest a teardown may wait on the graceful part before it only kills


class Interrupt(Protocol):
    """A request to end a run early (the run session's signal handling implements it)."""

    @property
    def requested(self) -> bool: ...

    @property
    def reason(self) -> str: ...

    def watch(self, on_stop: Callable[[], None], on_hurry: Callable[[], None]) -> Callable[[], None]: ...


@dataclass
class ScenarioRun:
    """A scenario in progress: what the dashboard and the live display look at."""

    scenario: AnyScenario
    context: AnyContext | None = None
    result: ScenarioResult | None = None
    started_wall: float = 0.0


async def run_scenario(
    scenario: AnyScenario,
    backend: Backend,
    *,
    seed: int,
    run_id: str,
    subscribers: Iterable[Subscriber] = (),
    market_csv: str | None = None,
    on_context: Callable[[AnyContext], None] | None = None,
    before_shutdown: Callable[[AnyContext], None] | None = None,
    hurry: asyncio.Event | None = None,
    cancel_reason: Callable[[], str | None] | None = None,
) -> ScenarioResult:
    """Run one scenario on the running loop and return its result. Never leaves sandboxes.

    ``before_shutdown`` sees the swarm as the experiment left it, before its sandboxes are killed.
    Cancelled, it still tears down and records what it measured (status ``error``); it then
    returns that result if ``cancel_reason()`` names a reason (a shutdown of the whole run), and
    otherwise re-raises the cancellation (the dashboard restarting a run).
    """
    if backend.capabilities.real:
        load_statistics()  # now, not in the middle of the run, where wall time is the experiment's
    clock = Clock()
    bus = EventBus()
    ctx: AnyContext = ScenarioContext(
        scenario=scenario,
        clock=clock,
        bus=bus,
        backend=backend,
        seed=seed,
        run_id=run_id,
        state=scenario.new_state(),
        market_csv=market_csv,
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
            params=_jsonable(scenario.params.model_dump(exclude_none=True)),
            topology=scenario.topology,
        )
    )
    wall0 = wall_now()
    status, error = "error", None
    cancelled = False
    checks: list[dict[str, Any]] = []
    observer = asyncio.ensure_future(RunObserver(ctx).run())
    try:
        await backend.start()
        await asyncio.wait_for(scenario.run(ctx), scenario.time_limit_s())
        errors = [e for swarm in ctx.swarms for e in swarm.errors]
        if errors:
            raise errors[0]
        observer.cancel()
        ctx.final = True
        judged = all_checks(ctx)
        checks = [c.to_dict() for c in judged]
        status = "passed" if judged and all(c["passed"] for c in checks) else "failed"
    except (ScenarioError, BackendError, MarketDataError) as exc:
        error = str(exc)
    except TimeoutError:
        error = f"did not finish within {scenario.time_limit_s():g} s of scenario time"
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
        observer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await observer
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
        workload=scenario.workload(market_csv),
    )
    bus.publish(ScenarioFinished(t=end, scenario=scenario.id, status=status, result=result.to_dict()))
    if cancelled and (cancel_reason is None or cancel_reason() is None):
        raise asyncio.CancelledError
    return result


async def _teardown(ctx: AnyContext, backend: Backend, hurry: asyncio.Event | None) -> None:
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
    scenario: AnyScenario,
    backend: Backend,
    *,
    seed: int,
    run_id: str,
    subscribers: Iterable[Subscriber] = (),
    market_csv: str | None = None,
    on_context: Callable[[AnyContext], None] | None = None,
    shutdown: Interrupt | None = None,
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
