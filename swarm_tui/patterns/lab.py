"""The lab: experiments beyond the catalogue, run by name (not part of ``--pattern all``).

``lab.large-swarm`` keeps a mesh of many agents busy (the dashboard's heatmap, and the load test
for its refresh); ``lab.soak`` runs 100 agents for an hour of scenario time to show that memory
stays flat and the results stay complete.
"""

from __future__ import annotations

import asyncio
import gc
import sys

from swarm_tui.engine.controllers.routing import LeastLoaded
from swarm_tui.engine.dispatch import Dispatcher, Task
from swarm_tui.engine.scenario import Check, Scenario, ScenarioContext, at_least, at_most, is_true, register
from swarm_tui.patterns.common import WINDOW, launch, open_loop


def _size(obj: object, seen: set[int]) -> int:
    """Deep size of an object graph in bytes (containers and their contents)."""
    stack = [obj]
    total = 0
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        total += sys.getsizeof(o, 0)
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, list | tuple | set | frozenset):
            stack.extend(o)
        elif hasattr(o, "__dict__"):
            stack.append(vars(o))
        elif hasattr(o, "__slots__"):
            stack.extend(getattr(o, s) for s in o.__slots__ if hasattr(o, s))
    return total


class _Steady(Scenario):
    """A mesh of ``size`` momentum agents under steady load, with the usual failover."""

    pattern = "lab"
    topology = "mesh"
    mechanism_help = {"failover": "failed agents are detected and replaced"}

    def _specs(self, ctx: ScenarioContext) -> list[dict]:
        symbols = ("SPY", "QQQ", "AAPL", "TSLA")
        return [{"kind": "momentum", "symbol": symbols[i % 4]} for i in range(int(ctx.params["size"]))]

    async def _start(self, ctx: ScenarioContext) -> Dispatcher:
        from swarm_tui.engine.scenario import expand_agents

        swarm, _ = await launch(ctx, specs=expand_agents(self._specs(ctx)), replace=ctx.on("failover"),
                                detect=ctx.on("failover"))
        dispatcher = Dispatcher(swarm, LeastLoaded(), capacity=4, timeout=float(ctx.params["timeout_s"]),
                                keep_records=False)
        ctx.state["dispatcher"] = dispatcher
        return dispatcher


@register
class LargeSwarm(_Steady):
    id = "lab.large-swarm"
    title = "Large swarm"
    summary = "Hundreds to thousands of agents under steady load; random crashes; the heatmap view."
    defaults = {
        "size": 500,
        "duration_s": 300.0,
        "rate_per_agent": 0.2,
        "timeout_s": 3.0,
        "tick_s": 1.0,
        "heartbeat_s": 2.0,
        "min_success_rate": 0.99,
    }
    default_faults = [{"kind": "crash", "target": "random", "at": float(t)} for t in (30, 90, 150, 210)]

    async def run(self, ctx: ScenarioContext) -> None:
        prm = ctx.params
        dispatcher = await self._start(ctx)
        rate = float(prm["rate_per_agent"]) * int(prm["size"])
        spawned = await open_loop(ctx, dispatcher, lambda t: rate, float(prm["duration_s"]),
                                  lambda i: Task(op="work", data={"prices": ctx.market.window("SPY", WINDOW)}))
        await asyncio.gather(*spawned)
        await ctx.clock.sleep(2 * float(prm["heartbeat_s"]) * 3)

    def checks(self, ctx: ScenarioContext) -> list[Check]:
        swarm = ctx.swarm
        crashed = [t for _, f, t in ctx.injected if f.kind == "crash"]
        replaced = sum(1 for a in swarm.agents.values() if a.replaces in crashed and a.live)
        summary = ctx.metrics.summary(ctx.clock.now())
        return [
            at_least("success rate", summary["success_rate"], float(ctx.params["min_success_rate"])),
            is_true("every crashed agent replaced", replaced == len(crashed), f"{len(crashed)}", replaced),
            is_true("the swarm is back to full size", len(swarm.live()) == int(ctx.params["size"]),
                    f"{ctx.params['size']} live", len(swarm.live())),
        ]


@register
class Soak(_Steady):
    id = "lab.soak"
    title = "Soak"
    summary = "100 agents for an hour of scenario time: memory flat, results complete."
    defaults = {
        "size": 100,
        "duration_s": 3600.0,
        "rate_per_agent": 0.2,
        "timeout_s": 3.0,
        "tick_s": 5.0,
        "heartbeat_s": 2.0,
        "sample_every_s": 60.0,
        "max_growth": 0.05,
        "min_success_rate": 0.999,
    }

    async def run(self, ctx: ScenarioContext) -> None:
        prm = ctx.params
        dispatcher = await self._start(ctx)
        samples: list[tuple[float, int]] = []
        ctx.state["memory"] = samples

        async def sample() -> None:
            while True:
                await ctx.clock.sleep(float(prm["sample_every_s"]))
                gc.collect()
                samples.append((ctx.clock.now(), _size([ctx.swarm, dispatcher, ctx.metrics], set())))

        ctx.swarm.spawn(sample(), name="memory sampler")
        rate = float(prm["rate_per_agent"]) * int(prm["size"])
        spawned = await open_loop(ctx, dispatcher, lambda t: rate, float(prm["duration_s"]),
                                  lambda i: Task(op="work", data={"prices": ctx.market.window("SPY", WINDOW)}))
        await asyncio.gather(*spawned)

    def checks(self, ctx: ScenarioContext) -> list[Check]:
        samples = ctx.state["memory"]
        window = 600.0
        if len(samples) < 4:
            return [Check("memory sampled through the run", False, ">= 4 samples", len(samples))]
        first = [b for t, b in samples if t <= samples[0][0] + window]
        last = [b for t, b in samples if t >= samples[-1][0] - window]
        growth = (sum(last) / len(last)) / (sum(first) / len(first)) - 1.0
        summary = ctx.metrics.summary(ctx.clock.now())
        expected = int(ctx.params["duration_s"] * ctx.params["rate_per_agent"] * ctx.params["size"])
        ctx.observe(engine_memory_first_10min_kb=round(sum(first) / len(first) / 1024, 1),
                    engine_memory_last_10min_kb=round(sum(last) / len(last) / 1024, 1))
        return [
            at_most("engine memory growth, first to last 10 minutes", round(growth, 4),
                    float(ctx.params["max_growth"])),
            at_least("success rate", summary["success_rate"], float(ctx.params["min_success_rate"])),
            is_true("results complete: every task accounted for", abs(summary["decisions"] - expected) < 0.1 * expected
                    and sum(summary["outcomes"].values()) == summary["decisions"] + sum(
                        v for k, v in summary["outcomes"].items() if k != "ok"),
                    f"about {expected} tasks", summary["decisions"]),
        ]
