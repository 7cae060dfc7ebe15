"""Hierarchical: a coordinator with workers under it.

Every task travels engine -> coordinator -> worker through the router, so the coordinator is on
the path for real (a dead coordinator stops the work). Results are shared with the other workers
through the coordinator, never worker to worker.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from swarm_tui.agent.strategies import BUY, SELL
from swarm_tui.engine.agents import Agent
from swarm_tui.engine.controllers.routing import LeastLoaded, RandomChoice, RoundRobin
from swarm_tui.engine.dispatch import Dispatcher, Sender, Task, TaskRecord
from swarm_tui.engine.events import OrderVetoed
from swarm_tui.engine.params import AgentEntry, Model, ScenarioParams, agents_default, param, threshold
from swarm_tui.engine.scenario import (
    Check,
    Scenario,
    ScenarioContext,
    at_least,
    at_most,
    is_true,
)
from swarm_tui.engine.swarm import RequestFailed, Swarm
from swarm_tui.patterns.common import (
    WINDOW,
    Ctx,
    DispatchState,
    Trader,
    agents_param,
    by_role,
    launch,
    need,
    p,
    paced,
    signal_data,
    signal_task,
)

COORDINATOR = {"kind": "coordinator", "role": "coordinator", "name": "coord"}


def via_coordinator(ctx: Ctx, swarm: Swarm, timeout: float, *, share: bool = True) -> Sender:
    """Send a task through the coordinator; share the result with the other workers."""

    async def send(worker: Agent, task: Task) -> Any:
        coordinators = swarm.live(role="coordinator")
        if not coordinators:
            raise RequestFailed("no live coordinator")
        coord = coordinators[0]
        await swarm.request(coord, "forward", {"to": worker.id}, timeout=timeout)
        value = await swarm.request(
            worker, task.op, task.data, cap=task.cap, cost=task.cost, src=coord.id, timeout=timeout
        )
        if share:
            symbol = task.data.get("symbol", "")
            note = {"type": "tick", "prices": {symbol: ctx.market.last.prices.get(symbol, 0.0)}}
            hierarchy = ctx.on("hierarchy")
            for other in swarm.live(role="worker"):
                if other is not worker:
                    # Through the coordinator (hierarchy) or directly to the peer (flat).
                    swarm.router.send(coord.id if hierarchy else worker.id, other.id, note)
        return value

    return send


def _topology(ctx: Ctx) -> str:
    return "hierarchical" if ctx.on("hierarchy") else "mesh"


class CoordinatorWorkersParams(ScenarioParams):
    agents: list[AgentEntry] = agents_default(
        COORDINATOR, {"kind": "momentum", "role": "worker", "symbol": "SPY", "count": 4}
    )
    tasks: int = param(40, "tasks assigned through the coordinator", ge=1, le=100000)
    interval_s: float = param(0.25, "time between tasks (s)", gt=0.0, le=60.0)
    timeout_s: float = param(2.0, "a task's timeout (s)", gt=0.0, le=600.0)
    tick_s: float = param(0.5, "market tick interval (s)", gt=0.0, le=60.0)


class CoordinatorWorkers(Scenario[CoordinatorWorkersParams, DispatchState]):
    id = "hierarchical.coordinator-workers"
    pattern = "hierarchical"
    topology = "hierarchical"
    title = "Coordinator and workers"
    summary = "A portfolio coordinator assigns 40 tasks to 4 momentum workers; no worker talks to another."
    Params = CoordinatorWorkersParams
    mechanism_help = {"hierarchy": "workers reach each other only through the coordinator (off: a flat mesh)"}

    def new_state(self) -> DispatchState:
        return DispatchState()

    async def run(self, ctx: ScenarioContext[CoordinatorWorkersParams, DispatchState]) -> None:
        prm = ctx.params
        specs = agents_param(ctx)
        by_role(specs, "coordinator", scenario=self.id)
        by_role(specs, "worker", need=2, scenario=self.id)
        swarm, _ = await launch(ctx, _topology(ctx), specs=specs, tick_s=prm.tick_s)
        dispatcher = Dispatcher(
            swarm,
            RoundRobin(),
            role="worker",
            capacity=2,
            timeout=prm.timeout_s,
            send=via_coordinator(ctx, swarm, prm.timeout_s),
        )
        ctx.state.dispatcher = dispatcher
        await paced(ctx, dispatcher, prm.tasks, prm.interval_s, lambda i: signal_task(ctx, "momentum", ["SPY"]))

    def checks(self, ctx: ScenarioContext[CoordinatorWorkersParams, DispatchState]) -> list[Check]:
        swarm = ctx.swarm
        coord = swarm.members(role="coordinator")
        workers = swarm.members(role="worker")
        coord_links = swarm.topology.degree(coord[0].id) if coord else 0
        worker_links = [swarm.topology.degree(w.id) for w in workers]
        ids = {w.id for w in workers}
        w2w = swarm.router.between(ids)
        records = ctx.state.records
        done = sum(1 for r in records if r.ok)
        got = Counter(r.agent for r in records if r.ok)
        idle = [w.id for w in workers if got[w.id] == 0]
        ctx.observe(worker_to_worker_messages=w2w, tasks_per_worker={w.id: got[w.id] for w in workers})
        return [
            is_true(
                "coordinator linked to every worker", coord_links == len(workers), f"{len(workers)} links", coord_links
            ),
            is_true(
                "each worker linked only to the coordinator",
                bool(worker_links) and all(x == 1 for x in worker_links),
                "1 link each",
                f"{min(worker_links, default=0)}..{max(worker_links, default=0)}",
            ),
            Check("worker-to-worker messages", w2w == 0, "== 0", w2w),
            is_true("all tasks complete", done == ctx.params.tasks, f"{ctx.params.tasks}", done, final_only=True),
            is_true(
                "every worker got work", not idle, "no idle worker", ",".join(idle) or "all worked", final_only=True
            ),
        ]


class Limits(Model):
    """The risk specialist's limits."""

    max_position: float = param(500.0, "largest position per symbol", gt=0.0)
    max_order_notional: float = param(500000.0, "largest order value", gt=0.0)
    max_exposure: float = param(2000000.0, "largest gross exposure", gt=0.0)


@dataclass
class MultiStrategyState(DispatchState):
    orders: list[dict[str, Any]] = field(default_factory=list)
    unroutable: TaskRecord | None = None
    oversize: dict[str, Any] | None = None


class MultiStrategyParams(ScenarioParams):
    agents: list[AgentEntry] = agents_default(
        COORDINATOR,
        {"kind": "momentum", "role": "worker", "symbol": "TSLA"},
        {"kind": "mean_reversion", "role": "worker", "symbol": "QQQ"},
        {"kind": "forecaster", "role": "worker", "symbol": "SPY"},
        {"kind": "risk", "role": "worker"},
    )
    tasks: int = param(40, "capability tasks", ge=1, le=100000)
    interval_s: float = param(0.25, "time between tasks (s)", gt=0.0, le=60.0)
    timeout_s: float = param(2.0, "a task's timeout (s)", gt=0.0, le=600.0)
    tick_s: float = param(0.5, "market tick interval (s)", gt=0.0, le=60.0)
    order_qty: float = param(50.0, "size of an order a signal places", gt=0.0)
    oversize_qty: float = param(1000.0, "size of the deliberately oversized order", gt=0.0)
    limits: Limits = param(Limits(), "the risk specialist's limits")
    unroutable_capability: str = param("arbitrage", "a capability no agent has (its task must be rejected)")


class MultiStrategy(Scenario[MultiStrategyParams, MultiStrategyState]):
    id = "hierarchical.multi-strategy"
    pattern = "hierarchical"
    topology = "hierarchical"
    title = "Multi-strategy specialists"
    summary = (
        "A coordinator routes 40 tasks by capability to momentum, mean-reversion, forecaster and "
        "risk specialists; orders pass the risk specialist."
    )
    Params = MultiStrategyParams
    mechanism_help = {
        "capability_routing": "a task goes only to an agent with the capability it needs (off: round robin)",
        "risk_checks": "every order passes the risk specialist, who can veto it (off: orders go straight out)",
    }
    PLAN = (("momentum", "TSLA"), ("mean_reversion", "QQQ"), ("forecast", "SPY"))

    def new_state(self) -> MultiStrategyState:
        return MultiStrategyState()

    async def run(self, ctx: ScenarioContext[MultiStrategyParams, MultiStrategyState]) -> None:
        prm = ctx.params
        specs = agents_param(ctx)
        by_role(specs, "coordinator", scenario=self.id)
        swarm, _ = await launch(ctx, specs=specs, tick_s=prm.tick_s)
        trader = Trader(ctx)
        routed = ctx.on("capability_routing")
        dispatcher = Dispatcher(
            swarm,
            RoundRobin() if routed else RandomChoice(ctx.seed),
            role="worker",
            capacity=2,
            timeout=prm.timeout_s,
            match_capability=routed,
            retry_errors=False,
            send=via_coordinator(ctx, swarm, prm.timeout_s, share=False),
        )
        st = ctx.state
        st.dispatcher = dispatcher
        orders = st.orders
        limits = prm.limits.model_dump()

        async def place(symbol: str, side: str, qty: float, strategy: str) -> None:
            price = ctx.market.last.prices[symbol]
            book = trader.broker.book(strategy)
            positions: dict[str, float] = {s: pos.qty for s, pos in book.positions.items()}
            positions["__exposure__"] = book.exposure(trader.marks())
            order = {"symbol": symbol, "side": side, "qty": qty, "price": price}
            verdict: dict[str, Any] = {"approved": True, "reason": "no risk check"}
            judged = False  # a risk specialist answered with a verdict
            if ctx.on("risk_checks"):
                rec = await dispatcher.submit(
                    Task(
                        op="risk_check",
                        cap="risk_assessment",
                        data={"order": order, "positions": positions, "limits": limits},
                    )
                )
                verdict = rec.value if rec.ok else {"approved": False, "reason": f"risk check failed: {rec.error}"}
                judged = rec.ok
            executed = bool(verdict.get("approved"))
            if executed:
                trader.target(strategy, strategy, symbol, side, qty, price)
            else:
                swarm.publish(
                    OrderVetoed(
                        t=ctx.clock.now(),
                        agent=strategy,
                        symbol=symbol,
                        side=side,
                        qty=qty,
                        reason=str(verdict.get("reason")),
                    )
                )
            orders.append(
                {
                    **order,
                    "strategy": strategy,
                    "executed": executed,
                    "reason": verdict.get("reason"),
                    "risk_checked": ctx.on("risk_checks"),
                    "judged": judged,
                }
            )

        async def one(i: int) -> None:
            strategy, symbol = self.PLAN[i % len(self.PLAN)]
            rec = await dispatcher.submit(signal_task(ctx, strategy, [symbol]))
            if rec.ok and rec.value.get("action") in (BUY, SELL):
                await place(symbol, rec.value["action"], prm.order_qty, strategy)

        spawned = []
        for i in range(prm.tasks):
            spawned.append(swarm.spawn(one(i)))
            await ctx.clock.sleep(prm.interval_s)
        # A task whose capability nobody has, and an order far over the position limit.
        st.unroutable = await dispatcher.submit(
            Task(op="signal", cap=prm.unroutable_capability, data=signal_data(ctx, "arbitrage", ["AAPL"]))
        )
        await place("SPY", BUY, prm.oversize_qty, "oversize")
        st.oversize = orders[-1]
        for task in spawned:
            await task
        ctx.observe(orders=len(orders), vetoed=sum(1 for o in orders if not o["executed"]), pnl=trader.summary())

    def checks(self, ctx: ScenarioContext[MultiStrategyParams, MultiStrategyState]) -> list[Check]:
        swarm = ctx.swarm
        st = ctx.state
        records = [r for r in st.records if r.cap and r is not st.unroutable]
        routed = [r for r in records if r.agent]
        # Answered by an agent with the capability: a task routed right but answered with an
        # error was not handled (a specialist that fails every task must not pass).
        matched = sum(1 for r in routed if r.ok and r.cap in swarm.agents[r.agent].capabilities)
        share = matched / len(routed) if routed else 0.0
        unchecked = sum(1 for o in st.orders if o["executed"] and not o["risk_checked"])
        ctx.observe(capability_match=round(share, 4))
        checks = [at_least("tasks handled by an agent with the capability", share, 1.0)]
        name = "task with an unknown capability rejected with a reason"
        if st.unroutable is None:
            checks.append(ctx.not_yet(name, "rejected, with a reason", "not sent yet", "never sent"))
        else:
            unroutable = st.unroutable
            checks.append(
                is_true(
                    name,
                    unroutable.outcome == "rejected" and bool(unroutable.error),
                    "rejected, with a reason",
                    f"{unroutable.outcome}: {unroutable.error or '-'}",
                )
            )
        name = "order over the position limit vetoed"
        if st.oversize is None:
            checks.append(ctx.not_yet(name, "vetoed", "not placed yet", "never placed"))
        else:
            oversize = st.oversize
            # Vetoed by the risk specialist's verdict, by a specialist that approves orders within
            # the limits: a risk check that could not run, or one that vetoes everything, vetoes
            # the oversized order too without showing that the limit works.
            within = [o for o in st.orders if o is not oversize and o["judged"]]
            approved = sum(1 for o in within if o["executed"])
            checks.append(
                is_true(
                    name,
                    not oversize["executed"] and oversize["judged"] and approved > 0,
                    "vetoed",
                    f"{'executed' if oversize['executed'] else 'vetoed'}: {oversize['reason']}; "
                    f"{approved} of {len(within)} orders within the limits approved",
                )
            )
        checks.append(Check("orders executed without a risk check", unchecked == 0, "== 0", unchecked))
        return checks


class LoadBalancingParams(ScenarioParams):
    agents: list[AgentEntry] = agents_default(
        COORDINATOR, {"kind": "momentum", "role": "worker", "symbol": "AAPL", "count": 5}
    )
    tasks: int = param(50, "tasks of uneven cost", ge=1, le=100000)
    interval_s: float = param(0.12, "time between tasks (s)", gt=0.0, le=60.0)
    cost_median_s: float = param(0.4, "median cost of a task (s)", ge=0.0, le=600.0)
    cost_sigma: float = param(0.6, "spread of the costs (lognormal sigma)", ge=0.0, le=5.0)
    timeout_s: float = param(10.0, "a task's timeout (s)", gt=0.0, le=600.0)
    tick_s: float = param(0.5, "market tick interval (s)", gt=0.0, le=60.0)
    max_share_pct: float = threshold(30.0, "largest share of the work one worker may take (%)", gt=0.0, le=100.0)


class LoadBalancing(Scenario[LoadBalancingParams, DispatchState]):
    id = "hierarchical.load-balancing"
    pattern = "hierarchical"
    topology = "hierarchical"
    title = "Load balancing"
    summary = "50 tasks of uneven cost go to 5 workers, least loaded first, from one queue."
    Params = LoadBalancingParams
    mechanism_help = {"least_loaded": "one queue, least-loaded worker first (off: tasks pinned round robin)"}

    def new_state(self) -> DispatchState:
        return DispatchState()

    async def run(self, ctx: ScenarioContext[LoadBalancingParams, DispatchState]) -> None:
        prm = ctx.params
        swarm, _ = await launch(ctx, tick_s=prm.tick_s)
        on = ctx.on("least_loaded")
        dispatcher = Dispatcher(
            swarm,
            LeastLoaded() if on else RoundRobin(),
            role="worker",
            capacity=1,
            pinned=not on,
            timeout=prm.timeout_s,
            send=via_coordinator(ctx, swarm, prm.timeout_s, share=False),
        )
        ctx.state.dispatcher = dispatcher
        costs = [ctx.rng.lognormvariate(0.0, prm.cost_sigma) * prm.cost_median_s for _ in range(prm.tasks)]
        await paced(
            ctx,
            dispatcher,
            len(costs),
            prm.interval_s,
            lambda i: Task(op="work", data={"prices": ctx.market.window("AAPL", WINDOW)}, cost=costs[i]),
        )

    def checks(self, ctx: ScenarioContext[LoadBalancingParams, DispatchState]) -> list[Check]:
        d = need(ctx.state.dispatcher, "the dispatcher")
        ok = [r for r in d.records if r.ok]
        work: Counter[str] = Counter()
        for r in ok:
            work[r.agent] += r.cost  # type: ignore[assignment]
        total = sum(work.values())
        shares = {a: round(100.0 * w / total, 3) for a, w in sorted(work.items())} if total else {}
        largest = max(shares.values(), default=100.0)
        waits = [r.wait * 1000.0 for r in d.records]
        ctx.observe(
            work_share_pct=shares,
            queue_wait_ms={"p50": p(waits, 50), "p95": p(waits, 95)},
            idle_wait_s=round(d.idle_wait_s, 4),
        )
        return [
            at_most("largest share of the work (%)", largest, ctx.params.max_share_pct, final_only=True),
            Check(
                "time a task waited while a worker sat idle (s)", d.idle_wait_s <= 1e-9, "== 0", round(d.idle_wait_s, 4)
            ),
            is_true(
                "all tasks complete",
                len(ok) == len(d.records) == ctx.params.tasks,
                f"{ctx.params.tasks}",
                len(ok),
                final_only=True,
            ),
        ]


SCENARIOS: tuple[type[Scenario[Any, Any]], ...] = (CoordinatorWorkers, MultiStrategy, LoadBalancing)
