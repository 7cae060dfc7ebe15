"""Blue-green and canary rollouts.

Requests are split between pools (blue/green, stable/canary) by smooth weighted round robin, so a
step's measured share follows its target. Each attempt's outcome is recorded per pool; the
rollout controllers decide from those measurements (health gate, canary analysis). A request that
fails on the new version is retried on the safe pool.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any

from swarm_tui.engine.controllers.rollout import Analysis, BlueGreenRollout, CanaryRollout
from swarm_tui.engine.controllers.routing import LeastLoaded
from swarm_tui.engine.dispatch import Dispatcher, TaskRecord
from swarm_tui.engine.params import AgentEntry, ScenarioParams, agents_default, param, threshold
from swarm_tui.engine.scenario import (
    Check,
    Scenario,
    ScenarioContext,
    ScenarioError,
    at_most,
    is_true,
)
from swarm_tui.engine.swarm import Swarm
from swarm_tui.patterns.common import (
    Ctx,
    DispatchState,
    agents_param,
    launch,
    need,
    open_loop,
    signal_task,
)

Rollout = BlueGreenRollout | CanaryRollout


@dataclass
class RolloutRun(DispatchState):
    rollout: Rollout | None = None


async def _setup(ctx: Ctx, scenario: Scenario[Any, Any], pools: tuple[str, str]) -> Swarm:
    specs = agents_param(ctx)
    for pool in pools:
        if not any(s.pool == pool for s in specs):
            raise ScenarioError(f"{scenario.id}: needs agents in pool {pool!r}")
    swarm, _ = await launch(ctx, specs=specs, tick_s=ctx.params.tick_s)
    return swarm


def _dispatcher(ctx: ScenarioContext[Any, RolloutRun], swarm: Swarm, rollout: Rollout) -> Dispatcher:
    d = Dispatcher(
        swarm,
        LeastLoaded(),
        capacity=4,
        timeout=ctx.params.timeout_s,
        retries=3,
        retry_errors=True,
        choose_pool=rollout.choose_pool,
    )
    d.attempt_listeners.append(rollout.on_attempt)
    ctx.state.dispatcher, ctx.state.rollout = d, rollout
    ctx.controls.rollout = rollout
    return d


async def _remove_pool(swarm: Swarm, pool: str) -> None:
    await asyncio.gather(*(swarm.remove(a, reason=f"{pool} retired") for a in swarm.members(pool=pool)))


async def _drive(ctx: Ctx, swarm: Swarm, dispatcher: Dispatcher, rollout: Rollout) -> None:
    """Load until the rollout has decided, then a little longer, then wait for every request."""
    prm = ctx.params
    control = swarm.spawn(rollout.run(), name="rollout")
    spawned: list[asyncio.Task[TaskRecord]] = []

    async def load() -> None:
        while not control.done():
            spawned.extend(
                await open_loop(
                    ctx, dispatcher, lambda t: prm.rate, 1.0, lambda i: signal_task(ctx, "momentum", ["SPY"])
                )
            )
        spawned.extend(
            await open_loop(
                ctx, dispatcher, lambda t: prm.rate, prm.tail_s, lambda i: signal_task(ctx, "momentum", ["SPY"])
            )
        )

    await asyncio.wait_for(load(), prm.max_duration_s)
    await asyncio.gather(*spawned)
    await control


class RolloutParams(ScenarioParams):
    """What both rollout kinds share: the load and its timing."""

    rate: float = param(40.0, "requests per second", gt=0.0, le=100000.0)
    timeout_s: float = param(2.0, "a request's timeout (s)", gt=0.0, le=600.0)
    tick_s: float = param(0.5, "market tick interval (s)", gt=0.0, le=60.0)
    tail_s: float = param(2.0, "load kept up after the rollout decided (s)", ge=0.0, le=3600.0)
    max_duration_s: float = param(120.0, "the load stops after this long in any case (s)", gt=0.0, le=86400.0)


BLUE_GREEN_AGENTS = (
    {"kind": "momentum", "symbol": "SPY", "version": "v1", "pool": "blue", "name": "blue", "count": 3},
    {"kind": "momentum", "symbol": "SPY", "version": "v2", "pool": "green", "name": "green", "count": 3},
)


class BlueGreenParams(RolloutParams):
    agents: list[AgentEntry] = agents_default(*BLUE_GREEN_AGENTS)
    steps: list[float] = param([0.0, 25.0, 50.0, 75.0, 100.0], "green's share at each step (%)", min_length=1)
    requests_per_step: int = param(120, "requests measured at each step", ge=1, le=10000000)
    max_error_rate: float = param(0.10, "the health gate: green's highest tolerated error rate", ge=0.0, le=1.0)
    min_requests: int = param(20, "green requests the gate needs before it may judge", ge=1, le=1000000)
    eval_period_s: float = param(0.5, "how often the gate is evaluated (s)", gt=0.0, le=3600.0)
    warm_delay_s: float = param(5.0, "blue is kept warm this long after 100 % (s)", ge=0.0, le=86400.0)
    max_hold_s: float = param(30.0, "at 100 %, how long to keep measuring for a verdict (s)", ge=0.0, le=86400.0)


def _blue_green(
    ctx: ScenarioContext[BlueGreenParams, RolloutRun], swarm: Swarm, *, gradual: bool, rollback: bool
) -> BlueGreenRollout:
    prm = ctx.params
    return BlueGreenRollout(
        swarm,
        steps=tuple(prm.steps),
        requests_per_step=prm.requests_per_step,
        max_error_rate=prm.max_error_rate,
        min_requests=prm.min_requests,
        eval_period_s=prm.eval_period_s,
        warm_delay_s=prm.warm_delay_s,
        max_hold_s=prm.max_hold_s,
        rollback=rollback,
        gradual=gradual,
        remove_pool=lambda pool: _remove_pool(swarm, pool),
    )


class TrafficShiftParams(BlueGreenParams):
    max_share_deviation: float = threshold(
        5.0, "green's measured share may miss its target by this many points", ge=0.0, le=100.0
    )


class TrafficShift(Scenario[TrafficShiftParams, RolloutRun]):
    id = "blue-green.traffic-shift"
    pattern = "blue-green"
    topology = "mesh"
    title = "Traffic shift"
    summary = "Traffic moves blue v1 -> green v2 in steps of 25 %, with a health gate at each step."
    Params = TrafficShiftParams
    mechanism_help = {"gradual_shift": "traffic moves in steps (off: all at once)"}

    def new_state(self) -> RolloutRun:
        return RolloutRun()

    async def run(self, ctx: ScenarioContext[TrafficShiftParams, RolloutRun]) -> None:
        swarm = await _setup(ctx, self, ("blue", "green"))
        rollout = _blue_green(ctx, swarm, gradual=ctx.on("gradual_shift"), rollback=True)  # type: ignore[arg-type]
        await _drive(ctx, swarm, _dispatcher(ctx, swarm, rollout), rollout)
        ctx.observe(steps=rollout.steps_log)

    def checks(self, ctx: ScenarioContext[TrafficShiftParams, RolloutRun]) -> list[Check]:
        prm = ctx.params
        rollout = need(ctx.state.rollout, "the rollout")
        assert isinstance(rollout, BlueGreenRollout)
        log = rollout.steps_log
        deviation = max((abs(s["actual"] - s["target"]) for s in log), default=100.0)
        records = ctx.state.records
        failed = sum(1 for r in records if r.failed)
        if rollout.blue_removed_at is not None and rollout.completed_at is not None:
            ctx.observe(blue_removed_after_s=round(rollout.blue_removed_at - rollout.completed_at, 4))
        gate = rollout.gate.measurement("green error rate")
        steps = len(prm.steps)
        return [
            is_true(
                "every step completed",
                len(log) == steps and rollout.status == "complete",
                f"{steps} steps, complete",
                f"{len(log)} steps, {rollout.status}",
                final_only=True,
            ),
            at_most(
                "largest gap between green's measured and target share (points)",
                deviation,
                prm.max_share_deviation,
                final_only=not log,
            ),
            is_true(
                "green judged healthy by the gate (its error rate significantly below the limit)",
                rollout.gate.verdict == "accept",
                f"accepted: {gate['rule']}",
                f"{rollout.gate.verdict}: {gate['value']:.3f} [{gate['low']:.3f}, {gate['high']:.3f}] over {gate['n']}",
                final_only=rollout.gate.verdict == "continue",
            ),
            is_true(
                "blue kept serving until green had 100 %",
                rollout.blue_warm_ok,
                "every blue agent live at every step before 100 %",
                "yes" if rollout.blue_warm_ok else "a blue agent was gone",
            ),
            Check("failed requests", failed == 0, "== 0", failed),
        ]


class RollbackParams(BlueGreenParams):
    agents: list[AgentEntry] = agents_default(
        BLUE_GREEN_AGENTS[0], {**BLUE_GREEN_AGENTS[1], "defect": {"error_rate": 0.3}}
    )
    slo_success: float = param(0.99, "the success objective the error budget is measured against", gt=0.0, le=1.0)


class BlueGreenRollback(Scenario[RollbackParams, RolloutRun]):
    id = "blue-green.rollback"
    pattern = "blue-green"
    topology = "mesh"
    title = "Rollback"
    summary = "Green has a defect (30 % errors): the shift starts, errors are seen, traffic goes back to blue."
    Params = RollbackParams
    mechanism_help = {"rollback": "the health gate rolls back a failing green (off: the shift goes on)"}

    def new_state(self) -> RolloutRun:
        return RolloutRun()

    async def run(self, ctx: ScenarioContext[RollbackParams, RolloutRun]) -> None:
        swarm = await _setup(ctx, self, ("blue", "green"))
        rollout = _blue_green(ctx, swarm, gradual=True, rollback=ctx.on("rollback"))  # type: ignore[arg-type]
        await _drive(ctx, swarm, _dispatcher(ctx, swarm, rollout), rollout)
        green = rollout.total_stats.get("green")
        total = sum(s.requests for s in rollout.total_stats.values())
        budget = (1.0 - ctx.params.slo_success) * max(1, len(ctx.state.records))
        failed_attempts = sum(s.errors for s in rollout.total_stats.values())
        ctx.observe(
            steps=rollout.steps_log,
            rollback_at=rollout.rollback_at,
            green_requests=green.requests if green else 0,
            attempts=total,
            error_budget_spent=round(failed_attempts / budget, 4) if budget else None,
        )

    def checks(self, ctx: ScenarioContext[RollbackParams, RolloutRun]) -> list[Check]:
        prm = ctx.params
        rollout = need(ctx.state.rollout, "the rollout")
        assert isinstance(rollout, BlueGreenRollout)
        records = ctx.state.records
        lost = sum(1 for r in records if r.failed)
        name = "rolled back on a significant excess of green's errors over the limit"
        rule = rollout.gate.rule()
        if rollout.rollback_at is None:
            return [
                ctx.not_yet(name, rule, "not rolled back yet", "never rolled back"),
                Check("requests lost", lost == 0, "== 0", lost),
            ]
        gate: dict[str, Any] = next(iter(rollout.rollback_analysis.get("measurements", [])), {})
        cutoff = rollout.rollback_at + prm.eval_period_s
        green = rollout.total_stats.get("green")
        late_green = sum(1 for t in (green.starts if green else []) if t > cutoff)
        shown = (
            f"{gate.get('verdict')}: {gate.get('value', 0):.3f} [{gate.get('low', 0):.3f}, {gate.get('high', 0):.3f}] "
            f"over {gate.get('n', 0)} requests"
        )
        ctx.observe(green_requests_to_rollback=gate.get("n"))
        return [
            is_true(name, gate.get("verdict") == "reject" and gate.get("n", 0) >= prm.min_requests, rule, shown),
            Check("green requests started one evaluation after the rollback", late_green == 0, "== 0", late_green),
            Check(
                "green agents left",
                not ctx.swarm.members(pool="green"),
                "== 0",
                len(ctx.swarm.members(pool="green")),
                pending=not ctx.final and bool(ctx.swarm.members(pool="green")),
            ),
            Check("requests lost (failed green requests are retried on blue)", lost == 0, "== 0", lost),
        ]


CANARY_AGENTS = (
    {"kind": "momentum", "symbol": "SPY", "version": "v1", "pool": "stable", "name": "stable", "count": 5},
    {"kind": "momentum", "symbol": "SPY", "version": "v2", "pool": "canary", "name": "canary"},
)


class CanaryParams(RolloutParams):
    agents: list[AgentEntry] = agents_default(*CANARY_AGENTS)
    steps: list[float] = param([5.0, 25.0, 50.0, 100.0], "the canary's share at each step (%)", min_length=1)
    rate: float = param(50.0, "requests per second", gt=0.0, le=100000.0)
    min_samples: int = param(30, "canary requests a step needs before it is analysed", ge=1, le=10000000)
    min_step_s: float = param(2.0, "shortest step (s)", ge=0.0, le=86400.0)
    max_step_s: float = param(60.0, "longest step (s)", gt=0.0, le=86400.0)
    min_success_ratio: float = param(0.95, "analysis: canary success over stable success at least", ge=0.0, le=10.0)
    max_latency_ratio: float = param(1.5, "analysis: canary p95 over stable p95 at most", gt=0.0, le=1000.0)
    latency_floor_ms: float = param(5.0, "p95s below this count as this (transport noise)", ge=0.0, le=60000.0)
    max_hold_s: float = param(30.0, "at 100 %, how long to keep measuring for a verdict (s)", ge=0.0, le=86400.0)
    max_duration_s: float = param(150.0, "the load stops after this long in any case (s)", gt=0.0, le=86400.0)


def _canary(
    ctx: ScenarioContext[CanaryParams, RolloutRun], swarm: Swarm, *, abort: bool, analysis: bool, promotion: bool
) -> CanaryRollout:
    prm = ctx.params
    canary_spec = next(s for s in agents_param(ctx) if s.pool == "canary")

    async def promote() -> bool:
        if not promotion:
            return False
        # Replace every stable agent with the new version, one at a time (deploy, then drain the old).
        for old in list(swarm.members(pool="stable")):
            spec = dataclasses.replace(canary_spec, pool="stable", name="stable")
            new = await swarm.deploy(spec)
            if not new.live:
                raise ScenarioError(f"promotion: {new.id} failed to start")
            await swarm.remove(old, reason=f"replaced by {new.id} ({spec.version})")
        rollout.split.set({"stable": 100.0})
        await _remove_pool(swarm, "canary")
        return True

    rollout = CanaryRollout(
        swarm,
        steps=tuple(prm.steps),
        min_samples=prm.min_samples,
        min_step_s=prm.min_step_s,
        max_step_s=prm.max_step_s,
        min_success_ratio=prm.min_success_ratio,
        max_latency_ratio=prm.max_latency_ratio,
        latency_floor_ms=prm.latency_floor_ms,
        max_hold_s=prm.max_hold_s,
        seed=ctx.seed,
        abort=abort,
        analysis=analysis,
        promote=promote,
        remove_canary=lambda: _remove_pool(swarm, "canary"),
    )
    return rollout


class CanaryRolloutScenario(Scenario[CanaryParams, RolloutRun]):
    id = "canary.rollout"
    pattern = "canary"
    topology = "mesh"
    title = "Canary rollout"
    summary = "1 canary beside 5 stable agents: 5 -> 25 -> 50 -> 100 %, analysed at each step, then promoted."
    Params = CanaryParams
    mechanism_help = {
        "analysis": "each step is analysed against the stable pool (off: steps advance blind)",
        "promotion": "a healthy canary replaces every stable agent (off: the rollout stops at 100 % traffic)",
    }

    def new_state(self) -> RolloutRun:
        return RolloutRun()

    async def run(self, ctx: ScenarioContext[CanaryParams, RolloutRun]) -> None:
        swarm = await _setup(ctx, self, ("stable", "canary"))
        rollout = _canary(ctx, swarm, abort=True, analysis=ctx.on("analysis"), promotion=ctx.on("promotion"))
        await _drive(ctx, swarm, _dispatcher(ctx, swarm, rollout), rollout)
        ctx.observe(steps=rollout.steps_log)

    def checks(self, ctx: ScenarioContext[CanaryParams, RolloutRun]) -> list[Check]:
        prm = ctx.params
        rollout = need(ctx.state.rollout, "the rollout")
        log = rollout.steps_log
        analysed = sum(1 for s in log if s["analysis"].get("measurements"))
        specs = agents_param(ctx)
        new_version = next(s.version for s in specs if s.pool == "canary")
        stable = ctx.swarm.members(pool="stable")
        old = [a for a in stable if a.version != new_version]
        expected = sum(1 for s in specs if s.pool == "stable")
        steps = len(prm.steps)
        return [
            is_true(
                "analysis values recorded at every step",
                analysed == steps,
                f"{steps} steps",
                analysed,
                final_only=analysed < steps,
            ),
            is_true(
                "healthy canary promoted", rollout.status == "promoted", "promoted", rollout.status, final_only=True
            ),
            is_true(
                f"every stable agent runs {new_version}",
                not old and len(stable) == expected,
                f"{expected} agents on {new_version}",
                f"{len(stable) - len(old)} of {len(stable)} on {new_version}",
                final_only=True,
            ),
        ]


class CanaryAbortParams(CanaryParams):
    agents: list[AgentEntry] = agents_default(
        CANARY_AGENTS[0], {**CANARY_AGENTS[1], "defect": {"error_rate": 0.2, "latency_factor": 3.0}}
    )


class CanaryAbort(Scenario[CanaryAbortParams, RolloutRun]):
    id = "canary.abort"
    pattern = "canary"
    topology = "mesh"
    title = "Canary abort"
    summary = "The canary has a defect: analysis fails at the first step; the rollout aborts back to stable."
    Params = CanaryAbortParams
    mechanism_help = {"abort": "a failed analysis aborts the rollout (off: it goes on)"}

    def new_state(self) -> RolloutRun:
        return RolloutRun()

    async def run(self, ctx: ScenarioContext[CanaryAbortParams, RolloutRun]) -> None:
        swarm = await _setup(ctx, self, ("stable", "canary"))
        rollout = _canary(ctx, swarm, abort=ctx.on("abort"), analysis=True, promotion=True)  # type: ignore[arg-type]
        await _drive(ctx, swarm, _dispatcher(ctx, swarm, rollout), rollout)
        ctx.observe(steps=rollout.steps_log)

    def checks(self, ctx: ScenarioContext[CanaryAbortParams, RolloutRun]) -> list[Check]:
        rollout = need(ctx.state.rollout, "the rollout")
        assert isinstance(rollout, CanaryRollout)
        log = rollout.steps_log
        if not log:
            return [
                ctx.not_yet("analysis failed at the first step", "step 1 fails", "not analysed yet", "never analysed")
            ]
        first = log[0]
        first_failed = first.get("analysis", {}).get("passed") is False
        failing = rollout.failed_analysis.failing() if rollout.failed_analysis else []
        canary = rollout.total_stats.get("canary")
        late = 0
        if rollout.aborted_at is not None and canary is not None:
            late = sum(1 for t in canary.starts if t > rollout.aborted_at)
        return [
            is_true(
                "analysis failed at the first step", first_failed, "step 1 fails", "fails" if first_failed else "passes"
            ),
            is_true("rollout aborted automatically", rollout.status == "aborted", "aborted", rollout.status),
            Check(
                "canary requests after the abort",
                rollout.aborted_at is not None and late == 0,
                "== 0",
                late if rollout.aborted_at is not None else "never aborted",
            ),
            Check(
                "canary agents left",
                not ctx.swarm.members(pool="canary"),
                "== 0",
                len(ctx.swarm.members(pool="canary")),
                pending=not ctx.final and bool(ctx.swarm.members(pool="canary")),
            ),
            is_true(
                "failing measurement shown, with its interval",
                bool(failing) and all(m.get("low") is not None for m in failing),
                "the measurement, its interval and its threshold",
                "; ".join(Analysis.describe(m) for m in failing) or "none",
            ),
        ]


SCENARIOS: tuple[type[Scenario[Any, Any]], ...] = (TrafficShift, BlueGreenRollback, CanaryRolloutScenario, CanaryAbort)
