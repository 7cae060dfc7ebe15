"""Auto-scaling: an HPA-style autoscaler on load, and on the volatility index.

The autoscaler adds agents (new sandboxes) and removes them (drained first: no new work, in-flight
work finishes, then the sandbox is killed). Load is an open loop of Poisson arrivals; the metric
is the arrival rate per agent over the last period, or the market's VIX.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from swarm_tui.engine.controllers.autoscaler import Autoscaler, hpa_formula
from swarm_tui.engine.controllers.routing import LeastLoaded
from swarm_tui.engine.dispatch import Dispatcher, Task
from swarm_tui.engine.market import VixPath
from swarm_tui.engine.scenario import (
    Check,
    Scenario,
    ScenarioContext,
    at_least,
    at_most,
    is_true,
    register,
)
from swarm_tui.engine.swarm import Swarm
from swarm_tui.patterns.common import WINDOW, agents_param, launch, open_loop


class ScaledPool:
    """The agents an autoscaler manages, and how it grows and shrinks them."""

    def __init__(self, ctx: ScenarioContext, swarm: Swarm, *, drain: bool = True) -> None:
        self.ctx = ctx
        self.swarm = swarm
        self.template = agents_param(ctx)[0]
        self.drain = drain
        self.sizes: list[tuple[float, int, int]] = []  # (time, members, live)

    def members(self) -> int:
        return len(self.swarm.members(role=self.template.role))

    def sample(self) -> None:
        self.sizes.append((self.ctx.clock.now(), self.members(), len(self.swarm.live(role=self.template.role))))

    async def scale_to(self, desired: int, direction: str) -> None:
        current = self.swarm.members(role=self.template.role)
        if desired > len(current):
            for _ in range(desired - len(current)):
                self.swarm.spawn(self.swarm.deploy(self.template), name="scale up")
        elif desired < len(current):
            # Newest first; each is drained before its sandbox is killed.
            for agent in list(reversed(current))[: len(current) - desired]:
                self.swarm.spawn(self.swarm.remove(agent, drain=self.drain, reason="scale down"), name="scale down")
        self.sample()


def arrival_rate(ctx: ScenarioContext, arrivals: list[float], window: float) -> float:
    now = ctx.clock.now()
    while arrivals and arrivals[0] < now - window:
        arrivals.pop(0)
    return len(arrivals) / window


async def _setup(
    ctx: ScenarioContext, scenario: Scenario, *, drain: bool = True
) -> tuple[Swarm, ScaledPool, Dispatcher]:
    prm = ctx.params
    swarm, _ = await launch(ctx)
    pool = ScaledPool(ctx, swarm, drain=drain)
    pool.sample()
    dispatcher = Dispatcher(
        swarm,
        LeastLoaded(),
        capacity=int(prm["capacity"]),
        timeout=float(prm["timeout_s"]),
        queue_timeout=float(prm["queue_timeout_s"]),
    )
    ctx.state.update(pool=pool, dispatcher=dispatcher)
    return swarm, pool, dispatcher


async def _sampler(ctx: ScenarioContext, pool: ScaledPool, dispatcher: Dispatcher, every: float) -> None:
    while True:
        pool.sample()
        dispatcher.sample_queue()
        await ctx.clock.sleep(every)


def _make_task(ctx: ScenarioContext, cost: float):
    return lambda i: Task(op="work", data={"prices": ctx.market.window("SPY", WINDOW)}, cost=cost)


def _autoscaler(
    ctx: ScenarioContext,
    swarm: Swarm,
    pool: ScaledPool,
    *,
    metric: str,
    read,
    target: float,
    window_s: float | None = None,
    min_replicas: int | None = None,
    inputs=None,
) -> Autoscaler:
    prm = ctx.params
    scaler = Autoscaler(
        ctx.clock,
        metric=metric,
        read_metric=read,
        current=pool.members,
        scale_to=pool.scale_to,
        target=target,
        min_replicas=int(min_replicas if min_replicas is not None else prm["min_replicas"]),
        max_replicas=int(prm["max_replicas"]),
        tolerance=float(prm["tolerance"]),
        period_s=float(prm["period_s"]),
        window_s=float(window_s if window_s is not None else prm["window_s"]),
        publish=swarm.publish,
        enabled=ctx.on("autoscaler"),
        inputs=inputs,
    )
    swarm.spawn(scaler.run(), name="autoscaler")
    ctx.state["autoscaler"] = scaler
    return scaler


def event_checks(scaler: Autoscaler) -> Check:
    """Every scaling event carries the metric, the target and a formula result that checks out."""
    good = 0
    for d in scaler.decisions:
        if d.metric and d.target > 0 and d.formula == hpa_formula(d.current, d.observed, d.target, scaler.tolerance):
            good += 1
    n = len(scaler.decisions)
    return is_true(
        "scaling events carry metric, target and formula result",
        n > 0 and good == n,
        "all events, at least one",
        f"{good} of {n}",
    )


COMMON = {
    "capacity": 2,
    "timeout_s": 5.0,
    "queue_timeout_s": 60.0,
    "min_replicas": 2,
    "max_replicas": 10,
    "tolerance": 0.1,
    "period_s": 1.0,
    "window_s": 10.0,
    "tick_s": 0.5,
}


@register
class ScaleUp(Scenario):
    id = "autoscaling.scale-up"
    pattern = "autoscaling"
    topology = "mesh"
    title = "Scale up"
    summary = "2 agents; load ramps from 10 to 100 tasks/s; the autoscaler grows the swarm to 10."
    defaults = {
        **COMMON,
        "agents": [{"kind": "momentum", "role": "worker", "symbol": "SPY", "count": 2}],
        "start_rate": 10.0,
        "peak_rate": 100.0,
        "ramp_s": 20.0,
        "hold_s": 20.0,
        "task_cost_s": 0.1,
        "target_per_agent": 10.0,
        "drain_budget_s": 10.0,
        "drained_queue": 5,
    }
    mechanism_help = {"autoscaler": "the HPA-style autoscaler adds agents under load"}

    async def run(self, ctx: ScenarioContext) -> None:
        prm = ctx.params
        swarm, pool, dispatcher = await _setup(ctx, self)
        arrivals: list[float] = []
        _autoscaler(
            ctx,
            swarm,
            pool,
            metric="tasks_per_s_per_agent",
            read=lambda: arrival_rate(ctx, arrivals, float(prm["period_s"])) / max(1, pool.members()),
            target=float(prm["target_per_agent"]),
        )
        swarm.spawn(_sampler(ctx, pool, dispatcher, 0.5), name="sampler")
        lo, hi, ramp = float(prm["start_rate"]), float(prm["peak_rate"]), float(prm["ramp_s"])
        rate = lambda t: lo + (hi - lo) * min(1.0, t / ramp) if ramp > 0 else hi  # noqa: E731
        spawned = await open_loop(
            ctx,
            dispatcher,
            rate,
            ramp + float(prm["hold_s"]),
            _make_task(ctx, float(prm["task_cost_s"])),
            on_arrival=arrivals.append,
        )
        await asyncio.gather(*spawned)
        pool.sample()

    def checks(self, ctx: ScenarioContext) -> list[Check]:
        prm = ctx.params
        pool: ScaledPool = ctx.state["pool"]
        d: Dispatcher = ctx.state["dispatcher"]
        top = int(prm["max_replicas"])
        peak_live = max(s[2] for s in pool.sizes)
        peak_members = max(s[1] for s in pool.sizes)
        reached = next((t for t, _m, live in pool.sizes if live >= top), None)
        drained_at = None
        if reached is not None:
            drained_at = next((t for t, q in d.queue_samples if t >= reached and q <= int(prm["drained_queue"])), None)
        drain_s = (drained_at - reached) if (reached is not None and drained_at is not None) else float("inf")
        lost = sum(1 for r in d.records if r.failed)
        ctx.observe(
            peak_agents=peak_live,
            max_queue=d.max_queue,
            backlog_drained_s=round(drain_s, 3) if math.isfinite(drain_s) else None,
        )
        return [
            at_least("agents at the peak", peak_live, top),
            at_most("agents ever deployed at once (max)", peak_members, top),
            event_checks(ctx.state["autoscaler"]),
            at_most(
                f"backlog drained to <= {prm['drained_queue']} after reaching the max (s)",
                drain_s,
                float(prm["drain_budget_s"]),
            ),
            Check("tasks lost", lost == 0, "== 0", lost),
        ]


@register
class ScaleDown(Scenario):
    id = "autoscaling.scale-down"
    pattern = "autoscaling"
    topology = "mesh"
    title = "Scale down"
    summary = "6 agents under low load scale down to 2, after the stabilization window, draining first."
    defaults = {
        **COMMON,
        "agents": [{"kind": "momentum", "role": "worker", "symbol": "SPY", "count": 6}],
        "rate": 8.0,
        "duration_s": 30.0,
        "task_cost_s": 0.5,
        "capacity": 4,
        "target_per_agent": 10.0,
        "max_direction_changes": 1,
    }
    mechanism_help = {
        "autoscaler": "the HPA-style autoscaler removes idle agents",
        "stabilization": "scale-down waits out the stabilization window (off: window of 0 s)",
        "drain": "removed agents finish their in-flight work before their sandbox is killed",
    }

    async def run(self, ctx: ScenarioContext) -> None:
        prm = ctx.params
        swarm, pool, dispatcher = await _setup(ctx, self, drain=ctx.on("drain"))
        dispatcher.retry = False  # a task killed with its agent is lost, not hidden by a retry
        arrivals: list[float] = []
        self_start = ctx.clock.now()
        ctx.state["start"] = self_start
        _autoscaler(
            ctx,
            swarm,
            pool,
            metric="tasks_per_s_per_agent",
            read=lambda: arrival_rate(ctx, arrivals, float(prm["period_s"])) / max(1, pool.members()),
            target=float(prm["target_per_agent"]),
            window_s=float(prm["window_s"]) if ctx.on("stabilization") else 0.0,
        )
        swarm.spawn(_sampler(ctx, pool, dispatcher, 0.5), name="sampler")
        spawned = await open_loop(
            ctx,
            dispatcher,
            lambda t: float(prm["rate"]),
            float(prm["duration_s"]),
            _make_task(ctx, float(prm["task_cost_s"])),
            on_arrival=arrivals.append,
        )
        await asyncio.gather(*spawned)
        await ctx.clock.sleep(2.0)
        pool.sample()
        ctx.state["inflight_killed"] = swarm.inflight_killed

    def checks(self, ctx: ScenarioContext) -> list[Check]:
        prm = ctx.params
        pool: ScaledPool = ctx.state["pool"]
        scaler: Autoscaler = ctx.state["autoscaler"]
        d: Dispatcher = ctx.state["dispatcher"]
        final = pool.sizes[-1][1]
        downs = [x.t for x in scaler.decisions if x.direction == "down"]
        first_down = (downs[0] - ctx.state["start"]) if downs else float("inf")
        lost = sum(1 for r in d.records if r.failed)
        killed = ctx.state["inflight_killed"]
        ctx.observe(first_scale_down_s=round(first_down, 3) if downs else None, inflight_killed=killed)
        return [
            is_true(
                "scaled down to the minimum", final == int(prm["min_replicas"]), f"{prm['min_replicas']} agents", final
            ),
            at_least("first scale-down after the stabilization window (s)", first_down, float(prm["window_s"])),
            at_most("changes of scaling direction", scaler.direction_changes(), int(prm["max_direction_changes"])),
            Check("in-flight tasks killed with a removed agent", killed == 0 and lost == 0, "== 0", killed + lost),
        ]


VIX_KEYFRAMES = [[0.0, 15.0], [4.0, 15.0], [8.0, 45.0], [15.0, 45.0], [18.0, 15.0]]


@register
class VixScaling(Scenario):
    id = "autoscaling.vix"
    pattern = "autoscaling"
    topology = "mesh"
    title = "VIX scaling"
    summary = "3 agents; the volatility index goes 15 -> 45 -> 15; the swarm grows with it and shrinks back."
    defaults = {
        **COMMON,
        "agents": [{"kind": "momentum", "role": "worker", "symbol": "SPY", "count": 3}],
        "vix_keyframes": VIX_KEYFRAMES,
        "vix_calm": 20.0,
        "vix_points_per_agent": 2.5,
        "vix_threshold": 30.0,
        "baseline": 3,
        "duration_s": 40.0,
        "rate": 5.0,
        "task_cost_s": 0.05,
        "tick_s": 0.25,
        "min_peak": 8,
        "start_within_periods": 2,
    }
    mechanism_help = {"autoscaler": "the autoscaler follows the VIX (a metric of the market, not of load)"}

    def vix_path(self) -> Any:
        return VixPath([(float(t), float(v)) for t, v in self.params["vix_keyframes"]])

    async def run(self, ctx: ScenarioContext) -> None:
        prm = ctx.params
        # The market ticks every tick_s; the scripted VIX path starts once the agents are up.
        ctx.market.tick_seconds = float(prm["tick_s"])
        swarm, pool, dispatcher = await _setup(ctx, self)
        ctx.market.vix_origin = ctx.market.count
        calm = float(prm["vix_calm"])

        def excess_per_agent() -> float:
            # Volatility above the calm level, shared out per agent (an HPA AverageValue metric).
            return max(0.0, ctx.market.last.vix - calm) / max(1, pool.members())

        _autoscaler(
            ctx,
            swarm,
            pool,
            metric="vix_excess_per_agent",
            read=excess_per_agent,
            target=float(prm["vix_points_per_agent"]),
            min_replicas=int(prm["baseline"]),
            inputs=lambda: {"vix": round(ctx.market.last.vix, 3), "vix_calm": calm},
        )
        swarm.spawn(_sampler(ctx, pool, dispatcher, 0.5), name="sampler")
        spawned = await open_loop(
            ctx,
            dispatcher,
            lambda t: float(prm["rate"]),
            float(prm["duration_s"]),
            _make_task(ctx, float(prm["task_cost_s"])),
        )
        await asyncio.gather(*spawned)
        pool.sample()

    def checks(self, ctx: ScenarioContext) -> list[Check]:
        prm = ctx.params
        pool: ScaledPool = ctx.state["pool"]
        scaler: Autoscaler = ctx.state["autoscaler"]
        threshold = float(prm["vix_threshold"])
        series = ctx.state.get("vix_series", [])
        crossed = next((t for t, v in series if v >= threshold), None)
        ups = [x.t for x in scaler.decisions if x.direction == "up"]
        limit = int(prm["start_within_periods"]) * float(prm["period_s"])
        if crossed is None:
            start_check = Check(
                f"scale-up within {prm['start_within_periods']} periods of VIX crossing {threshold:g}",
                False,
                f"<= {limit:g} s",
                "VIX never crossed",
            )
        else:
            delay = (ups[0] - crossed) if ups else float("inf")
            start_check = is_true(
                f"scale-up starts within {prm['start_within_periods']} periods of VIX crossing {threshold:g} (s)",
                -limit <= delay <= limit,
                f"-{limit:g}..{limit:g} s",
                round(delay, 4) if ups else "never",
            )
        peak = max(s[2] for s in pool.sizes)
        final = pool.sizes[-1][1]
        named = all("vix" in x.inputs and x.inputs["vix"] > 0 for x in scaler.decisions)
        ctx.observe(
            peak_agents=peak,
            vix_crossed_at=round(crossed, 3) if crossed is not None else None,
            vix_peak=max((v for _t, v in series), default=None),
        )
        return [
            start_check,
            at_least("peak agents", peak, int(prm["min_peak"])),
            is_true(
                "back to baseline after the window", final == int(prm["baseline"]), f"{prm['baseline']} agents", final
            ),
            is_true(
                "each scaling event names the VIX value behind it",
                bool(scaler.decisions) and named,
                "every event with its VIX",
                f"{len(scaler.decisions)} events",
            ),
        ]
