"""Multi-strategy: several strategies side by side, and capital rotated between them.

Every tick each strategy gets a task with the market data it needs; the dispatcher sends it only
to an agent with the strategy's capability. Signals become paper trades, so P&L, trade counts and
win rates are measured, not invented. The rotation scenario scores each strategy's sleeve by its
rolling risk-adjusted return and asks the portfolio agent for new allocations every 50 ticks.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from swarm_tui.agent.strategies import BUY, SELL, sharpe
from swarm_tui.engine.controllers.routing import RandomChoice, RoundRobin
from swarm_tui.engine.dispatch import Dispatcher, Task, TaskRecord
from swarm_tui.engine.events import Note
from swarm_tui.engine.params import AgentEntry, ScenarioParams, agents_default, param, threshold
from swarm_tui.engine.scenario import (
    Check,
    Scenario,
    ScenarioContext,
    ScenarioError,
    at_least,
    is_true,
)
from swarm_tui.patterns.common import Ctx, DispatchState, Trader, agents_param, launch, need, signal_task


def _sleeves(ctx: Ctx) -> list[tuple[str, list[str]]]:
    """(strategy, symbols) of every trading agent, in deploy order."""
    out = []
    for spec in agents_param(ctx):
        strategy = spec.resolved_strategy
        if strategy in ("momentum", "mean_reversion", "pairs", "arbitrage", "forecast"):
            symbols = list(spec.symbols) or ["SPY"]
            if strategy == "pairs" and len(symbols) < 2:
                symbols = [symbols[0], "QQQ" if symbols[0] != "QQQ" else "SPY"]
            out.append((strategy, symbols))
    if not out:
        raise ScenarioError(f"{ctx.scenario.id}: no trading agents configured")
    return out


def _act(trader: Trader, ctx: Ctx, book: str, rec: TaskRecord, strategy: str, symbols: list[str], qty: float) -> None:
    """Turn a signal into paper trades for the strategy's book."""
    if not rec.ok or not isinstance(rec.value, dict):
        return
    action = rec.value.get("action")
    if action not in (BUY, SELL) or qty <= 0:
        return
    prices = ctx.market.last.prices
    if strategy == "arbitrage":
        data = signal_task(ctx, "arbitrage", symbols).data
        trader.arbitrage(book, rec.agent, symbols[0], action, qty, data["price_a"], data["price_b"])
    elif strategy == "pairs":
        other = SELL if action == BUY else BUY
        trader.target(book, rec.agent, symbols[0], action, qty, prices[symbols[0]])
        trader.target(book, rec.agent, symbols[1], other, qty, prices[symbols[1]])
    else:
        trader.target(book, rec.agent, symbols[0], action, qty, prices[symbols[0]])


@dataclass
class TradingState(DispatchState):
    trader: Trader | None = None


class MixParams(ScenarioParams):
    agents: list[AgentEntry] = agents_default(
        {"kind": "momentum", "symbol": "SPY"},
        {"kind": "momentum", "symbol": "TSLA"},
        {"kind": "pairs", "symbols": ["SPY", "QQQ"]},
        {"kind": "pairs", "symbols": ["AAPL", "QQQ"]},
        {"kind": "arbitrage", "symbol": "AAPL"},
    )
    ticks: int = param(200, "market ticks; each strategy gets a task per tick", ge=1, le=100000)
    tick_s: float = param(0.1, "time between ticks (s)", gt=0.0, le=60.0)
    qty: float = param(10.0, "order size", gt=0.0)
    timeout_s: float = param(2.0, "a task's timeout (s)", gt=0.0, le=600.0)


class Mix(Scenario[MixParams, TradingState]):
    id = "multi-strategy.mix"
    pattern = "multi-strategy"
    topology = "mesh"
    title = "Strategy mix"
    summary = "2 momentum + 2 pairs + 1 arbitrage agent trade 200 ticks of real signals, routed by capability."
    Params = MixParams
    mechanism_help = {"capability_routing": "each task goes only to an agent with its strategy (off: round robin)"}

    def new_state(self) -> TradingState:
        return TradingState()

    async def run(self, ctx: ScenarioContext[MixParams, TradingState]) -> None:
        prm = ctx.params
        swarm, _ = await launch(ctx, feed=False)
        trader = Trader(ctx)
        routed = ctx.on("capability_routing")
        dispatcher = Dispatcher(
            swarm,
            RoundRobin() if routed else RandomChoice(ctx.seed),
            capacity=4,
            timeout=prm.timeout_s,
            match_capability=routed,
        )
        ctx.state.dispatcher, ctx.state.trader = dispatcher, trader
        sleeves = _sleeves(ctx)

        async def one(strategy: str, symbols: list[str]) -> None:
            rec = await dispatcher.submit(signal_task(ctx, strategy, symbols))
            _act(trader, ctx, strategy, rec, strategy, symbols, prm.qty)

        pending: list[asyncio.Task[None]] = []
        for _ in range(prm.ticks):
            ctx.market.next_tick()
            pending.extend(swarm.spawn(one(s, syms)) for s, syms in sleeves)
            await ctx.clock.sleep(prm.tick_s)
        await asyncio.gather(*pending)
        ctx.observe(strategies=trader.summary())

    def checks(self, ctx: ScenarioContext[MixParams, TradingState]) -> list[Check]:
        swarm = ctx.swarm
        records = ctx.state.records
        handled = [r for r in records if r.agent]
        matched = sum(1 for r in handled if r.cap in swarm.agents[r.agent].capabilities)
        share = matched / len(handled) if handled else 0.0
        summary = need(ctx.state.trader, "the trader").summary()
        strategies = sorted({s for s, _ in _sleeves(ctx)})
        idle = [s for s in strategies if summary.get(s, {}).get("trades", 0) == 0]
        return [
            at_least("tasks handled by an agent with the strategy", share, 1.0),
            is_true(
                "every strategy traded at least once",
                not idle,
                ", ".join(strategies),
                "idle: " + ", ".join(idle) if idle else "all traded",
                final_only=True,
            ),
            is_true(
                "P&L, trades and win rate measured for every strategy",
                all(s in summary for s in strategies) and not idle,
                "a book per strategy",
                f"{len(summary)} books",
                final_only=True,
            ),
        ]


@dataclass
class RotationState(TradingState):
    history: list[dict[str, Any]] = field(default_factory=list)


class RotationParams(ScenarioParams):
    agents: list[AgentEntry] = agents_default(
        {"kind": "portfolio", "role": "coordinator", "name": "portfolio"},
        {"kind": "momentum", "symbol": "TSLA"},
        {"kind": "mean_reversion", "symbol": "QQQ"},
        {"kind": "pairs", "symbols": ["SPY", "QQQ"]},
        {"kind": "arbitrage", "symbol": "AAPL"},
    )
    ticks: int = param(200, "market ticks", ge=1, le=100000)
    rebalance_every: int = param(50, "ticks between rebalances", ge=1, le=100000)
    tick_s: float = param(0.1, "time between ticks (s)", gt=0.0, le=60.0)
    capital: float = param(1_000_000.0, "capital shared by the strategies", gt=0.0)
    timeout_s: float = param(2.0, "a task's timeout (s)", gt=0.0, le=600.0)
    floor: float = threshold(0.10, "smallest allocation a strategy keeps", ge=0.0, le=1.0)


class Rotation(Scenario[RotationParams, RotationState]):
    id = "multi-strategy.rotation"
    pattern = "multi-strategy"
    topology = "hierarchical"
    title = "Capital rotation"
    summary = "4 strategies share capital; every 50 ticks the portfolio agent re-allocates by risk-adjusted return."
    Params = RotationParams
    mechanism_help = {"rotation": "capital moves towards the best risk-adjusted returns (off: fixed equal split)"}

    def new_state(self) -> RotationState:
        return RotationState()

    async def run(self, ctx: ScenarioContext[RotationParams, RotationState]) -> None:
        prm = ctx.params
        swarm, _ = await launch(ctx, feed=False)
        trader = Trader(ctx)
        dispatcher = Dispatcher(swarm, RoundRobin(), capacity=4, timeout=prm.timeout_s)
        sleeves = _sleeves(ctx)
        names = [s for s, _ in sleeves]
        if len(set(names)) != len(names):
            raise ScenarioError(f"{self.id}: one agent per strategy, got {names}")
        alloc = {s: 1.0 / len(names) for s in names}
        history = ctx.state.history
        history.append({"tick": 0, "alloc": dict(alloc), "scores": {}})
        returns: dict[str, list[float]] = {s: [] for s in names}
        last_pnl = dict.fromkeys(names, 0.0)
        ctx.state.dispatcher, ctx.state.trader = dispatcher, trader
        capital = prm.capital
        every = prm.rebalance_every

        async def one(strategy: str, symbols: list[str]) -> None:
            rec = await dispatcher.submit(signal_task(ctx, strategy, symbols))
            price = ctx.market.last.prices[symbols[0]]
            qty = round(alloc[strategy] * capital * 0.1 / price, 2)
            _act(trader, ctx, strategy, rec, strategy, symbols, qty)

        for tick in range(1, prm.ticks + 1):
            ctx.market.next_tick()
            await asyncio.gather(*(one(s, syms) for s, syms in sleeves))
            marks = trader.marks()
            for s in names:
                pnl = trader.broker.book(s).pnl(marks)
                returns[s].append((pnl - last_pnl[s]) / (alloc[s] * capital))
                last_pnl[s] = pnl
            if tick % every == 0:
                scores = {s: round(sharpe(returns[s][-every:]), 6) for s in names}
                if ctx.on("rotation"):
                    rec = await dispatcher.submit(
                        Task(op="allocate", cap="allocation", data={"scores": scores, "floor": prm.floor})
                    )
                    if not rec.ok:
                        raise ScenarioError(f"{self.id}: the portfolio agent failed to allocate: {rec.error}")
                    alloc = {k: float(v) for k, v in rec.value.items()}
                history.append({"tick": tick, "alloc": dict(alloc), "scores": scores})
                swarm.publish(
                    Note(
                        t=ctx.clock.now(),
                        text=f"rebalance at tick {tick}: " + ", ".join(f"{k} {v:.0%}" for k, v in alloc.items()),
                        data={"scores": scores, "alloc": alloc},
                    )
                )
            await ctx.clock.sleep(prm.tick_s)
        ctx.observe(
            strategies=trader.summary(),
            allocations=[{"tick": h["tick"], **{k: round(v, 4) for k, v in h["alloc"].items()}} for h in history],
        )

    def checks(self, ctx: ScenarioContext[RotationParams, RotationState]) -> list[Check]:
        floor = ctx.params.floor
        history = need(ctx.state.history or None, "the allocation history")
        rebalances = history[1:]
        best_ok = worst_ok = 0
        start = history[0]["alloc"]
        for cur in rebalances:
            scores, alloc = cur["scores"], cur["alloc"]
            ranked = sorted(scores, key=lambda k: (-scores[k], k))
            best, worst = ranked[0], ranked[-1]
            if alloc[best] >= max(alloc.values()) - 1e-12:
                best_ok += 1
            if alloc[worst] < start[worst] - 1e-12:
                worst_ok += 1
        sums_ok = all(abs(sum(h["alloc"].values()) - 1.0) < 1e-9 for h in history)
        low = min(min(h["alloc"].values()) for h in history)
        n = len(rebalances)
        summary = need(ctx.state.trader, "the trader").summary()
        return [
            is_true(
                "best performer holds the largest allocation after each rotation",
                n > 0 and best_ok == n,
                f"{n} of {n}",
                best_ok,
            ),
            is_true(
                "worst performer's allocation below its starting share after each rotation",
                n > 0 and worst_ok == n,
                f"{n} of {n}",
                worst_ok,
            ),
            is_true(
                "allocations sum to 100 % at every step",
                sums_ok,
                "100 %",
                ",".join(f"{sum(h['alloc'].values()):.4f}" for h in history),
            ),
            at_least("smallest allocation (floor)", round(low, 6), floor),
            is_true(
                "every strategy's P&L measured",
                len(summary) >= len(history[0]["alloc"]),
                f"{len(history[0]['alloc'])} books",
                len(summary),
                final_only=True,
            ),
        ]


SCENARIOS: tuple[type[Scenario[Any, Any]], ...] = (Mix, Rotation)
