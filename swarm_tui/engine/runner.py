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
) -> ScenarioResult:
    """Run one scenario on the running loop and return its result. Never leaves sandboxes.

    ``before_shutdown`` sees the swarm as the experiment left it, before its sandboxes are killed.
    """
    clock = Clock()
    bus = EventBus()
    ctx = ScenarioContext(scenario=scenario, clock=clock, bus=bus, backend=backend, seed=seed,
                          run_id=run_id, market_csv=market_csv)
    bus.subscribe(ctx.metrics)
    for subscriber in subscribers:
        bus.subscribe(subscriber)
    if on_context is not None:
        on_context(ctx)
    bus.publish(ScenarioStarted(t=0.0, scenario=scenario.id, pattern=scenario.pattern, title=scenario.title,
                                seed=seed, backend=backend.name, params=_jsonable(scenario.params)))
    wall0 = wall_now()
    status, error = "error", None
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
    except Exception as exc:  # a bug in a scenario must not take the run down
        error = f"{type(exc).__name__}: {exc}"
        bus.publish(Note(t=clock.now(), scenario=scenario.id, text=error,
                         data={"traceback": traceback.format_exc(limit=8)}))
    finally:
        if before_shutdown is not None:
            with contextlib.suppress(Exception):
                before_shutdown(ctx)
        for swarm in ctx.swarms:
            await swarm.shutdown()
        with contextlib.suppress(BackendError):
            await backend.close()
    end = clock.now()
    metrics = ctx.metrics.summary(end)
    metrics.update(_jsonable(ctx.observed))
    metrics["sim_time_s"] = round(end, 4)
    result = ScenarioResult(id=scenario.id, pattern=scenario.pattern, status=status,
                            duration_s=wall_now() - wall0, checks=checks, metrics=metrics,
                            events=bus.count, title=scenario.title, error=error,
                            mechanisms=dict(scenario.mechanisms))
    bus.publish(ScenarioFinished(t=end, scenario=scenario.id, status=status, result=result.to_dict()))
    return result


def run_one(
    scenario: Scenario,
    backend: Backend,
    *,
    seed: int,
    run_id: str,
    subscribers: Iterable[Subscriber] = (),
    market_csv: str | None = None,
    on_context: Callable[[ScenarioContext], None] | None = None,
) -> ScenarioResult:
    """Run one scenario on a loop of its own (virtual time unless the backend is real)."""
    loop = new_loop(virtual=not backend.capabilities.real)
    task = loop.create_task(run_scenario(scenario, backend, seed=seed, run_id=run_id,
                                         subscribers=subscribers, market_csv=market_csv,
                                         on_context=on_context))
    try:
        return loop.run_until_complete(task)
    except BaseException:
        # Interrupted (Ctrl-C): cancel the scenario; its finally-block kills every sandbox.
        task.cancel()
        with contextlib.suppress(BaseException):
            loop.run_until_complete(task)
        raise
    finally:
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
    last: RunResult | None = None

    def run(self, scenarios: list[Scenario]) -> RunResult:
        from swarm_tui.results.comparison import build_comparison

        seed = self.seed if self.seed is not None else secrets.randbelow(2**31)
        result = RunResult(run_id=self.run_id, backend=self.backend_name, seed=seed,
                           started_at=utc_now())
        self.last = result
        try:
            for scenario in scenarios:
                if self.on_start:
                    self.on_start(scenario)
                backend = self.backend_factory(seed)
                outcome = run_one(scenario, backend, seed=seed, run_id=self.run_id,
                                  subscribers=self.subscribers, market_csv=self.market_csv,
                                  on_context=self.on_context)
                result.scenarios.append(outcome)
                if self.on_finish:
                    self.on_finish(outcome)
        except KeyboardInterrupt:
            result.interrupted = True
            raise
        finally:
            result.finished_at = utc_now()
            result.comparison, result.recommendations = build_comparison(result.scenarios)
        return result
