"""Mesh: every agent linked to every other.

Scenarios: equal coordination (round robin), consensus (quorum voting with a byzantine voter),
failover (a crash detected by heartbeats and replaced), partition (majority acks stop split
brain).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from swarm_tui.agent.strategies import BUY, SELL, forecast
from swarm_tui.engine.agents import Agent
from swarm_tui.engine.controllers.quorum import majority, tally
from swarm_tui.engine.controllers.routing import FirstAvailable, RoundRobin
from swarm_tui.engine.dispatch import Dispatcher, Task
from swarm_tui.engine.events import QuorumDecision
from swarm_tui.engine.scenario import (
    Check,
    Scenario,
    ScenarioContext,
    at_least,
    at_most,
    is_true,
    register,
)
from swarm_tui.engine.swarm import AgentError, RequestFailed
from swarm_tui.patterns.common import (
    WINDOW,
    Trader,
    latency_budget_ms,
    launch,
    paced,
    recovery_budget_s,
    signal_data,
)


def _decide_sender(ctx: ScenarioContext, trader: Trader | None, timeout: float, share: bool = True):
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


@register
class EqualCoordination(Scenario):
    id = "mesh.equal-coordination"
    pattern = "mesh"
    topology = "mesh"
    title = "Equal coordination"
    summary = "5 momentum agents share 100 decisions round robin; each must do 20 % of the work."
    defaults = {
        "agents": [{"kind": "momentum", "symbol": s} for s in ("SPY", "QQQ", "AAPL", "TSLA", "SPY")],
        "decisions": 100,
        "interval_s": 0.1,
        "tick_s": 0.5,
        "share_tolerance_points": 2.0,
        "min_success_rate": 0.97,
        "timeout_s": 2.0,
    }
    mechanism_help = {"round_robin": "decisions go to each agent in turn (off: always the first free agent)"}

    async def run(self, ctx: ScenarioContext) -> None:
        prm = ctx.params
        swarm, _ = await launch(ctx)
        trader = Trader(ctx)
        policy = RoundRobin() if ctx.on("round_robin") else FirstAvailable()
        dispatcher = Dispatcher(
            swarm, policy, capacity=4, timeout=prm["timeout_s"], send=_decide_sender(ctx, trader, prm["timeout_s"])
        )
        ctx.state["dispatcher"] = dispatcher
        await paced(
            ctx,
            dispatcher,
            int(prm["decisions"]),
            float(prm["interval_s"]),
            lambda i: Task(op="signal", cap="momentum_detection"),
        )
        ctx.observe(pnl=trader.summary())

    def checks(self, ctx: ScenarioContext) -> list[Check]:
        prm = ctx.params
        swarm = ctx.swarm
        live = swarm.live()
        n = len(live)
        degrees = [swarm.topology.degree(a.id) for a in live]
        ok = [r for r in ctx.state["dispatcher"].records if r.ok]
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
            at_most("largest deviation from an equal share (points)", deviation, float(prm["share_tolerance_points"])),
            at_least("success rate", summary["success_rate"], float(prm["min_success_rate"])),
            at_most("p95 decision latency (ms)", summary["latency_ms"]["p95"], latency_budget_ms(ctx)),
        ]


@register
class Consensus(Scenario):
    id = "mesh.consensus"
    pattern = "mesh"
    topology = "mesh"
    title = "Consensus"
    summary = "3 forecasters vote each round; a quorum of 2 must agree; one turns byzantine at round 25."
    defaults = {
        "agents": [{"kind": "forecaster", "symbol": "SPY"}] * 3,
        "rounds": 50,
        "interval_s": 0.5,
        "quorum": 2,
        "min_quorum_rate": 0.95,
        "vote_timeout_s": 1.0,
        "symbol": "SPY",
    }
    default_faults = [{"kind": "byzantine", "target": "#2", "at": 12.5}]
    mechanism_help = {"quorum": "a decision needs a quorum of agreeing votes (off: the first vote wins)"}

    async def run(self, ctx: ScenarioContext) -> None:
        prm = ctx.params
        swarm, voters = await launch(ctx, feed=False)
        trader = Trader(ctx)
        symbol = str(prm["symbol"])
        quorum = int(prm["quorum"])
        rounds: list[dict[str, Any]] = []
        ctx.state["rounds"] = rounds
        start = ctx.clock.now()

        async def ask(agent: Agent, window: list[float]) -> tuple[str, dict[str, Any] | None]:
            try:
                value = await swarm.request(
                    agent, "vote", {"prices": window}, cap="forecast", timeout=float(prm["vote_timeout_s"])
                )
                return agent.id, value
            except (RequestFailed, AgentError):
                return agent.id, None

        for r in range(int(prm["rounds"])):
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
            await ctx.clock.sleep_until(start + (r + 1) * float(prm["interval_s"]))
        ctx.observe(vote_split=dict(Counter(x["split"] for x in rounds)), pnl=trader.summary())

    def checks(self, ctx: ScenarioContext) -> list[Check]:
        prm = ctx.params
        rounds = ctx.state["rounds"]
        quorum = int(prm["quorum"])
        violations = sum(1 for x in rounds if x["traded"] and x["agreeing"] < quorum)
        decided = [x for x in rounds if x["decision"] is not None]
        mismatches = sum(1 for x in decided if x["decision"] != x["honest"])
        reached = sum(1 for x in rounds if x["reached"]) / len(rounds) if rounds else 0.0
        recorded = sum(1 for x in rounds if x["votes"])
        return [
            Check("trades executed without a quorum", violations == 0, "== 0", violations),
            Check("executed decisions that differ from the honest signal", mismatches == 0, "== 0", mismatches),
            at_least("rounds that reached a quorum", reached, float(prm["min_quorum_rate"])),
            is_true(
                "vote split recorded for every round",
                recorded == len(rounds) and len(rounds) > 0,
                f"{len(rounds)} rounds",
                recorded,
            ),
        ]


@register
class Failover(Scenario):
    id = "mesh.failover"
    pattern = "mesh"
    topology = "mesh"
    title = "Failover"
    summary = "4 momentum agents on QQQ; agent 2 crashes at t=20 s; detected, retried, replaced."
    defaults = {
        "agents": [{"kind": "momentum", "symbol": "QQQ"}] * 4,
        "duration_s": 40.0,
        "interval_s": 0.2,
        "timeout_s": 2.0,
        "tick_s": 0.5,
        "detect_intervals": 3.0,
    }
    default_faults = [{"kind": "crash", "target": "#2", "at": 20.0}]
    mechanism_help = {
        "failover": "heartbeat detection and replacement of failed agents",
        "retry": "in-flight work of a failed agent is retried on a live peer",
    }

    async def run(self, ctx: ScenarioContext) -> None:
        prm = ctx.params
        swarm, _ = await launch(ctx, replace=ctx.on("failover"), detect=ctx.on("failover"))
        dispatcher = Dispatcher(
            swarm,
            RoundRobin(),
            capacity=4,
            timeout=prm["timeout_s"],
            retry=ctx.on("retry"),
            send=_decide_sender(ctx, None, prm["timeout_s"], share=False),
        )
        ctx.state["dispatcher"] = dispatcher
        count = int(float(prm["duration_s"]) / float(prm["interval_s"]))
        await paced(
            ctx, dispatcher, count, float(prm["interval_s"]), lambda i: Task(op="signal", cap="momentum_detection")
        )
        await ctx.clock.sleep(1.0)

    def checks(self, ctx: ScenarioContext) -> list[Check]:
        return crash_recovery_checks(ctx, "crash", float(ctx.params["detect_intervals"]))


def crash_recovery_checks(
    ctx: ScenarioContext, kind: str, detect_intervals: float | None, *, outage_from_failure: bool = False
) -> list[Check]:
    """Detection within N heartbeat intervals, 0 decisions lost, a linked replacement in budget.

    Recovery is timed from the fault, or (``outage_from_failure``) from the moment the agent was
    seen to die, for faults that kill only after a while (a memory leak).
    """
    swarm = ctx.swarm
    injected = ctx.injection(kind)
    records = ctx.state["dispatcher"].records
    lost = sum(1 for r in records if r.failed)
    checks: list[Check] = []
    if injected is None:
        return [Check(f"{kind} injected", False, "a fault at its time", "never injected")]
    t_fault, target = injected
    failed = swarm.agents[target]
    hb = swarm.heartbeat_s
    if detect_intervals is not None:
        if failed.failed_at is None:
            checks.append(
                Check(
                    f"{kind} detected within {detect_intervals:g} heartbeat intervals",
                    False,
                    f"<= {detect_intervals * hb:g} s",
                    "not detected",
                )
            )
        else:
            checks.append(
                at_most(
                    f"{kind} detected within {detect_intervals:g} heartbeat intervals (s)",
                    failed.failed_at - t_fault,
                    detect_intervals * hb,
                )
            )
    checks.append(Check("decisions lost", lost == 0, "== 0", lost))
    replacement = next((a for a in swarm.agents.values() if a.replaces == target and a.live), None)
    budget = recovery_budget_s(ctx)
    if replacement is None or replacement.ready_at is None:
        checks.append(
            Check(
                "replacement healthy and re-linked within the recovery budget",
                False,
                f"<= {budget:g} s",
                "no replacement",
            )
        )
        return checks
    outage = failed.failed_at if (outage_from_failure and failed.failed_at is not None) else t_fault
    rto = replacement.ready_at - outage
    links = swarm.topology.degree(replacement.id)
    expected_links = len(swarm.topology) - 1
    ctx.observe(rto_s=round(rto, 4), replacement=replacement.id)
    checks.append(
        is_true("replacement re-linked to every peer", links == expected_links, f"{expected_links} links", links)
    )
    checks.append(at_most("recovery time, failure to healthy replacement (s)", rto, budget))
    return checks


@register
class Partition(Scenario):
    id = "mesh.partition"
    pattern = "mesh"
    topology = "mesh"
    title = "Partition"
    summary = "A 5-agent mesh split 3/2: the majority keeps trading, the minority cannot; views heal."
    defaults = {
        "agents": [
            {"kind": "momentum", "symbol": s, "params": {"threshold": 0.005}}
            for s in ("SPY", "QQQ", "AAPL", "TSLA", "SPY")
        ],
        "duration_s": 30.0,
        "decide_s": 0.5,
        "gossip_s": 0.5,
        "view_ttl_s": 1.5,
        "ack_timeout_s": 0.3,
        "tick_s": 0.5,
        "heal_budget_s": 3.0,
    }
    default_faults = [{"kind": "partition", "at": 10.0, "duration": 10.0, "groups": [["#1", "#2", "#3"], ["#4", "#5"]]}]
    mechanism_help = {"quorum": "a trade commits only with acks from a majority (off: trade alone)"}

    async def run(self, ctx: ScenarioContext) -> None:
        prm = ctx.params
        swarm, agents = await launch(ctx)
        trader = Trader(ctx)
        heard: dict[str, dict[str, float]] = {a.id: {} for a in agents}
        views: list[tuple[float, dict[str, int]]] = []
        trades: list[tuple[float, str]] = []
        blocked: list[tuple[float, str]] = []
        ctx.state.update(trades=trades, blocked=blocked, views=views, agents=agents)
        need = majority(len(agents))

        async def gossip() -> None:
            async def one(a: Agent, b: Agent) -> None:
                try:
                    await swarm.ping(a, b, timeout=float(prm["gossip_s"]))
                    heard[a.id][b.id] = ctx.clock.now()
                except RequestFailed:
                    pass

            while True:
                live = swarm.live()
                await asyncio.gather(*(one(a, b) for a in live for b in live if a is not b))
                now = ctx.clock.now()
                ttl = float(prm["view_ttl_s"])
                views.append((now, {a.id: sum(1 for t in heard[a.id].values() if now - t <= ttl) for a in live}))
                await ctx.clock.sleep(float(prm["gossip_s"]))

        async def acks(a: Agent) -> int:
            peers = [b for b in swarm.live() if b is not a]

            async def ack(b: Agent) -> int:
                try:
                    await swarm.ping(a, b, timeout=float(prm["ack_timeout_s"]))
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
                if ctx.on("quorum") and await acks(a) + 1 < need:
                    blocked.append((ctx.clock.now(), a.id))
                else:
                    # Committed: the agent's side may trade (the fill moves its position if needed).
                    trades.append((ctx.clock.now(), a.id))
                    trader.target(a.id, a.id, symbol, action, 10, ctx.market.last.prices[symbol])
            ctx.record_decision("signal", ok=True, submitted=submitted, agent=a.id)

        swarm.spawn(gossip(), name="gossip")
        start = ctx.clock.now()
        while ctx.clock.now() - start < float(prm["duration_s"]):
            await asyncio.gather(*(decide(a) for a in swarm.live()))
            await ctx.clock.sleep(float(prm["decide_s"]))
        ctx.observe(trades=len(trades), blocked=len(blocked), pnl=trader.summary())

    def checks(self, ctx: ScenarioContext) -> list[Check]:
        swarm = ctx.swarm
        partition = ctx.injection("partition")
        if partition is None:
            return [Check("partition injected", False, "a partition", "none")]
        t0, _ = partition
        fault = next(f for _, f, _ in ctx.injected if f.kind == "partition")
        t1 = t0 + (fault.duration or 0.0)
        groups = [[ctx.resolve(x).id for x in g] for g in fault.params["groups"]]
        groups.sort(key=len, reverse=True)
        major, minor = set(groups[0]), {a for g in groups[1:] for a in g}
        during = [(t, a) for t, a in ctx.state["trades"] if t0 <= t <= t1]
        major_trades = sum(1 for _, a in during if a in major)
        minor_trades = sum(1 for _, a in during if a in minor)
        full = len(ctx.state["agents"]) - 1
        healed_at = next(
            (t for t, view in ctx.state["views"] if t > t1 and view and all(v == full for v in view.values())), None
        )
        heal_s = (healed_at - t1) if healed_at is not None else float("inf")
        final_views = ctx.state["views"][-1][1] if ctx.state["views"] else {}
        ctx.observe(
            majority_trades=major_trades,
            minority_trades=minor_trades,
            heal_s=round(heal_s, 4) if healed_at is not None else None,
            live=len(swarm.live()),
        )
        return [
            at_least("trade decisions committed by the majority side during the partition", major_trades, 1),
            Check(
                "trade decisions committed by the minority side during the partition (split brain)",
                minor_trades == 0,
                "== 0",
                minor_trades,
            ),
            at_most("one view again after healing (s)", heal_s, float(ctx.params["heal_budget_s"])),
            is_true(
                "every agent sees every peer at the end",
                bool(final_views) and all(v == full for v in final_views.values()),
                f"{full} peers each",
                ",".join(str(v) for v in final_views.values()),
            ),
        ]
