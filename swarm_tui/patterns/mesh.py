"""Mesh: every agent linked to every other.

Scenarios: equal coordination (round robin), consensus (quorum voting with a byzantine voter),
failover (a crash detected by heartbeats and replaced), partition (majority acks stop split
brain).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from swarm_tui.agent.strategies import BUY, SELL, forecast
from swarm_tui.engine.agents import Agent
from swarm_tui.engine.controllers.quorum import majority, tally
from swarm_tui.engine.controllers.routing import FirstAvailable, RoundRobin
from swarm_tui.engine.dispatch import Dispatcher, Sender, Task
from swarm_tui.engine.events import QuorumDecision
from swarm_tui.engine.params import AgentEntry, ScenarioParams, agents_default, param, threshold
from swarm_tui.engine.scenario import (
    Check,
    Scenario,
    ScenarioContext,
    at_least,
    at_most,
    is_true,
)
from swarm_tui.engine.swarm import AgentError, RequestFailed
from swarm_tui.patterns.common import (
    WINDOW,
    Ctx,
    DispatchState,
    Trader,
    latency_budget_ms,
    launch,
    need,
    paced,
    signal_data,
)


def _decide_sender(ctx: Ctx, trader: Trader | None, timeout: float, share: bool = True) -> Sender:
    """Each agent decides on its own symbol, shares its view with its peers, and trades."""
    swarm = ctx.swarm

    async def send(agent: Agent, task: Task) -> Any:
        symbol = agent.spec.symbols[0] if agent.spec.symbols else "SPY"
        value = await swarm.request(
            agent,
            "signal",
            signal_data(ctx, agent.spec.resolved_strategy, [symbol]),
            cap=task.cap,
            cost=task.cost,
            timeout=timeout,
        )
        price = ctx.market.last.prices.get(symbol, 0.0)
        if share:
            for peer in swarm.topology.links(agent.id):
                swarm.router.send(agent.id, peer, {"type": "tick", "prices": {symbol: price}})
        if trader is not None:
            trader.target(agent.id, agent.id, symbol, value.get("action", "hold"), 10, price)
        return value

    return send


class EqualCoordinationParams(ScenarioParams):
    agents: list[AgentEntry] = agents_default(
        *({"kind": "momentum", "symbol": s} for s in ("SPY", "QQQ", "AAPL", "TSLA", "SPY"))
    )
    decisions: int = param(100, "decisions made, one after another", ge=1, le=100000)
    interval_s: float = param(0.1, "time between decisions (s)", gt=0.0, le=60.0)
    tick_s: float = param(0.5, "market tick interval (s)", gt=0.0, le=60.0)
    timeout_s: float = param(2.0, "a decision's timeout (s)", gt=0.0, le=600.0)
    share_tolerance_points: float = threshold(
        2.0, "each agent's share of the work may deviate from an equal share by this many points", ge=0.0, le=100.0
    )
    min_success_rate: float = threshold(0.97, "share of decisions that must succeed", ge=0.0, le=1.0)


class EqualCoordination(Scenario[EqualCoordinationParams, DispatchState]):
    id = "mesh.equal-coordination"
    pattern = "mesh"
    topology = "mesh"
    title = "Equal coordination"
    summary = "5 momentum agents share 100 decisions round robin; each must do 20 % of the work."
    Params = EqualCoordinationParams
    mechanism_help = {"round_robin": "decisions go to each agent in turn (off: always the first free agent)"}

    def new_state(self) -> DispatchState:
        return DispatchState()

    async def run(self, ctx: ScenarioContext[EqualCoordinationParams, DispatchState]) -> None:
        prm = ctx.params
        swarm, _ = await launch(ctx, tick_s=prm.tick_s)
        trader = Trader(ctx)
        policy = RoundRobin() if ctx.on("round_robin") else FirstAvailable()
        dispatcher = Dispatcher(
            swarm, policy, capacity=4, timeout=prm.timeout_s, send=_decide_sender(ctx, trader, prm.timeout_s)
        )
        ctx.state.dispatcher = dispatcher
        await paced(
            ctx, dispatcher, prm.decisions, prm.interval_s, lambda i: Task(op="signal", cap="momentum_detection")
        )
        ctx.observe(pnl=trader.summary())

    def checks(self, ctx: ScenarioContext[EqualCoordinationParams, DispatchState]) -> list[Check]:
        prm = ctx.params
        swarm = ctx.swarm
        live = swarm.live()
        n = len(live)
        degrees = [swarm.topology.degree(a.id) for a in live]
        ok = [r for r in ctx.state.records if r.ok]
        counts = Counter(r.agent for r in ok)
        shares = {a.id: round(100.0 * counts[a.id] / len(ok), 3) if ok else 0.0 for a in live}
        fair = 100.0 / n if n else 0.0
        deviation = max((abs(s - fair) for s in shares.values()), default=100.0)
        ctx.observe(work_share_pct=shares, links={a.id: d for a, d in zip(live, degrees, strict=True)})
        summary = ctx.metrics.summary(ctx.clock.now())
        return [
            is_true(
                "every agent linked to every other",
                bool(degrees) and all(d == n - 1 for d in degrees),
                f"{n - 1} links each",
                f"{min(degrees, default=0)}..{max(degrees, default=0)}",
            ),
            at_most(
                "largest deviation from an equal share (points)", deviation, prm.share_tolerance_points, final_only=True
            ),
            at_least("success rate", summary["success_rate"], prm.min_success_rate),
            at_most("p95 decision latency (ms)", summary["latency_ms"]["p95"], latency_budget_ms(ctx)),
        ]


@dataclass
class ConsensusState:
    rounds: list[dict[str, Any]] = field(default_factory=list)


class ConsensusParams(ScenarioParams):
    agents: list[AgentEntry] = agents_default({"kind": "forecaster", "symbol": "SPY", "count": 3})
    rounds: int = param(50, "voting rounds", ge=1, le=100000)
    interval_s: float = param(0.5, "time between rounds (s)", gt=0.0, le=60.0)
    quorum: int = param(2, "agreeing votes a decision needs", ge=1, le=1000)
    vote_timeout_s: float = param(1.0, "how long a round waits for votes (s)", gt=0.0, le=600.0)
    symbol: str = param("SPY", "the symbol voted on", min_length=1, max_length=12)
    min_availability: float | None = threshold(
        0.9, "share of rounds after the fault decided in time, at least", gt=0.0, le=1.0
    )
    min_quorum_rate: float = threshold(0.95, "share of rounds that must reach a quorum", ge=0.0, le=1.0)


class Consensus(Scenario[ConsensusParams, ConsensusState]):
    id = "mesh.consensus"
    pattern = "mesh"
    topology = "mesh"
    title = "Consensus"
    summary = "3 forecasters vote each round; a quorum of 2 must agree; one turns byzantine at round 25."
    Params = ConsensusParams
    default_faults = [{"kind": "byzantine", "target": "#2", "at": 12.5}]
    mechanism_help = {"quorum": "a decision needs a quorum of agreeing votes (off: the first vote wins)"}

    def new_state(self) -> ConsensusState:
        return ConsensusState()

    async def run(self, ctx: ScenarioContext[ConsensusParams, ConsensusState]) -> None:
        prm = ctx.params
        swarm, voters = await launch(ctx, feed=False)
        trader = Trader(ctx)
        symbol = prm.symbol
        quorum = prm.quorum
        rounds = ctx.state.rounds
        start = ctx.clock.now()

        async def ask(agent: Agent, window: list[float]) -> tuple[str, dict[str, Any] | None]:
            try:
                value = await swarm.request(
                    agent, "vote", {"prices": window}, cap="forecast", timeout=prm.vote_timeout_s
                )
                return agent.id, value
            except (RequestFailed, AgentError):
                return agent.id, None

        for r in range(prm.rounds):
            submitted = ctx.clock.now()
            ctx.market.next_tick()
            window = ctx.market.window(symbol, WINDOW)
            honest = forecast(window)["action"]
            votes: dict[str, str] = {}
            arrival: list[str] = []
            live = [a for a in swarm.live() if a.role == voters[0].role]
            for fut in asyncio.as_completed([ask(a, window) for a in live]):
                agent_id, value = await fut
                if value is not None:
                    votes[agent_id] = str(value["vote"])
                    arrival.append(agent_id)
            measured = tally(votes, quorum)
            if ctx.on("quorum"):
                decision = measured.decision
            else:
                decision = votes[arrival[0]] if arrival else None
            agreeing = sum(1 for v in votes.values() if v == decision) if decision else 0
            traded = False
            if decision in (BUY, SELL):
                traded = trader.target("consensus", "swarm", symbol, decision, 10, ctx.market.last.prices[symbol])
            rounds.append(
                {
                    "round": r,
                    "votes": votes,
                    "honest": honest,
                    "decision": decision,
                    "agreeing": agreeing,
                    "reached": measured.reached,
                    "split": measured.split,
                    "traded": traded,
                }
            )
            ctx.record_decision(
                "vote",
                ok=decision is not None,
                submitted=submitted,
                outcome=None if decision is not None else "no-quorum",
            )
            swarm.publish(
                QuorumDecision(
                    t=ctx.clock.now(),
                    round=r,
                    votes=votes,
                    decision=decision or "none",
                    agreeing=agreeing,
                    quorum=quorum,
                    reached=measured.reached,
                )
            )
            await ctx.clock.sleep_until(start + (r + 1) * prm.interval_s)
        ctx.observe(vote_split=dict(Counter(x["split"] for x in rounds)), pnl=trader.summary())

    def checks(self, ctx: ScenarioContext[ConsensusParams, ConsensusState]) -> list[Check]:
        prm = ctx.params
        rounds = ctx.state.rounds
        quorum = prm.quorum
        violations = sum(1 for x in rounds if x["traded"] and x["agreeing"] < quorum)
        decided = [x for x in rounds if x["decision"] is not None]
        mismatches = sum(1 for x in decided if x["decision"] != x["honest"])
        reached = sum(1 for x in rounds if x["reached"]) / len(rounds) if rounds else 0.0
        recorded = sum(1 for x in rounds if x["votes"])
        return [
            Check("trades executed without a quorum", violations == 0, "== 0", violations),
            Check("executed decisions that differ from the honest signal", mismatches == 0, "== 0", mismatches),
            at_least("rounds that reached a quorum", reached, prm.min_quorum_rate),
            is_true(
                "vote split recorded for every round",
                recorded == len(rounds) == prm.rounds,
                f"{prm.rounds} rounds",
                recorded,
                final_only=True,
            ),
        ]


class FailoverParams(ScenarioParams):
    agents: list[AgentEntry] = agents_default({"kind": "momentum", "symbol": "QQQ", "count": 4})
    duration_s: float = param(40.0, "how long decisions are made (s)", gt=0.0, le=86400.0)
    interval_s: float = param(0.2, "time between decisions (s)", gt=0.0, le=60.0)
    timeout_s: float = param(2.0, "a decision's timeout (s)", gt=0.0, le=600.0)
    tick_s: float = param(0.5, "market tick interval (s)", gt=0.0, le=60.0)
    min_availability: float | None = threshold(
        0.6, "share of decisions submitted during the crash answered correctly in time, at least", gt=0.0, le=1.0
    )


class Failover(Scenario[FailoverParams, DispatchState]):
    id = "mesh.failover"
    pattern = "mesh"
    topology = "mesh"
    title = "Failover"
    summary = "4 momentum agents on QQQ; agent 2 crashes at t=20 s; detected, retried, replaced."
    Params = FailoverParams
    default_faults = [{"kind": "crash", "target": "#2", "at": 20.0}]
    mechanism_help = {
        "failover": "heartbeat detection and replacement of failed agents",
        "retry": "in-flight work of a failed agent is retried on a live peer",
    }

    def new_state(self) -> DispatchState:
        return DispatchState()

    async def run(self, ctx: ScenarioContext[FailoverParams, DispatchState]) -> None:
        prm = ctx.params
        swarm, _ = await launch(ctx, tick_s=prm.tick_s, replace=ctx.on("failover"), detect=ctx.on("failover"))
        dispatcher = Dispatcher(
            swarm,
            RoundRobin(),
            capacity=4,
            timeout=prm.timeout_s,
            retry=ctx.on("retry"),
            send=_decide_sender(ctx, None, prm.timeout_s, share=False),
        )
        ctx.state.dispatcher = dispatcher
        count = int(prm.duration_s / prm.interval_s)
        await paced(ctx, dispatcher, count, prm.interval_s, lambda i: Task(op="signal", cap="momentum_detection"))
        await ctx.clock.sleep(1.0)

    def checks(self, ctx: ScenarioContext[FailoverParams, DispatchState]) -> list[Check]:
        return replacement_checks(ctx)


def replacement_checks(ctx: Ctx) -> list[Check]:
    """No decision lost, and every agent a fault killed has a replacement linked to every peer.

    (Detection and recovery of each fault are judged for every scenario: engine/judge.py.)"""
    swarm = ctx.swarm
    records = need(getattr(ctx.state, "dispatcher", None), "the dispatcher").records
    lost = sum(1 for r in records if r.failed)
    checks = [Check("decisions lost", lost == 0, "== 0", lost)]
    expected_links = len(swarm.topology) - 1
    for _t, fault, target in ctx.injected:
        if fault.kind not in ("crash", "memory-leak"):
            continue
        name = f"{target}'s replacement linked to every peer"
        replacement = next((a for a in swarm.agents.values() if a.replaces == target and a.live), None)
        if replacement is None:
            checks.append(ctx.not_yet(name, f"{expected_links} links", "no replacement yet", "no replacement"))
            continue
        links = swarm.topology.degree(replacement.id)
        ctx.observe(replacement=replacement.id)
        checks.append(is_true(name, links == expected_links, f"{expected_links} links", links))
    return checks


@dataclass
class PartitionState:
    trades: list[tuple[float, str]] = field(default_factory=list)
    blocked: list[tuple[float, str]] = field(default_factory=list)
    views: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    agents: list[Agent] = field(default_factory=list)


class PartitionParams(ScenarioParams):
    agents: list[AgentEntry] = agents_default(
        *(
            {"kind": "momentum", "symbol": s, "params": {"threshold": 0.005}}
            for s in ("SPY", "QQQ", "AAPL", "TSLA", "SPY")
        )
    )
    duration_s: float = param(30.0, "how long the agents decide (s)", gt=0.0, le=86400.0)
    decide_s: float = param(0.5, "time between decision rounds (s)", gt=0.0, le=60.0)
    gossip_s: float = param(0.5, "time between gossip rounds (s)", gt=0.0, le=60.0)
    view_ttl_s: float = param(1.5, "a peer unheard for this long drops out of a view (s)", gt=0.0, le=600.0)
    ack_timeout_s: float = param(0.3, "how long a trade waits for acks (s)", gt=0.0, le=60.0)
    tick_s: float = param(0.5, "market tick interval (s)", gt=0.0, le=60.0)
    heal_budget_s: float = threshold(
        3.0, "time after healing by which every view is whole again (s)", gt=0.0, le=3600.0
    )
    min_availability: float | None = threshold(
        0.9, "share of decisions during the partition answered in time, at least", gt=0.0, le=1.0
    )


class Partition(Scenario[PartitionParams, PartitionState]):
    id = "mesh.partition"
    pattern = "mesh"
    topology = "mesh"
    title = "Partition"
    summary = "A 5-agent mesh split 3/2: the majority keeps trading, the minority cannot; views heal."
    Params = PartitionParams
    default_faults = [{"kind": "partition", "at": 10.0, "duration": 10.0, "groups": [["#1", "#2", "#3"], ["#4", "#5"]]}]
    mechanism_help = {"quorum": "a trade commits only with acks from a majority (off: trade alone)"}

    def new_state(self) -> PartitionState:
        return PartitionState()

    async def run(self, ctx: ScenarioContext[PartitionParams, PartitionState]) -> None:
        prm = ctx.params
        swarm, agents = await launch(ctx, tick_s=prm.tick_s)
        trader = Trader(ctx)
        heard: dict[str, dict[str, float]] = {a.id: {} for a in agents}
        st = ctx.state
        st.agents = agents
        views, trades, blocked = st.views, st.trades, st.blocked
        need_acks = majority(len(agents))

        async def gossip() -> None:
            async def one(a: Agent, b: Agent) -> None:
                try:
                    await swarm.ping(a, b, timeout=prm.gossip_s)
                    heard[a.id][b.id] = ctx.clock.now()
                except RequestFailed:
                    pass

            while True:
                live = swarm.live()
                await asyncio.gather(*(one(a, b) for a in live for b in live if a is not b))
                now = ctx.clock.now()
                ttl = prm.view_ttl_s
                views.append((now, {a.id: sum(1 for t in heard[a.id].values() if now - t <= ttl) for a in live}))
                await ctx.clock.sleep(prm.gossip_s)

        async def acks(a: Agent) -> int:
            peers = [b for b in swarm.live() if b is not a]

            async def ack(b: Agent) -> int:
                try:
                    await swarm.ping(a, b, timeout=prm.ack_timeout_s)
                    return 1
                except RequestFailed:
                    return 0

            return sum(await asyncio.gather(*(ack(b) for b in peers)))

        async def decide(a: Agent) -> None:
            symbol = a.spec.symbols[0]
            submitted = ctx.clock.now()
            try:
                value = await swarm.request(
                    a, "signal", signal_data(ctx, "momentum", [symbol]), cap="momentum_detection", timeout=2.0
                )
            except (RequestFailed, AgentError) as exc:
                ctx.record_decision("signal", ok=False, submitted=submitted, agent=a.id, error=str(exc))
                return
            action = value.get("action")
            if action in (BUY, SELL):
                if ctx.on("quorum") and await acks(a) + 1 < need_acks:
                    blocked.append((ctx.clock.now(), a.id))
                else:
                    # Committed: the agent's side may trade (the fill moves its position if needed).
                    trades.append((ctx.clock.now(), a.id))
                    trader.target(a.id, a.id, symbol, action, 10, ctx.market.last.prices[symbol])
            ctx.record_decision("signal", ok=True, submitted=submitted, agent=a.id)

        swarm.spawn(gossip(), name="gossip")
        start = ctx.clock.now()
        while ctx.clock.now() - start < prm.duration_s:
            await asyncio.gather(*(decide(a) for a in swarm.live()))
            await ctx.clock.sleep(prm.decide_s)
        ctx.observe(trades=len(trades), blocked=len(blocked), pnl=trader.summary())

    def checks(self, ctx: ScenarioContext[PartitionParams, PartitionState]) -> list[Check]:
        swarm = ctx.swarm
        st = ctx.state
        partitions = ctx.injections("partition")
        if not partitions:
            return [ctx.not_yet("partition injected", "a partition", "not yet", "none")]
        t0, fault, _target = partitions[0]
        t1 = t0 + (fault.duration or 0.0)
        groups = [[ctx.resolve(x).id for x in g] for g in fault.params["groups"]]
        groups.sort(key=len, reverse=True)
        major, minor = set(groups[0]), {a for g in groups[1:] for a in g}
        during = [(t, a) for t, a in st.trades if t0 <= t <= t1]
        major_trades = sum(1 for _, a in during if a in major)
        minor_trades = sum(1 for _, a in during if a in minor)
        full = len(need(st.agents or None, "the agents")) - 1
        healed_at = next((t for t, view in st.views if t > t1 and view and all(v == full for v in view.values())), None)
        heal_s = (healed_at - t1) if healed_at is not None else float("inf")
        final_views = st.views[-1][1] if st.views else {}
        ctx.observe(
            majority_trades=major_trades,
            minority_trades=minor_trades,
            heal_s=round(heal_s, 4) if healed_at is not None else None,
            live=len(swarm.live()),
        )
        heal_name = "one view again after healing (s)"
        return [
            at_least(
                "trade decisions committed by the majority side during the partition", major_trades, 1, final_only=True
            ),
            Check(
                "trade decisions committed by the minority side during the partition (split brain)",
                minor_trades == 0,
                "== 0",
                minor_trades,
            ),
            at_most(heal_name, heal_s, ctx.params.heal_budget_s)
            if healed_at is not None
            else ctx.not_yet(heal_name, f"<= {ctx.params.heal_budget_s:g}", "not healed yet", "not healed"),
            is_true(
                "every agent sees every peer at the end",
                bool(final_views) and all(v == full for v in final_views.values()),
                f"{full} peers each",
                ",".join(str(v) for v in final_views.values()),
                final_only=True,
            ),
        ]


SCENARIOS: tuple[type[Scenario[Any, Any]], ...] = (EqualCoordination, Consensus, Failover, Partition)
