"""Building blocks shared by the scenarios: deploying, load, market feed, trading, budgets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from swarm_tui.agent.kinds import STRATEGY_CAPABILITY
from swarm_tui.agent.strategies import BUY, SELL
from swarm_tui.engine.agents import Agent, AgentSpec
from swarm_tui.engine.controllers.failover import HeartbeatDetector, Replacer
from swarm_tui.engine.dispatch import Dispatcher, Task, TaskRecord
from swarm_tui.engine.events import TradeExecuted
from swarm_tui.engine.metrics import percentile
from swarm_tui.engine.scenario import ScenarioContext, ScenarioError
from swarm_tui.engine.swarm import Swarm
from swarm_tui.engine.trading import PaperBroker

WINDOW = 40  # prices a task carries
T = TypeVar("T")
Ctx = ScenarioContext[Any, Any]


def need(value: T | None, what: str = "the scenario's state") -> T:
    """A piece of run state the checks need; raises ScenarioError while it does not exist yet."""
    if value is None:
        raise ScenarioError(f"{what} does not exist yet (the run has not got that far)")
    return value


@dataclass
class DispatchState:
    """The run state of a scenario whose work goes through one dispatcher."""

    dispatcher: Dispatcher | None = None

    @property
    def records(self) -> list[TaskRecord]:
        return need(self.dispatcher, "the dispatcher").records


async def deploy(ctx: Ctx, swarm: Swarm, specs: list[AgentSpec]) -> list[Agent]:
    """Deploy agents concurrently; a scenario cannot start with an agent that failed to start."""
    agents = await swarm.deploy_many(specs)
    failed = [a for a in agents if not a.live]
    if failed:
        why = f": {failed[0].reason}" if failed[0].reason else ""
        raise ScenarioError(f"agent {failed[0].id} failed to start{why}")
    return agents


def agents_param(ctx: Ctx) -> list[AgentSpec]:
    specs = ctx.agent_specs()
    if not specs:
        raise ScenarioError(f"{ctx.scenario.id}: no agents configured")
    return specs


def by_role(specs: list[AgentSpec], role: str, *, need: int = 1, scenario: str = "") -> list[AgentSpec]:
    found = [s for s in specs if s.role == role]
    if len(found) < need:
        raise ScenarioError(f"{scenario}: needs at least {need} agent(s) with role {role!r}, got {len(found)}")
    return found


def start_failover(
    ctx: Ctx, swarm: Swarm, *, replace: bool = True, detect: bool = True
) -> tuple[HeartbeatDetector, Replacer]:
    """Heartbeat failure detection and replacement of failed agents."""
    detector = HeartbeatDetector(swarm, threshold=float(ctx.params.detector_threshold))
    replacer = Replacer(swarm, enabled=replace)
    if detect:
        swarm.spawn(detector.run(), name="heartbeat detector")
    return detector, replacer


async def launch(
    ctx: Ctx,
    topology: str | None = None,
    *,
    specs: list[AgentSpec] | None = None,
    feed: bool = True,
    tick_s: float = 0.5,
    replace: bool = True,
    detect: bool = True,
    faults: bool = True,
) -> tuple[Swarm, list[Agent]]:
    """The usual start of a scenario: a swarm, market history, the agents deployed, failure
    detection and replacement, the market feed (every ``tick_s``) and the fault schedule."""
    swarm = ctx.make_swarm(topology or ctx.scenario.topology)
    ctx.market.warm_up(WINDOW)
    agents = await deploy(ctx, swarm, specs if specs is not None else agents_param(ctx))
    start_failover(ctx, swarm, replace=replace, detect=detect)
    if feed:
        swarm.spawn(market_feed(ctx, tick_s), name="market feed")
    if faults:
        ctx.schedule_faults(ctx.scenario.faults())
    return swarm, agents


async def market_feed(ctx: Ctx, tick_s: float) -> None:
    """Advance the market one tick every ``tick_s`` seconds, forever.

    Each tick's time and VIX are kept in ``ctx.vix_series`` (what the VIX was, when).
    """
    series = ctx.vix_series
    while True:
        await ctx.clock.sleep(tick_s)
        tick = ctx.market.next_tick()
        series.append((ctx.clock.now(), tick.vix))


def signal_data(ctx: Ctx, strategy: str, symbols: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The data a strategy task carries: price windows (or venue quotes) from the market."""
    market = ctx.market
    if not symbols:
        raise ScenarioError(f"{ctx.scenario.id}: a {strategy} task needs a symbol")
    if strategy == "pairs":
        a, b = (symbols[0], symbols[1]) if len(symbols) > 1 else (symbols[0], "QQQ")
        return {
            "strategy": "pairs",
            "symbol_a": a,
            "symbol_b": b,
            "prices_a": market.window(a, WINDOW),
            "prices_b": market.window(b, WINDOW),
        }
    if strategy == "arbitrage":
        s = symbols[0]
        tick = market.last
        return {
            "strategy": "arbitrage",
            "symbol": s,
            "price_a": tick.prices.get(s, 0.0),
            "price_b": tick.venue_b.get(s, 0.0),
        }
    return {"strategy": strategy, "symbol": symbols[0], "prices": market.window(symbols[0], WINDOW)}


def signal_task(ctx: Ctx, strategy: str, symbols: tuple[str, ...] | list[str], cost: float = 0.0, **meta: Any) -> Task:
    return Task(
        op="signal",
        data=signal_data(ctx, strategy, symbols),
        cap=STRATEGY_CAPABILITY.get(strategy),
        cost=cost,
        meta={"strategy": strategy, "symbols": list(symbols), **meta},
    )


async def open_loop(
    ctx: Ctx,
    dispatcher: Dispatcher,
    rate: Callable[[float], float],
    duration: float,
    make_task: Callable[[int], Task],
    on_arrival: Callable[[float], None] | None = None,
) -> list[asyncio.Task[TaskRecord]]:
    """Poisson arrivals at ``rate(t)`` per second for ``duration`` seconds (seeded)."""
    rng = ctx.rng
    start = ctx.clock.now()
    spawned: list[asyncio.Task[TaskRecord]] = []
    n = 0
    while True:
        t = ctx.clock.now() - start
        r = rate(t)
        if r <= 0:
            await ctx.clock.sleep(0.1)
        else:
            await ctx.clock.sleep(rng.expovariate(r))
        if ctx.clock.now() - start >= duration:
            break
        if r > 0:
            if on_arrival is not None:
                on_arrival(ctx.clock.now())
            spawned.append(dispatcher.spawn(make_task(n)))
            n += 1
    return spawned


async def paced(
    ctx: Ctx, dispatcher: Dispatcher, count: int, interval: float, make_task: Callable[[int], Task]
) -> list[TaskRecord]:
    """``count`` tasks at a fixed interval; waits for all of them to finish."""
    spawned = []
    for i in range(count):
        spawned.append(dispatcher.spawn(make_task(i)))
        await ctx.clock.sleep(interval)
    return list(await asyncio.gather(*spawned))


def latency_budget_ms(ctx: Ctx) -> float:
    override = ctx.params.p95_budget_ms
    return float(override) if override else ctx.backend.capabilities.latency_budget_ms


def recovery_budget_s(ctx: Ctx) -> float:
    override = ctx.params.recovery_budget_s
    return float(override) if override else ctx.backend.capabilities.recovery_budget_s


def p(values: list[float], q: float) -> float:
    return round(percentile(values, q), 3) if values else 0.0


class Trader:
    """Turns signals into paper trades: each book holds +qty, -qty or nothing per symbol."""

    def __init__(self, ctx: Ctx, broker: PaperBroker | None = None, *, publish: bool = True) -> None:
        self.ctx = ctx
        self.broker = broker or PaperBroker()
        self.trades: dict[str, int] = {}
        self.publish = publish  # a shadow book (a benchmark to judge against) trades in silence

    def _fill(self, book: str, agent: str, symbol: str, side: str, qty: float, mid: float) -> None:
        # Every fill is an event: the dashboard books it per agent from there (live and in replay).
        price, fee = self.broker.execute(book, symbol, side, qty, mid)
        self.trades[book] = self.trades.get(book, 0) + 1
        if not self.publish:
            return
        self.ctx.bus.publish(
            TradeExecuted(
                t=self.ctx.clock.now(),
                scenario=self.ctx.scenario.id,
                agent=agent,
                strategy=book,
                symbol=symbol,
                side=side,
                qty=qty,
                price=price,
                fee=fee,
            )
        )

    def target(self, book: str, agent: str, symbol: str, action: str, qty: float, mid: float) -> bool:
        """Move the book's position in ``symbol`` to +qty (buy), -qty (sell); hold keeps it."""
        if action not in (BUY, SELL) or mid <= 0:
            return False
        want = qty if action == BUY else -qty
        have = self.broker.book(book).positions.get(symbol)
        current = have.qty if have else 0.0
        delta = want - current
        if abs(delta) < 1e-9:
            return False
        self._fill(book, agent, symbol, BUY if delta > 0 else SELL, abs(delta), mid)
        return True

    def arbitrage(
        self, book: str, agent: str, symbol: str, action: str, qty: float, price_a: float, price_b: float
    ) -> bool:
        """Buy on the cheap venue and sell on the dear one at once (realized at once)."""
        if action not in (BUY, SELL):
            return False
        cheap, dear = (price_a, price_b) if action == BUY else (price_b, price_a)
        self._fill(book, agent, symbol, BUY, qty, cheap)
        self._fill(book, agent, symbol, SELL, qty, dear)
        return True

    def marks(self) -> dict[str, float]:
        return dict(self.ctx.market.last.prices)

    def summary(self) -> dict[str, Any]:
        return self.broker.summary(self.marks())
