"""Chaos: resource faults inside one agent of a working swarm.

A memory leak ends with the sandbox killed at its memory limit and the agent replaced; a CPU spike
makes one agent slow, which the latency health check marks degraded so work shifts to its peers
until it recovers.
"""

from __future__ import annotations

from collections import Counter

from swarm_tui.engine.controllers.health import LatencyHealth
from swarm_tui.engine.controllers.routing import LeastLoaded, RoundRobin
from swarm_tui.engine.dispatch import Dispatcher, Task
from swarm_tui.engine.metrics import percentile
from swarm_tui.engine.scenario import Check, Scenario, ScenarioContext, at_least, at_most, is_true, register
from swarm_tui.engine.swarm import Swarm
from swarm_tui.patterns.common import (
    WINDOW,
    launch,
    open_loop,
    paced,
    signal_task,
)
from swarm_tui.patterns.mesh import crash_recovery_checks


async def _memory_sampler(ctx: ScenarioContext, swarm: Swarm, every: float) -> None:
    """Poll every sandbox's memory; keep each agent's highest reading."""
    peak: dict[str, float] = ctx.state.setdefault("mem_peak", {})
    while True:
        for agent in list(swarm.agents.values()):
            if agent.sandbox is not None and agent.live:
                m = await swarm.backend.metrics(agent.sandbox)
                agent.cpu_pct, agent.mem_mb = m.cpu_pct, m.mem_mb
                peak[agent.id] = max(peak.get(agent.id, 0.0), m.mem_mb)
        await ctx.clock.sleep(every)


@register
class MemoryLeak(Scenario):
    id = "chaos.memory-leak"
    pattern = "chaos"
    topology = "mesh"
    title = "Memory leak"
    summary = "One agent leaks memory until its sandbox is killed at the limit; it is replaced, nothing lost."
    defaults = {
        "agents": [{"kind": "momentum", "symbol": s} for s in ("SPY", "QQQ", "AAPL", "TSLA")],
        "duration_s": 40.0,
        "interval_s": 0.2,
        "timeout_s": 2.0,
        "tick_s": 0.5,
        "memory_limit_mb": 512.0,
        "sample_s": 0.5,
    }
    default_faults = [{"kind": "memory-leak", "target": "#3", "at": 10.0, "rate_mb_s": 40.0, "limit_mb": 512.0}]
    mechanism_help = {"failover": "the killed agent is detected and replaced"}

    async def run(self, ctx: ScenarioContext) -> None:
        prm = ctx.params
        swarm, _ = await launch(ctx, replace=ctx.on("failover"), detect=ctx.on("failover"), faults=False)
        swarm.spawn(_memory_sampler(ctx, swarm, float(prm["sample_s"])), name="memory sampler")
        ctx.schedule_faults(self.faults())
        dispatcher = Dispatcher(swarm, RoundRobin(), capacity=4, timeout=float(prm["timeout_s"]))
        ctx.state["dispatcher"] = dispatcher
        count = int(float(prm["duration_s"]) / float(prm["interval_s"]))
        await paced(ctx, dispatcher, count, float(prm["interval_s"]), lambda i: signal_task(ctx, "momentum", ["SPY"]))
        await ctx.clock.sleep(1.0)

    def checks(self, ctx: ScenarioContext) -> list[Check]:
        injected = ctx.injection("memory-leak")
        checks: list[Check] = []
        if injected is not None:
            _t, target = injected
            fault = next(f for _, f, _ in ctx.injected if f.kind == "memory-leak")
            limit = float(fault.params.get("limit_mb", ctx.params["memory_limit_mb"]))
            agent = ctx.swarm.agents[target]
            peak = ctx.state.get("mem_peak", {}).get(target, 0.0)
            died_of_oom = agent.failed_at is not None
            ctx.observe(leaking_agent=target, peak_memory_mb=round(peak, 1), memory_limit_mb=limit)
            checks.append(
                is_true(
                    "leaking agent killed at its memory limit",
                    died_of_oom and peak >= 0.9 * limit,
                    f"killed, memory reached >= 90 % of {limit:g} MB",
                    f"{'killed' if died_of_oom else 'alive'} at {peak:.0f} MB",
                )
            )
        return checks + crash_recovery_checks(ctx, "memory-leak", None, outage_from_failure=True)


@register
class CpuSpike(Scenario):
    id = "chaos.cpu-spike"
    pattern = "chaos"
    topology = "mesh"
    title = "CPU spike"
    summary = "One agent burns CPU: its latency rises, it is marked degraded, work shifts away, then it recovers."
    defaults = {
        "agents": [{"kind": "momentum", "symbol": "SPY", "count": 4}],
        "duration_s": 40.0,
        "rate": 40.0,
        "task_cost_s": 0.02,
        "timeout_s": 3.0,
        "tick_s": 0.5,
        "latency_rise": 2.0,
        "share_drop": 0.5,
        "degraded_within_s": 3.0,
        "recovered_within_s": 8.0,
        "probe_interval_s": 0.5,
    }
    default_faults = [{"kind": "cpu-spike", "target": "#2", "at": 10.0, "duration": 10.0, "factor": 8.0}]
    mechanism_help = {
        "health": "slow agents are marked degraded and get only probes until they recover",
        "least_loaded": "work goes to the least-loaded agent (off: round robin)",
    }

    async def run(self, ctx: ScenarioContext) -> None:
        prm = ctx.params
        swarm, _ = await launch(ctx, faults=False)
        health = LatencyHealth(swarm, enabled=ctx.on("health"))
        swarm.spawn(health.run(), name="latency health")
        ctx.schedule_faults(self.faults())
        dispatcher = Dispatcher(
            swarm,
            LeastLoaded() if ctx.on("least_loaded") else RoundRobin(),
            capacity=4,
            timeout=float(prm["timeout_s"]),
            probe_interval_s=float(prm["probe_interval_s"]),
        )
        attempts: list[tuple[float, str, float]] = []  # (start, agent, latency ms)
        dispatcher.attempt_listeners.append(lambda a, ok, ms, t: attempts.append((t, a.id, ms)))
        ctx.state.update(dispatcher=dispatcher, health=health, attempts=attempts)
        spawned = await open_loop(
            ctx,
            dispatcher,
            lambda t: float(prm["rate"]),
            float(prm["duration_s"]),
            lambda i: Task(
                op="work", data={"prices": ctx.market.window("SPY", WINDOW)}, cost=float(prm["task_cost_s"]), cpu=True
            ),
        )
        for task in spawned:
            await task

    def checks(self, ctx: ScenarioContext) -> list[Check]:
        prm = ctx.params
        injected = ctx.injection("cpu-spike")
        if injected is None:
            return [Check("cpu-spike injected", False, "a fault", "none")]
        t0, target = injected
        fault = next(f for _, f, _ in ctx.injected if f.kind == "cpu-spike")
        t1 = t0 + (fault.duration or 0.0)
        attempts = ctx.state["attempts"]
        before = [(a, ms) for t, a, ms in attempts if t < t0]
        during = [(a, ms) for t, a, ms in attempts if t0 <= t < t1]
        p95_before = percentile([ms for a, ms in before if a == target], 95) if before else 0.0
        slow_during = [ms for a, ms in during if a == target]
        p95_during = percentile(slow_during, 95) if slow_during else 0.0
        share_before = Counter(a for a, _ in before)[target] / len(before) if before else 0.0
        share_during = Counter(a for a, _ in during)[target] / len(during) if during else 0.0
        marks = ctx.state["health"].marked
        degraded_at = next((t for t, a, s in marks if a == target and s == "degraded" and t >= t0), None)
        healthy_at = next((t for t, a, s in marks if a == target and s == "healthy" and t >= t1), None)
        rise = p95_during / p95_before if p95_before else 0.0
        ctx.observe(
            slow_agent=target,
            p95_before_ms=round(p95_before, 3),
            p95_during_ms=round(p95_during, 3),
            share_before=round(share_before, 4),
            share_during=round(share_during, 4),
        )
        return [
            at_least("slow agent's p95 latency during the spike over before (x)", rise, float(prm["latency_rise"])),
            at_most(
                "slow agent's share of work during the spike over before (x)",
                share_during / share_before if share_before else 1.0,
                float(prm["share_drop"]),
            ),
            is_true(
                "marked degraded during the spike",
                degraded_at is not None and degraded_at - t0 <= float(prm["degraded_within_s"]),
                f"within {prm['degraded_within_s']} s",
                f"after {degraded_at - t0:.2f} s" if degraded_at is not None else "never",
            ),
            is_true(
                "healthy again after the spike",
                healthy_at is not None and healthy_at - t1 <= float(prm["recovered_within_s"]),
                f"within {prm['recovered_within_s']} s",
                f"after {healthy_at - t1:.2f} s" if healthy_at is not None else "never",
            ),
        ]
