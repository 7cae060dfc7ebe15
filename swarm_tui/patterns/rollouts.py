"""Blue-green and canary rollouts.

Requests are split between pools (blue/green, stable/canary) by smooth weighted round robin, so a
step's measured share follows its target. Each attempt's outcome is recorded per pool; the
rollout controllers decide from those measurements (health gate, canary analysis). A request that
fails on the new version is retried on the safe pool.
"""

from __future__ import annotations

import asyncio

from swarm_tui.engine.agents import AgentSpec
from swarm_tui.engine.controllers.rollout import BlueGreenRollout, CanaryRollout
from swarm_tui.engine.controllers.routing import LeastLoaded
from swarm_tui.engine.dispatch import Dispatcher
from swarm_tui.engine.scenario import (
    Check,
    Scenario,
    ScenarioContext,
    ScenarioError,
    at_most,
    is_true,
    register,
)
from swarm_tui.engine.swarm import Swarm
from swarm_tui.patterns.common import (
    agents_param,
    launch,
    open_loop,
    signal_task,
)


async def _setup(ctx: ScenarioContext, scenario: Scenario, pools: tuple[str, str]) -> Swarm:
    specs = agents_param(ctx)
    for pool in pools:
        if not any(s.pool == pool for s in specs):
            raise ScenarioError(f"{scenario.id}: needs agents in pool {pool!r}")
    swarm, _ = await launch(ctx, specs=specs)
    return swarm


def _dispatcher(ctx: ScenarioContext, swarm: Swarm, rollout) -> Dispatcher:
    prm = ctx.params
    d = Dispatcher(
        swarm,
        LeastLoaded(),
        capacity=4,
        timeout=float(prm["timeout_s"]),
        retries=3,
        retry_errors=True,
        choose_pool=rollout.choose_pool,
    )
    d.attempt_listeners.append(rollout.on_attempt)
    ctx.state.update(dispatcher=d, rollout=rollout)
    return d


async def _remove_pool(swarm: Swarm, pool: str) -> None:
    await asyncio.gather(*(swarm.remove(a, reason=f"{pool} retired") for a in swarm.members(pool=pool)))


async def _drive(ctx: ScenarioContext, swarm: Swarm, dispatcher: Dispatcher, rollout) -> None:
    """Load until the rollout has decided, then a little longer, then wait for every request."""
    prm = ctx.params
    control = swarm.spawn(rollout.run(), name="rollout")
    spawned = []

    async def load() -> None:
        while not control.done():
            spawned.extend(
                await open_loop(
                    ctx, dispatcher, lambda t: float(prm["rate"]), 1.0, lambda i: signal_task(ctx, "momentum", ["SPY"])
                )
            )
        spawned.extend(
            await open_loop(
                ctx,
                dispatcher,
                lambda t: float(prm["rate"]),
                float(prm["tail_s"]),
                lambda i: signal_task(ctx, "momentum", ["SPY"]),
            )
        )

    await asyncio.wait_for(load(), float(prm["max_duration_s"]))
    await asyncio.gather(*spawned)
    await control


BLUE_GREEN = {
    "agents": [
        {"kind": "momentum", "symbol": "SPY", "version": "v1", "pool": "blue", "name": "blue", "count": 3},
        {"kind": "momentum", "symbol": "SPY", "version": "v2", "pool": "green", "name": "green", "count": 3},
    ],
    "steps": [0, 25, 50, 75, 100],
    "requests_per_step": 120,
    "rate": 40.0,
    "max_error_rate": 0.10,
    "min_requests": 5,
    "eval_period_s": 0.5,
    "warm_delay_s": 5.0,
    "timeout_s": 2.0,
    "tick_s": 0.5,
    "tail_s": 2.0,
    "max_duration_s": 120.0,
}


def _blue_green(ctx: ScenarioContext, swarm: Swarm, *, gradual: bool, rollback: bool) -> BlueGreenRollout:
    prm = ctx.params
    return BlueGreenRollout(
        swarm,
        steps=tuple(float(x) for x in prm["steps"]),
        requests_per_step=int(prm["requests_per_step"]),
        max_error_rate=float(prm["max_error_rate"]),
        min_requests=int(prm["min_requests"]),
        eval_period_s=float(prm["eval_period_s"]),
        warm_delay_s=float(prm["warm_delay_s"]),
        rollback=rollback,
        gradual=gradual,
        remove_pool=lambda pool: _remove_pool(swarm, pool),
    )


@register
class TrafficShift(Scenario):
    id = "blue-green.traffic-shift"
    pattern = "blue-green"
    topology = "mesh"
    title = "Traffic shift"
    summary = "Traffic moves blue v1 -> green v2 in steps of 25 %, with a health gate at each step."
    defaults = {**BLUE_GREEN, "max_share_deviation": 5.0}
    mechanism_help = {"gradual_shift": "traffic moves in steps (off: all at once)"}

    async def run(self, ctx: ScenarioContext) -> None:
        swarm = await _setup(ctx, self, ("blue", "green"))
        rollout = _blue_green(ctx, swarm, gradual=ctx.on("gradual_shift"), rollback=True)
        await _drive(ctx, swarm, _dispatcher(ctx, swarm, rollout), rollout)
        ctx.observe(steps=rollout.steps_log)

    def checks(self, ctx: ScenarioContext) -> list[Check]:
        prm = ctx.params
        rollout: BlueGreenRollout = ctx.state["rollout"]
        log = rollout.steps_log
        deviation = max((abs(s["actual"] - s["target"]) for s in log), default=100.0)
        fewest = min((s["requests"] for s in log), default=0)
        records = ctx.state["dispatcher"].records
        failed = sum(1 for r in records if r.failed)
        removed_after = (
            rollout.blue_removed_at - rollout.completed_at
            if rollout.blue_removed_at is not None and rollout.completed_at is not None
            else None
        )
        return [
            is_true(
                "every step completed",
                len(log) == len(prm["steps"]) and rollout.status == "complete",
                f"{len(prm['steps'])} steps, complete",
                f"{len(log)} steps, {rollout.status}",
            ),
            at_most(
                "largest gap between green's measured and target share (points)",
                deviation,
                float(prm["max_share_deviation"]),
            ),
            is_true("requests measured per step", fewest >= 100, ">= 100", fewest),
            is_true(
                "blue kept warm until 100 %, removed after the delay",
                rollout.blue_warm_ok
                and removed_after is not None
                and removed_after >= float(prm["warm_delay_s"]) - 1e-6
                and not ctx.swarm.members(pool="blue"),
                f"removed >= {prm['warm_delay_s']} s after 100 %",
                f"{removed_after:.2f} s" if removed_after is not None else "never removed",
            ),
            Check("failed requests", failed == 0, "== 0", failed),
        ]


@register
class BlueGreenRollback(Scenario):
    id = "blue-green.rollback"
    pattern = "blue-green"
    topology = "mesh"
    title = "Rollback"
    summary = "Green has a defect (30 % errors): the shift starts, errors are seen, traffic goes back to blue."
    defaults = {
        **BLUE_GREEN,
        "agents": [
            BLUE_GREEN["agents"][0],
            {**BLUE_GREEN["agents"][1], "defect": {"error_rate": 0.3}},
        ],
        "slo_success": 0.99,
    }
    mechanism_help = {"rollback": "the health gate rolls back a failing green (off: the shift goes on)"}

    async def run(self, ctx: ScenarioContext) -> None:
        swarm = await _setup(ctx, self, ("blue", "green"))
        rollout = _blue_green(ctx, swarm, gradual=True, rollback=ctx.on("rollback"))
        await _drive(ctx, swarm, _dispatcher(ctx, swarm, rollout), rollout)
        green = rollout.total_stats.get("green")
        total = sum(s.requests for s in rollout.total_stats.values())
        budget = (1.0 - float(ctx.params["slo_success"])) * max(1, len(ctx.state["dispatcher"].records))
        failed_attempts = sum(s.errors for s in rollout.total_stats.values())
        ctx.observe(
            steps=rollout.steps_log,
            rollback_at=rollout.rollback_at,
            green_requests=green.requests if green else 0,
            attempts=total,
            error_budget_spent=round(failed_attempts / budget, 4) if budget else None,
        )

    def checks(self, ctx: ScenarioContext) -> list[Check]:
        prm = ctx.params
        rollout: BlueGreenRollout = ctx.state["rollout"]
        records = ctx.state["dispatcher"].records
        lost = sum(1 for r in records if r.failed)
        gate = rollout.rollback_analysis
        if rollout.rollback_at is None:
            return [
                Check(
                    "rolled back when green's error rate passed the limit",
                    False,
                    f"> {prm['max_error_rate']} over >= {prm['min_requests']} requests",
                    "never rolled back",
                ),
                Check("requests lost", lost == 0, "== 0", lost),
            ]
        cutoff = rollout.rollback_at + float(prm["eval_period_s"])
        green = rollout.total_stats.get("green")
        late_green = sum(1 for t in (green.starts if green else []) if t > cutoff)
        return [
            is_true(
                "rolled back when green's error rate passed the limit",
                gate.get("green_error_rate", 0) > float(prm["max_error_rate"])
                and gate.get("green_requests", 0) >= int(prm["min_requests"]),
                f"> {prm['max_error_rate']} over >= {prm['min_requests']} requests",
                f"{gate.get('green_error_rate', 0):.2f} over {gate.get('green_requests', 0)}",
            ),
            Check("green requests started one evaluation after the rollback", late_green == 0, "== 0", late_green),
            Check(
                "green agents left", not ctx.swarm.members(pool="green"), "== 0", len(ctx.swarm.members(pool="green"))
            ),
            Check("requests lost (failed green requests are retried on blue)", lost == 0, "== 0", lost),
        ]


CANARY = {
    "agents": [
        {"kind": "momentum", "symbol": "SPY", "version": "v1", "pool": "stable", "name": "stable", "count": 5},
        {"kind": "momentum", "symbol": "SPY", "version": "v2", "pool": "canary", "name": "canary"},
    ],
    "steps": [5, 25, 50, 100],
    "rate": 50.0,
    "min_samples": 30,
    "min_step_s": 2.0,
    "max_step_s": 60.0,
    "min_success_ratio": 0.95,
    "max_latency_ratio": 1.5,
    "latency_floor_ms": 5.0,
    "timeout_s": 2.0,
    "tick_s": 0.5,
    "tail_s": 2.0,
    "max_duration_s": 150.0,
}


def _canary(ctx: ScenarioContext, swarm: Swarm, *, abort: bool, analysis: bool, promotion: bool) -> CanaryRollout:
    prm = ctx.params
    canary_spec = next(s for s in agents_param(ctx) if s.pool == "canary")

    async def promote() -> None:
        if not promotion:
            return
        # Replace every stable agent with the new version, one at a time (deploy, then drain the old).
        for old in list(swarm.members(pool="stable")):
            spec = AgentSpec(**{**canary_spec.__dict__, "pool": "stable", "name": "stable"})
            new = await swarm.deploy(spec)
            if not new.live:
                raise ScenarioError(f"promotion: {new.id} failed to start")
            await swarm.remove(old, reason=f"replaced by {new.id} ({spec.version})")
        rollout.split.set({"stable": 100.0})
        await _remove_pool(swarm, "canary")

    rollout = CanaryRollout(
        swarm,
        steps=tuple(float(x) for x in prm["steps"]),
        min_samples=int(prm["min_samples"]),
        min_step_s=float(prm["min_step_s"]),
        max_step_s=float(prm["max_step_s"]),
        min_success_ratio=float(prm["min_success_ratio"]),
        max_latency_ratio=float(prm["max_latency_ratio"]),
        latency_floor_ms=float(prm["latency_floor_ms"]),
        abort=abort,
        analysis=analysis,
        promote=promote,
        remove_canary=lambda: _remove_pool(swarm, "canary"),
    )
    return rollout


@register
class CanaryRolloutScenario(Scenario):
    id = "canary.rollout"
    pattern = "canary"
    topology = "mesh"
    title = "Canary rollout"
    summary = "1 canary beside 5 stable agents: 5 -> 25 -> 50 -> 100 %, analysed at each step, then promoted."
    defaults = dict(CANARY)
    mechanism_help = {
        "analysis": "each step is analysed against the stable pool (off: steps advance blind)",
        "promotion": "a healthy canary replaces every stable agent (off: the rollout stops at 100 % traffic)",
    }

    async def run(self, ctx: ScenarioContext) -> None:
        swarm = await _setup(ctx, self, ("stable", "canary"))
        rollout = _canary(ctx, swarm, abort=True, analysis=ctx.on("analysis"), promotion=ctx.on("promotion"))
        await _drive(ctx, swarm, _dispatcher(ctx, swarm, rollout), rollout)
        ctx.observe(steps=rollout.steps_log)

    def checks(self, ctx: ScenarioContext) -> list[Check]:
        prm = ctx.params
        rollout: CanaryRollout = ctx.state["rollout"]
        log = rollout.steps_log
        analysed = sum(1 for s in log if s["analysis"].get("measurements"))
        new_version = next(s.version for s in agents_param(ctx) if s.pool == "canary")
        stable = ctx.swarm.members(pool="stable")
        old = [a for a in stable if a.version != new_version]
        expected = sum(1 for s in agents_param(ctx) if s.pool == "stable")
        return [
            is_true(
                "analysis values recorded at every step",
                analysed == len(prm["steps"]),
                f"{len(prm['steps'])} steps",
                analysed,
            ),
            is_true("healthy canary promoted", rollout.status == "promoted", "promoted", rollout.status),
            is_true(
                f"every stable agent runs {new_version}",
                not old and len(stable) == expected,
                f"{expected} agents on {new_version}",
                f"{len(stable) - len(old)} of {len(stable)} on {new_version}",
            ),
        ]


@register
class CanaryAbort(Scenario):
    id = "canary.abort"
    pattern = "canary"
    topology = "mesh"
    title = "Canary abort"
    summary = "The canary has a defect: analysis fails at the first step; the rollout aborts back to stable."
    defaults = {
        **CANARY,
        "agents": [
            CANARY["agents"][0],
            {**CANARY["agents"][1], "defect": {"error_rate": 0.2, "latency_factor": 3.0}},
        ],
    }
    mechanism_help = {"abort": "a failed analysis aborts the rollout (off: it goes on)"}

    async def run(self, ctx: ScenarioContext) -> None:
        swarm = await _setup(ctx, self, ("stable", "canary"))
        rollout = _canary(ctx, swarm, abort=ctx.on("abort"), analysis=True, promotion=True)
        await _drive(ctx, swarm, _dispatcher(ctx, swarm, rollout), rollout)
        ctx.observe(steps=rollout.steps_log)

    def checks(self, ctx: ScenarioContext) -> list[Check]:
        rollout: CanaryRollout = ctx.state["rollout"]
        log = rollout.steps_log
        first = log[0] if log else {}
        first_failed = bool(first) and first.get("analysis", {}).get("passed") is False
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
            ),
            is_true(
                "failing measurement shown",
                bool(failing),
                "the measurement and its threshold",
                "; ".join(str(m) for m in failing) or "none",
            ),
        ]
