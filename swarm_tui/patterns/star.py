"""Star: a hub in the middle, specialists (spokes) around it.

Every task goes engine -> hub -> spoke through the router: the hub really relays (a dead hub
stops the traffic). The failover scenario runs a primary and a standby hub under a
heartbeat-renewed lease; a brief network delay on the primary first tests that the standby does
not take over too early, then the primary crashes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from swarm_tui.engine.agents import Agent
from swarm_tui.engine.controllers.lease import LeaseElection, NaiveElection
from swarm_tui.engine.controllers.routing import LeastLoaded, RandomChoice, RoundRobin
from swarm_tui.engine.dispatch import Dispatcher, Sender, Task
from swarm_tui.engine.params import AgentEntry, ScenarioParams, agents_default, param, threshold
from swarm_tui.engine.scenario import (
    Check,
    Scenario,
    ScenarioContext,
    ScenarioError,
    at_most,
    is_true,
)
from swarm_tui.engine.swarm import RequestFailed, Swarm
from swarm_tui.patterns.common import (
    WINDOW,
    Ctx,
    DispatchState,
    agents_param,
    by_role,
    launch,
    paced,
    signal_data,
)

# The task each capability stands for, and the data it needs.
CAPABILITY_TASKS: dict[str, tuple[str, str]] = {
    "momentum_detection": ("signal", "momentum"),
    "mean_reversion": ("signal", "mean_reversion"),
    "pair_trading": ("signal", "pairs"),
    "arbitrage": ("signal", "arbitrage"),
    "risk_assessment": ("risk_check", ""),
    "performance_tracking": ("performance", ""),
}


def capability_task(ctx: Ctx, cap: str) -> Task:
    """A real task for a capability, with the market data it needs."""
    op, strategy = CAPABILITY_TASKS.get(cap, ("work", ""))
    market = ctx.market
    if op == "signal":
        symbols = {"pairs": ["SPY", "QQQ"], "arbitrage": ["AAPL"]}.get(strategy, ["SPY"])
        data = signal_data(ctx, strategy, symbols)
    elif op == "risk_check":
        price = market.last.prices["SPY"]
        data = {
            "order": {"symbol": "SPY", "side": "buy", "qty": 10, "price": price},
            "positions": {"SPY": 100.0},
            "limits": {"max_position": 500},
        }
    elif op == "performance":
        prices = market.window("SPY", WINDOW)
        data = {"returns": [b / a - 1.0 for a, b in itertools.pairwise(prices)]}
    else:
        data = {"prices": market.window("SPY", WINDOW)}
    return Task(op=op, data=data, cap=cap, meta={"capability": cap})


def via_hub(ctx: Ctx, swarm: Swarm, hub_of: Callable[[], Agent | None], timeout: float, wait_s: float = 10.0) -> Sender:
    """Relay a task through the active hub; wait (queued) while no hub is active."""

    async def send(spoke: Agent, task: Task) -> Any:
        deadline = ctx.clock.now() + wait_s
        hub = hub_of()
        while hub is None:
            if ctx.clock.now() >= deadline:
                raise RequestFailed("no active hub")
            await ctx.clock.sleep(0.05)
            hub = hub_of()
        await swarm.request(hub, "forward", {"to": spoke.id}, timeout=timeout)
        value = await swarm.request(
            spoke, task.op, task.data, cap=task.cap, cost=task.cost, src=hub.id, timeout=timeout
        )
        if not ctx.on("hub_relay"):
            # Without the hub as the only relay, spokes tell each other directly.
            for other in swarm.live(role="spoke"):
                if other is not spoke:
                    swarm.router.send(spoke.id, other.id, {"type": "tick", "prices": dict(ctx.market.last.prices)})
        return value

    return send


class HubSpecialistsParams(ScenarioParams):
    agents: list[AgentEntry] = agents_default(
        {"kind": "hub", "role": "hub", "name": "hub"},
        {"kind": "momentum", "role": "spoke", "symbol": "SPY"},
        {"kind": "mean_reversion", "role": "spoke", "symbol": "QQQ"},
        {"kind": "pairs", "role": "spoke", "symbols": ["SPY", "QQQ"]},
        {"kind": "arbitrage", "role": "spoke", "symbol": "AAPL"},
        {"kind": "risk", "role": "spoke", "name": "risk-monitor"},
        {"kind": "performance", "role": "spoke", "name": "perf-tracker"},
    )
    tasks: int = param(24, "tasks relayed by the hub", ge=1, le=100000)
    interval_s: float = param(0.25, "time between tasks (s)", gt=0.0, le=60.0)
    timeout_s: float = param(2.0, "a task's timeout (s)", gt=0.0, le=600.0)
    tick_s: float = param(0.5, "market tick interval (s)", gt=0.0, le=60.0)


class HubSpecialists(Scenario[HubSpecialistsParams, DispatchState]):
    id = "star.hub-specialists"
    pattern = "star"
    topology = "star"
    title = "Hub and specialists"
    summary = "A hub sends 24 tasks to 6 specialists by capability; spokes never talk to each other."
    Params = HubSpecialistsParams
    mechanism_help = {
        "capability_routing": "each task goes to a spoke with its capability (off: round robin)",
        "hub_relay": "all traffic goes through the hub (off: spokes also talk directly)",
    }

    def new_state(self) -> DispatchState:
        return DispatchState()

    async def run(self, ctx: ScenarioContext[HubSpecialistsParams, DispatchState]) -> None:
        prm = ctx.params
        specs = agents_param(ctx)
        by_role(specs, "hub", scenario=self.id)
        spokes = by_role(specs, "spoke", scenario=self.id)
        swarm, _ = await launch(ctx, "star" if ctx.on("hub_relay") else "mesh", specs=specs, tick_s=prm.tick_s)

        def hub_of() -> Agent | None:
            return next(iter(swarm.live(role="hub")), None)

        routed = ctx.on("capability_routing")
        # Without capability routing a task goes to any spoke (a seeded random pick).
        dispatcher = Dispatcher(
            swarm,
            RoundRobin() if routed else RandomChoice(ctx.seed),
            role="spoke",
            capacity=4,
            timeout=prm.timeout_s,
            match_capability=routed,
            send=via_hub(ctx, swarm, hub_of, prm.timeout_s),
        )
        ctx.state.dispatcher = dispatcher
        caps = [c for c in CAPABILITY_TASKS if any(c in s.caps for s in spokes)]
        if not caps:
            raise ScenarioError(f"{self.id}: no spoke has a capability this scenario knows")
        await paced(ctx, dispatcher, prm.tasks, prm.interval_s, lambda i: capability_task(ctx, caps[i % len(caps)]))

    def checks(self, ctx: ScenarioContext[HubSpecialistsParams, DispatchState]) -> list[Check]:
        swarm = ctx.swarm
        hubs = swarm.members(role="hub")
        spokes = swarm.members(role="spoke")
        hub_links = swarm.topology.degree(hubs[0].id) if hubs else 0
        spoke_links = [swarm.topology.degree(s.id) for s in spokes]
        records = ctx.state.records
        # A task counts once a spoke with its capability answered it: one routed right and
        # answered with an error did not reach a working specialist.
        matched = sum(1 for r in records if r.ok and r.agent and r.cap in swarm.agents[r.agent].capabilities)
        s2s = swarm.router.between({s.id for s in spokes})
        ctx.observe(spoke_to_spoke_messages=s2s, capability_matched=matched)
        tasks = ctx.params.tasks
        return [
            is_true("hub linked to every spoke", hub_links == len(spokes), f"{len(spokes)} links", hub_links),
            is_true(
                "each spoke linked only to the hub",
                bool(spoke_links) and all(x == 1 for x in spoke_links),
                "1 link each",
                f"{min(spoke_links, default=0)}..{max(spoke_links, default=0)}",
            ),
            is_true(
                "tasks that reached a spoke with their capability",
                matched == len(records) == tasks,
                f"{tasks} of {tasks}",
                matched,
                final_only=True,
            ),
            Check("spoke-to-spoke messages", s2s == 0, "== 0", s2s),
        ]


@dataclass
class HubFailoverState(DispatchState):
    election: LeaseElection | NaiveElection | None = None


class HubFailoverParams(ScenarioParams):
    agents: list[AgentEntry] = agents_default(
        {"kind": "hub", "role": "hub", "name": "hub"},
        {"kind": "hub", "role": "standby", "name": "standby"},
        {"kind": "momentum", "role": "spoke", "symbol": "SPY"},
        {"kind": "mean_reversion", "role": "spoke", "symbol": "QQQ"},
        {"kind": "forecaster", "role": "spoke", "symbol": "SPY"},
    )
    duration_s: float = param(30.0, "how long tasks are sent (s)", gt=0.0, le=86400.0)
    interval_s: float = param(0.2, "time between tasks (s)", gt=0.0, le=60.0)
    timeout_s: float = param(2.0, "a task's timeout (s)", gt=0.0, le=600.0)
    tick_s: float = param(0.5, "market tick interval (s)", gt=0.0, le=60.0)
    lease_intervals: float = param(2.5, "the lease lasts this many heartbeat intervals", gt=0.0, le=1000.0)
    # The timings are in heartbeat intervals of 1 s, on every backend.
    heartbeat_s: float | None = param(1.0, "heartbeat interval (s)", gt=0.0, le=60.0)
    takeover_intervals: float = threshold(
        3.0, "the standby must take over within this many heartbeat intervals", gt=0.0, le=1000.0
    )
    # Requests through a hub slowed by 0.7 s miss their deadline, as do those waiting for the standby.
    min_availability: float | None = threshold(
        0.1, "share of decisions submitted during the faults answered correctly in time, at least", gt=0.0, le=1.0
    )


class HubFailover(Scenario[HubFailoverParams, HubFailoverState]):
    id = "star.hub-failover"
    pattern = "star"
    topology = "star"
    title = "Hub failover"
    summary = "A primary hub, a standby under a lease, 3 spokes; the primary is slowed, then crashes."
    Params = HubFailoverParams
    default_faults = [
        {"kind": "net-delay", "target": "role:hub", "at": 5.0, "duration": 3.0, "delay_ms": 700},
        {"kind": "crash", "target": "role:hub", "at": 15.0},
    ]
    mechanism_help = {"lease": "a heartbeat-renewed lease with fencing (off: promote on missed heartbeats)"}

    def new_state(self) -> HubFailoverState:
        return HubFailoverState()

    async def run(self, ctx: ScenarioContext[HubFailoverParams, HubFailoverState]) -> None:
        prm = ctx.params
        specs = agents_param(ctx)
        by_role(specs, "hub", scenario=self.id)
        by_role(specs, "standby", scenario=self.id)
        by_role(specs, "spoke", scenario=self.id)
        swarm, agents = await launch(ctx, specs=specs, tick_s=prm.tick_s, replace=False, faults=False)
        primary = next(a for a in agents if a.role == "hub")
        standbys = [a for a in agents if a.role == "standby"]
        election: LeaseElection | NaiveElection
        if ctx.on("lease"):
            election = LeaseElection(swarm, ttl_intervals=prm.lease_intervals)
        else:
            election = NaiveElection(swarm)
        election.acquire(primary, "initial primary")
        swarm.spawn(election.run([primary, *standbys]), name="election")
        ctx.state.election = election
        ctx.schedule_faults(self.faults())
        dispatcher = Dispatcher(
            swarm,
            LeastLoaded(),
            role="spoke",
            capacity=4,
            timeout=prm.timeout_s,
            retries=5,
            send=via_hub(ctx, swarm, election.active, prm.timeout_s),
        )
        ctx.state.dispatcher = dispatcher
        count = int(prm.duration_s / prm.interval_s)
        spokes = [a for a in agents if a.role == "spoke"]
        caps: list[str | None] = [
            c for c in ("momentum_detection", "mean_reversion", "forecast") if any(c in s.capabilities for s in spokes)
        ] or [None]

        def make(i: int) -> Task:
            cap = caps[i % len(caps)]
            if cap == "forecast":
                return Task(op="signal", cap=cap, data=signal_data(ctx, "forecast", ["SPY"]))
            return capability_task(ctx, cap) if cap else Task(op="work", data={})

        await paced(ctx, dispatcher, count, prm.interval_s, make)
        await ctx.clock.sleep(1.0)

    def checks(self, ctx: ScenarioContext[HubFailoverParams, HubFailoverState]) -> list[Check]:
        swarm = ctx.swarm
        election = ctx.state.election
        if election is None:
            raise ScenarioError("the election has not started yet")
        crash = ctx.injection("crash")
        records = ctx.state.records
        lost = sum(1 for r in records if r.failed)
        overlap = election.record.overlap_s(ctx.clock.now())
        hb = swarm.heartbeat_s
        limit = ctx.params.takeover_intervals * hb
        checks: list[Check] = []
        if crash is None:
            checks.append(ctx.not_yet("primary hub crashed", "a crash", "not yet", "never injected"))
        else:
            t_crash, hub = crash
            takeover = next((t for old, _new, t in election.handovers if old == hub and t >= t_crash), None)
            if takeover is None:
                checks.append(
                    ctx.not_yet(f"standby took over within {limit:g} s", f"<= {limit:g} s", "not yet", "never")
                )
            else:
                ctx.observe(hub_downtime_s=round(takeover - t_crash, 4))
                checks.append(at_most("standby took over after the crash (s)", takeover - t_crash, limit))
        checks.append(Check("tasks lost", lost == 0, "== 0", lost))
        checks.append(Check("time with two active hubs (s)", overlap <= 0.0, "== 0", round(overlap, 4)))
        return checks


SCENARIOS: tuple[type[Scenario[Any, Any]], ...] = (HubSpecialists, HubFailover)
