"""Auto-scaling: an HPA-style autoscaler on load, and on the volatility index.

The autoscaler adds agents (new sandboxes) and removes them (drained first: no new work, in-flight
work finishes, then the sandbox is killed). Load is an open loop of Poisson arrivals; the metric
is the arrival rate per agent over the last period, or the market's VIX.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from pydantic import model_validator

from swarm_tui.engine.agents import Agent, AgentState
from swarm_tui.engine.controllers.autoscaler import Autoscaler
from swarm_tui.engine.controllers.routing import LeastLoaded
from swarm_tui.engine.dispatch import Dispatcher, Task
from swarm_tui.engine.market import MarketSimulator, VixPath
from swarm_tui.engine.metrics import percentile
from swarm_tui.engine.params import AgentEntry, ScenarioParams, agents_default, param, threshold
from swarm_tui.engine.scenario import (
    Check,
    Scenario,
    ScenarioContext,
    at_least,
    at_most,
    is_true,
)
from swarm_tui.engine.swarm import Swarm
from swarm_tui.patterns.common import WINDOW, Ctx, DispatchState, agents_param, launch, need, open_loop


class ScaledPool:
    """The agents an autoscaler manages, and how it grows and shrinks them."""

    def __init__(self, ctx: Ctx, swarm: Swarm, *, drain: bool = True) -> None:
        self.ctx = ctx
        self.swarm = swarm
        self.template = agents_param(ctx)[0]
        self.drain = drain
        self.sizes: list[tuple[float, int, int]] = []  # (time, members, live)

    def current(self) -> list[Agent]:
        """The agents that count: starting or live. One being drained is on its way out (as a
        terminating pod is not a replica): counting it would remove it twice."""
        return [a for a in self.swarm.members(role=self.template.role) if a.state != AgentState.DRAINING]

    def members(self) -> int:
        return len(self.current())

    def sample(self) -> None:
        self.sizes.append((self.ctx.clock.now(), self.members(), len(self.swarm.live(role=self.template.role))))

    async def scale_to(self, desired: int, direction: str) -> None:
        current = self.current()
        if desired > len(current):
            for _ in range(desired - len(current)):
                self.swarm.spawn(self.swarm.deploy(self.template), name="scale up")
        elif desired < len(current):
            # Newest first; each is drained before its sandbox is killed.
            for agent in list(reversed(current))[: len(current) - desired]:
                self.swarm.spawn(self.swarm.remove(agent, drain=self.drain, reason="scale down"), name="scale down")
        self.sample()


def arrival_rate(ctx: Ctx, arrivals: list[float], window: float) -> float:
    """Arrivals per second over the last ``window`` seconds (``arrivals`` is in time order)."""
    now = ctx.clock.now()
    return (len(arrivals) - bisect.bisect_left(arrivals, now - window)) / window


@dataclass
class ScalingState(DispatchState):
    pool: ScaledPool | None = None
    autoscaler: Autoscaler | None = None
    start: float = 0.0
    inflight_killed: int | None = None
    arrivals: list[float] = field(default_factory=list)  # when each task arrived


class ScalingParams(ScenarioParams):
    """What the three autoscaling scenarios share: the pool, the tasks and the HPA's settings."""

    capacity: int = param(2, "tasks an agent works on at once", ge=1, le=1000)
    timeout_s: float = param(5.0, "a task's timeout (s)", gt=0.0, le=600.0)
    queue_timeout_s: float = param(60.0, "how long a task may wait for an agent (s)", gt=0.0, le=86400.0)
    min_replicas: int = param(2, "the autoscaler keeps at least this many agents", ge=1, le=10000)
    max_replicas: int = param(10, "and at most this many", ge=1, le=10000)
    tolerance: float = param(0.1, "no change within this ratio of the target", ge=0.0, le=10.0)
    period_s: float = param(1.0, "the autoscaler's sync period (s)", gt=0.0, le=3600.0)
    window_s: float = param(10.0, "scale-down stabilization window (s)", ge=0.0, le=86400.0)
    metric_window_s: float = param(3.0, "the load is averaged over this long (s)", gt=0.0, le=3600.0)
    tick_s: float = param(0.5, "market tick interval (s)", gt=0.0, le=60.0)

    @model_validator(mode="after")
    def _bounds_in_order(self) -> Self:
        # A minimum above the maximum is silently clamped by the autoscaler: refuse it instead.
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) is above max_replicas ({self.max_replicas})")
        return self


async def _setup(
    ctx: ScenarioContext[Any, ScalingState], *, drain: bool = True
) -> tuple[Swarm, ScaledPool, Dispatcher]:
    prm = ctx.params
    swarm, _ = await launch(ctx, tick_s=prm.tick_s)
    pool = ScaledPool(ctx, swarm, drain=drain)
    pool.sample()
    dispatcher = Dispatcher(
        swarm,
        LeastLoaded(),
        capacity=prm.capacity,
        timeout=prm.timeout_s,
        queue_timeout=prm.queue_timeout_s,
    )
    ctx.state.pool, ctx.state.dispatcher = pool, dispatcher
    return swarm, pool, dispatcher


async def _sampler(ctx: Ctx, pool: ScaledPool, dispatcher: Dispatcher, every: float) -> None:
    while True:
        pool.sample()
        dispatcher.sample_queue()
        await ctx.clock.sleep(every)


def _make_task(ctx: Ctx, cost: float) -> Callable[[int], Task]:
    return lambda i: Task(op="work", data={"prices": ctx.market.window("SPY", WINDOW)}, cost=cost)


def _autoscaler(
    ctx: ScenarioContext[Any, ScalingState],
    swarm: Swarm,
    pool: ScaledPool,
    *,
    metric: str,
    read: Callable[[], float],
    target: float,
    window_s: float | None = None,
    min_replicas: int | None = None,
    inputs: Callable[[], dict[str, float]] | None = None,
    down_pods: int | None = None,
) -> Autoscaler:
    prm = ctx.params
    scaler = Autoscaler(
        ctx.clock,
        metric=metric,
        read_metric=read,
        current=pool.members,
        scale_to=pool.scale_to,
        target=target,
        min_replicas=min_replicas if min_replicas is not None else prm.min_replicas,
        max_replicas=prm.max_replicas,
        tolerance=prm.tolerance,
        period_s=prm.period_s,
        window_s=window_s if window_s is not None else prm.window_s,
        publish=swarm.publish,
        enabled=ctx.on("autoscaler"),
        inputs=inputs,
        down_pods=down_pods,
    )
    swarm.spawn(scaler.run(), name="autoscaler")
    ctx.state.autoscaler = scaler
    ctx.controls.autoscaler = scaler
    return scaler


def event_checks(scaler: Autoscaler, arrivals: list[float], period_s: float) -> Check:
    """Every scaling event names its metric, target and formula result, and its metric is the load
    measured independently: the tasks that arrived in the period before it, per agent then."""
    good, worst = 0, 0.0
    for d in scaler.decisions:
        arrived = sum(1 for t in arrivals if d.t - period_s <= t <= d.t)
        measured = arrived / period_s / max(1, d.current)
        gap = abs(measured - d.observed)
        worst = max(worst, gap)
        if d.metric and d.target > 0 and d.formula >= 0 and gap <= max(0.5, 0.2 * measured):
            good += 1
    n = len(scaler.decisions)
    return is_true(
        "scaling events carry their metric, and it is the load measured apart from the autoscaler",
        n > 0 and good == n,
        "all events, at least one, within 20 %",
        f"{good} of {n} (largest gap {worst:.2f})",
        final_only=n == 0,
    )


class ScaleUpParams(ScalingParams):
    agents: list[AgentEntry] = agents_default({"kind": "momentum", "role": "worker", "symbol": "SPY", "count": 2})
    start_rate: float = param(10.0, "tasks per second at the start", ge=0.0, le=100000.0)
    peak_rate: float = param(100.0, "tasks per second at the peak", ge=0.0, le=100000.0)
    ramp_s: float = param(20.0, "time the load takes to reach the peak (s)", ge=0.0, le=86400.0)
    hold_s: float = param(20.0, "time the peak lasts (s)", ge=0.0, le=86400.0)
    task_cost_s: float = param(0.1, "work per task (s)", ge=0.0, le=600.0)
    target_per_agent: float = param(10.0, "tasks per second per agent the autoscaler aims at", gt=0.0)
    settle_s: float = threshold(5.0, "after the ramp, the swarm has this long to catch up (s)", ge=0.0)
    max_backlog: int = threshold(20, "tasks waiting for an agent, at most, once it has caught up", ge=0)
    max_p95_s: float = threshold(1.0, "p95 time from arrival to answer once it has caught up (s)", gt=0.0)


class ScaleUp(Scenario[ScaleUpParams, ScalingState]):
    id = "autoscaling.scale-up"
    pattern = "autoscaling"
    topology = "mesh"
    title = "Scale up"
    summary = "2 agents; load ramps from 10 to 100 tasks/s; the autoscaler grows the swarm to 10."
    Params = ScaleUpParams
    mechanism_help = {"autoscaler": "the HPA-style autoscaler adds agents under load"}

    def new_state(self) -> ScalingState:
        return ScalingState()

    async def run(self, ctx: ScenarioContext[ScaleUpParams, ScalingState]) -> None:
        prm = ctx.params
        swarm, pool, dispatcher = await _setup(ctx)
        arrivals = ctx.state.arrivals
        _autoscaler(
            ctx,
            swarm,
            pool,
            metric="tasks_per_s_per_agent",
            read=lambda: arrival_rate(ctx, arrivals, prm.metric_window_s) / max(1, pool.members()),
            target=prm.target_per_agent,
        )
        swarm.spawn(_sampler(ctx, pool, dispatcher, 0.5), name="sampler")
        lo, hi, ramp = prm.start_rate, prm.peak_rate, prm.ramp_s
        ctx.state.start = ctx.clock.now()

        def rate(t: float) -> float:
            return lo + (hi - lo) * min(1.0, t / ramp) if ramp > 0 else hi

        spawned = await open_loop(
            ctx, dispatcher, rate, ramp + prm.hold_s, _make_task(ctx, prm.task_cost_s), on_arrival=arrivals.append
        )
        await asyncio.gather(*spawned)
        pool.sample()

    def checks(self, ctx: ScenarioContext[ScaleUpParams, ScalingState]) -> list[Check]:
        prm = ctx.params
        pool = need(ctx.state.pool, "the pool")
        d = need(ctx.state.dispatcher, "the dispatcher")
        start = ctx.state.start
        caught_up = start + prm.ramp_s + prm.settle_s  # from here to the end of the load: the hold
        end = start + prm.ramp_s + prm.hold_s
        needed = min(prm.max_replicas, math.ceil(prm.peak_rate / prm.target_per_agent))
        peak_live = max(s[2] for s in pool.sizes)
        peak_members = max(s[1] for s in pool.sizes)
        held = [q for t, q in d.queue_samples if caught_up <= t <= end]
        backlog = max(held, default=0)
        waits = [
            (r.finished - r.submitted) for r in d.records if r.finished is not None and caught_up <= r.submitted <= end
        ]
        p95_s = percentile(waits, 95) if waits else float("nan")
        lost = sum(1 for r in d.records if r.failed)
        ctx.observe(
            peak_agents=peak_live,
            agents_needed=needed,
            max_queue=d.max_queue,
            backlog_in_hold=backlog,
            p95_in_hold_s=round(p95_s, 4) if waits else None,
        )
        hold_over = ctx.final or ctx.clock.now() >= end
        checks = [
            at_least(f"agents at the peak (the load needs {needed})", peak_live, needed, final_only=peak_live < needed),
            at_most("agents ever deployed at once (max)", peak_members, prm.max_replicas),
            event_checks(need(ctx.state.autoscaler, "the autoscaler"), ctx.state.arrivals, prm.metric_window_s),
            at_most(
                "largest backlog once caught up, through the hold (tasks)",
                backlog,
                prm.max_backlog,
                final_only=not held,
            ),
        ]
        name = "p95 arrival-to-answer once caught up, through the hold (s)"
        if waits:
            checks.append(at_most(name, p95_s, prm.max_p95_s, final_only=not hold_over))
        else:
            checks.append(ctx.not_yet(name, f"<= {prm.max_p95_s:g}", "not measured yet", "no task answered"))
        checks.append(Check("tasks lost", lost == 0, "== 0", lost))
        return checks


class ScaleDownParams(ScalingParams):
    agents: list[AgentEntry] = agents_default({"kind": "momentum", "role": "worker", "symbol": "SPY", "count": 6})
    # Busy agents (about one task in flight each), removed one a period: an agent removed
    # without draining takes its work with it.
    rate: float = param(12.0, "tasks per second", ge=0.0, le=100000.0)
    duration_s: float = param(30.0, "how long the load lasts (s)", gt=0.0, le=86400.0)
    task_cost_s: float = param(0.5, "work per task (s)", ge=0.0, le=600.0)
    capacity: int = param(4, "tasks an agent works on at once", ge=1, le=1000)
    down_per_period: int = param(1, "scale-down removes at most this many agents a period", ge=1, le=10000)
    target_per_agent: float = param(10.0, "tasks per second per agent the autoscaler aims at", gt=0.0)
    max_direction_changes: int = threshold(1, "changes of scaling direction allowed (flapping)", ge=0)
    max_p95_s: float = threshold(3.0, "p95 time from arrival to answer during the load (s)", gt=0.0)


class ScaleDown(Scenario[ScaleDownParams, ScalingState]):
    id = "autoscaling.scale-down"
    pattern = "autoscaling"
    topology = "mesh"
    title = "Scale down"
    summary = "6 agents under low load scale down to 2, after the stabilization window, draining first."
    Params = ScaleDownParams
    mechanism_help = {
        "autoscaler": "the HPA-style autoscaler removes idle agents",
        "stabilization": "scale-down waits out the stabilization window (off: window of 0 s)",
        "drain": "removed agents finish their in-flight work before their sandbox is killed",
    }

    def new_state(self) -> ScalingState:
        return ScalingState()

    async def run(self, ctx: ScenarioContext[ScaleDownParams, ScalingState]) -> None:
        prm = ctx.params
        swarm, pool, dispatcher = await _setup(ctx, drain=ctx.on("drain"))
        dispatcher.retry = False  # a task killed with its agent is lost, not hidden by a retry
        arrivals = ctx.state.arrivals
        ctx.state.start = ctx.clock.now()
        _autoscaler(
            ctx,
            swarm,
            pool,
            metric="tasks_per_s_per_agent",
            read=lambda: arrival_rate(ctx, arrivals, prm.metric_window_s) / max(1, pool.members()),
            target=prm.target_per_agent,
            window_s=prm.window_s if ctx.on("stabilization") else 0.0,
            down_pods=prm.down_per_period,
        )
        swarm.spawn(_sampler(ctx, pool, dispatcher, 0.5), name="sampler")
        spawned = await open_loop(
            ctx,
            dispatcher,
            lambda t: prm.rate,
            prm.duration_s,
            _make_task(ctx, prm.task_cost_s),
            on_arrival=arrivals.append,
        )
        await asyncio.gather(*spawned)
        await ctx.clock.sleep(2.0)
        pool.sample()
        ctx.state.inflight_killed = swarm.inflight_killed

    def checks(self, ctx: ScenarioContext[ScaleDownParams, ScalingState]) -> list[Check]:
        prm = ctx.params
        pool = need(ctx.state.pool, "the pool")
        scaler = need(ctx.state.autoscaler, "the autoscaler")
        d = need(ctx.state.dispatcher, "the dispatcher")
        load_end = ctx.state.start + prm.duration_s
        during = [m for t, m, _live in pool.sizes if t <= load_end]
        settled = during[-1] if during else pool.sizes[-1][1]
        needed = max(prm.min_replicas, math.ceil(prm.rate / prm.target_per_agent))
        waits = [r.finished - r.submitted for r in d.records if r.finished is not None]
        p95_s = percentile(waits, 95) if waits else float("nan")
        downs = [x.t for x in scaler.decisions if x.direction == "down"]
        lost = sum(1 for r in d.records if r.failed)
        killed = ctx.state.inflight_killed if ctx.state.inflight_killed is not None else ctx.swarm.inflight_killed
        ctx.observe(first_scale_down_s=round(downs[0] - ctx.state.start, 3) if downs else None, inflight_killed=killed)
        name = "first scale-down after the stabilization window (s)"
        if downs:
            window = at_least(name, downs[0] - ctx.state.start, prm.window_s)
        else:  # nothing scaled down: the window was not shown to hold anything back
            window = ctx.not_yet(name, f">= {prm.window_s:g}", "no scale-down yet", "no scale-down")
        return [
            is_true(
                "scaled down to what the load needs, before the load ends",
                settled == needed,
                f"{needed} agents",
                settled,
                final_only=True,
            ),
            window,
            at_most("changes of scaling direction", scaler.direction_changes(), prm.max_direction_changes),
            event_checks(scaler, ctx.state.arrivals, prm.metric_window_s),
            at_most("p95 arrival-to-answer during the load (s)", p95_s, prm.max_p95_s, final_only=not waits),
            Check("in-flight tasks killed with a removed agent", killed == 0 and lost == 0, "== 0", killed + lost),
        ]


VIX_KEYFRAMES = [[0.0, 15.0], [4.0, 15.0], [8.0, 45.0], [15.0, 45.0], [18.0, 15.0]]


class VixParams(ScalingParams):
    agents: list[AgentEntry] = agents_default({"kind": "momentum", "role": "worker", "symbol": "SPY", "count": 3})
    vix_keyframes: list[list[float]] = param(
        VIX_KEYFRAMES, "the scripted VIX: [time (s), value] points, interpolated", min_length=1, max_length=1000
    )
    vix_calm: float = param(20.0, "the VIX's calm level; the metric is the excess over it", ge=0.0)
    vix_points_per_agent: float = param(2.5, "VIX points above calm each agent absorbs (the target)", gt=0.0)
    baseline: int = param(3, "agents when the market is calm (the minimum)", ge=1, le=10000)
    duration_s: float = param(40.0, "how long the scenario runs (s)", gt=0.0, le=86400.0)
    rate: float = param(5.0, "tasks per second", ge=0.0, le=100000.0)
    task_cost_s: float = param(0.05, "work per task (s)", ge=0.0, le=600.0)
    tick_s: float = param(0.25, "market tick interval (s)", gt=0.0, le=60.0)
    vix_threshold: float = threshold(30.0, "scale-up must start once the VIX crosses this", ge=0.0)
    min_peak: int = threshold(8, "agents the swarm must reach at the peak", ge=0)
    start_within_periods: int = threshold(2, "scale-up must start within this many periods of the crossing", ge=0)

    @model_validator(mode="after")
    def _baseline_in_bounds(self) -> Self:
        # The baseline is the VIX autoscaler's minimum: above the maximum it would be clamped.
        if self.baseline > self.max_replicas:
            raise ValueError(f"baseline ({self.baseline}) is above max_replicas ({self.max_replicas})")
        return self


class VixScaling(Scenario[VixParams, ScalingState]):
    id = "autoscaling.vix"
    pattern = "autoscaling"
    topology = "mesh"
    title = "VIX scaling"
    summary = "3 agents; the volatility index goes 15 -> 45 -> 15; the swarm grows with it and shrinks back."
    Params = VixParams
    mechanism_help = {"autoscaler": "the autoscaler follows the VIX (a metric of the market, not of load)"}

    def new_state(self) -> ScalingState:
        return ScalingState()

    def vix_path(self) -> Any:
        return VixPath([(float(t), float(v)) for t, v in self.params.vix_keyframes])

    async def run(self, ctx: ScenarioContext[VixParams, ScalingState]) -> None:
        prm = ctx.params
        # The market ticks every tick_s; the scripted VIX path starts once the agents are up.
        # (Replayed market data brings its own VIX.)
        simulated = ctx.market if isinstance(ctx.market, MarketSimulator) else None
        if simulated is not None:
            simulated.tick_seconds = prm.tick_s
        swarm, pool, dispatcher = await _setup(ctx)
        if simulated is not None:
            simulated.vix_origin = simulated.count
        calm = prm.vix_calm

        def excess_per_agent() -> float:
            # Volatility above the calm level, shared out per agent (an HPA AverageValue metric).
            return max(0.0, ctx.market.last.vix - calm) / max(1, pool.members())

        _autoscaler(
            ctx,
            swarm,
            pool,
            metric="vix_excess_per_agent",
            read=excess_per_agent,
            target=prm.vix_points_per_agent,
            min_replicas=prm.baseline,
            inputs=lambda: {"vix": round(ctx.market.last.vix, 3), "vix_calm": calm},
        )
        swarm.spawn(_sampler(ctx, pool, dispatcher, 0.5), name="sampler")
        spawned = await open_loop(ctx, dispatcher, lambda t: prm.rate, prm.duration_s, _make_task(ctx, prm.task_cost_s))
        await asyncio.gather(*spawned)
        pool.sample()

    def checks(self, ctx: ScenarioContext[VixParams, ScalingState]) -> list[Check]:
        prm = ctx.params
        pool = need(ctx.state.pool, "the pool")
        scaler = need(ctx.state.autoscaler, "the autoscaler")
        threshold_ = prm.vix_threshold
        series = ctx.vix_series
        crossed = next((t for t, v in series if v >= threshold_), None)
        ups = [x.t for x in scaler.decisions if x.direction == "up"]
        limit = prm.start_within_periods * prm.period_s
        name = f"scale-up starts within {prm.start_within_periods} periods of VIX crossing {threshold_:g} (s)"
        if crossed is None:
            start_check = ctx.not_yet(name, f"<= {limit:g} s", "VIX has not crossed yet", "VIX never crossed")
        elif not ups:
            start_check = ctx.not_yet(name, f"-{limit:g}..{limit:g} s", "no scale-up yet", "never")
        else:
            delay = ups[0] - crossed
            start_check = is_true(name, -limit <= delay <= limit, f"-{limit:g}..{limit:g} s", round(delay, 4))
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
            at_least("peak agents", peak, prm.min_peak, final_only=peak < prm.min_peak),
            is_true(
                "back to baseline after the window",
                final == prm.baseline,
                f"{prm.baseline} agents",
                final,
                final_only=True,
            ),
            is_true(
                "each scaling event names the VIX value behind it",
                bool(scaler.decisions) and named,
                "every event with its VIX",
                f"{len(scaler.decisions)} events",
                final_only=not scaler.decisions,
            ),
        ]


SCENARIOS: tuple[type[Scenario[Any, Any]], ...] = (ScaleUp, ScaleDown, VixScaling)
