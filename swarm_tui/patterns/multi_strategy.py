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
        # Answered by an agent with the strategy (a task routed right and answered with an error
        # was not handled: an agent that fails every task must not pass).
        matched = sum(1 for r in handled if r.ok and r.cap in swarm.agents[r.agent].capabilities)
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
    # Per-tick returns of the whole book (P&L change over capital), rotated and equal-weight.
    rotated_returns: list[float] = field(default_factory=list)
    equal_returns: list[float] = field(default_factory=list)


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
    min_rotation_points: float = threshold(
        1.0, "the rotation moves some strategy's share at least this far from equal (points)", ge=0.0
    )
    max_shortfall: float = threshold(
        0.1, "the rotated book may trail equal weights by at most this Sharpe difference (95 % bound)", ge=0.0
    )


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

        # The same signals, traded with the capital split equally and never rotated: what the
        # rotation is judged against, tick by tick, on the same prices.
        equal = Trader(ctx, publish=False)
        equal_share = 1.0 / len(names)
        book_pnl = {"rotated": 0.0, "equal": 0.0}

        async def one(strategy: str, symbols: list[str]) -> None:
            rec = await dispatcher.submit(signal_task(ctx, strategy, symbols))
            price = ctx.market.last.prices[symbols[0]]
            qty = round(alloc[strategy] * capital * 0.1 / price, 2)
            _act(trader, ctx, strategy, rec, strategy, symbols, qty)
            _act(equal, ctx, strategy, rec, strategy, symbols, round(equal_share * capital * 0.1 / price, 2))

        for tick in range(1, prm.ticks + 1):
            ctx.market.next_tick()
            await asyncio.gather(*(one(s, syms) for s, syms in sleeves))
            marks = trader.marks()
            for key, broker in (("rotated", trader.broker), ("equal", equal.broker)):
                total = sum(b.pnl(marks) for b in broker.books.values())
                series = ctx.state.rotated_returns if key == "rotated" else ctx.state.equal_returns
                series.append((total - book_pnl[key]) / capital)
                book_pnl[key] = total
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
        prm = ctx.params
        history = need(ctx.state.history or None, "the allocation history")
        rebalances = history[1:]
        start = history[0]["alloc"]
        moved = max((abs(h["alloc"][k] - start[k]) for h in rebalances for k in start), default=0.0)
        sums_ok = all(abs(sum(h["alloc"].values()) - 1.0) < 1e-6 for h in history)
        low = min(min(h["alloc"].values()) for h in history)
        summary = need(ctx.state.trader, "the trader").summary()
        checks = [
            is_true(
                "allocations sum to 100 % at every step (the portfolio agent's answers)",
                sums_ok,
                "100 %",
                ",".join(f"{sum(h['alloc'].values()):.4f}" for h in history),
            ),
            at_least("smallest allocation (floor)", round(low, 6), prm.floor),
            at_least(
                "capital rotated: largest move of a strategy's share from equal (points)",
                round(100.0 * moved, 3),
                prm.min_rotation_points,
                final_only=not rebalances,
            ),
        ]
        name = (
            "rotated book's risk-adjusted return against equal weights on the same ticks "
            "(Sharpe difference, 95 % lower bound)"
        )
        after = prm.rebalance_every  # from the first rotation on
        rotated, equal = ctx.state.rotated_returns[after:], ctx.state.equal_returns[after:]
        if len(rotated) < 10:
            checks.append(ctx.not_yet(name, f">= -{prm.max_shortfall:g}", "not enough ticks yet", "not enough ticks"))
        else:
            diff, low_ci, high_ci = sharpe_difference(rotated, equal, seed=ctx.seed)
            ctx.observe(sharpe_difference={"value": round(diff, 4), "low": round(low_ci, 4), "high": round(high_ci, 4)})
            checks.append(
                Check(
                    name,
                    low_ci >= -prm.max_shortfall,
                    f">= -{prm.max_shortfall:g} (rotation costs no risk-adjusted return)",
                    f"{diff:+.3f} [{low_ci:+.3f}, {high_ci:+.3f}]",
                    final_only=not ctx.final,
                )
            )
        # A book exists for every strategy from the first tick on (its P&L is read each tick), so
        # a P&L is measured only where the strategy traded: a sleeve that never traded has none.
        traded = sum(1 for k in start if summary.get(k, {}).get("trades", 0) > 0)
        checks.append(
            is_true(
                "every strategy's P&L measured",
                traded == len(start),
                f"{len(start)} books",
                traded,
                final_only=True,
            )
        )
        return checks


def sharpe_difference(rotated: list[float], equal: list[float], *, seed: int) -> tuple[float, float, float]:
    """Sharpe(rotated) - Sharpe(equal) over paired per-tick returns, with a paired bootstrap 95 % interval."""
    import numpy as np
    from scipy.stats import bootstrap

    def stat(a: Any, b: Any, axis: int = -1) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):
            sa = np.nan_to_num(a.mean(axis=axis) / a.std(axis=axis, ddof=1))
            sb = np.nan_to_num(b.mean(axis=axis) / b.std(axis=axis, ddof=1))
        return sa - sb

    a, b = np.asarray(rotated), np.asarray(equal)
    point = float(stat(a, b))
    ci = bootstrap(
        (a, b),
        stat,
        paired=True,
        vectorized=True,
        n_resamples=400,
        method="percentile",
        rng=np.random.default_rng(seed),
    ).confidence_interval
    return point, float(ci.low), float(ci.high)


SCENARIOS: tuple[type[Scenario[Any, Any]], ...] = (Mix, Rotation)
