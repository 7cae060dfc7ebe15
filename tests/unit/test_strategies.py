"""Strategies compute real signals from prices; the risk manager vetoes orders over limits."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarm_tui.agent import strategies as s


def test_momentum_thresholds() -> None:
    flat = [100.0] * 11
    assert s.momentum(flat)["action"] == "hold"
    up = [100.0] * 10 + [102.5]
    assert s.momentum(up)["action"] == "buy"
    down = [100.0] * 10 + [97.5]
    assert s.momentum(down)["action"] == "sell"
    assert s.momentum([100.0] * 10 + [101.9])["action"] == "hold"
    assert s.momentum([100.0] * 5)["reason"] == "warming up"


def test_mean_reversion_buys_low_and_sells_high() -> None:
    base = [100.0 + (0.1 if i % 2 else -0.1) for i in range(19)]
    assert s.mean_reversion([*base, 95.0])["action"] == "buy"
    assert s.mean_reversion([*base, 105.0])["action"] == "sell"
    assert s.mean_reversion([*base, 100.0])["action"] == "hold"


def test_pairs_trades_the_spread() -> None:
    a = [100.0 + (0.1 if i % 2 else -0.1) for i in range(29)]
    b = [100.0] * 30
    wide = s.pairs([*a, 103.0], b)
    assert wide["action"] == "sell" and wide["leg_b"] == "buy"
    narrow = s.pairs([*a, 97.0], b)
    assert narrow["action"] == "buy" and narrow["leg_b"] == "sell"


def test_arbitrage_needs_a_gap_over_costs() -> None:
    assert s.arbitrage(100.0, 100.05, cost_bps=6)["action"] == "hold"  # 5 bps < 12 bps of costs
    assert s.arbitrage(100.0, 100.20, cost_bps=6)["action"] == "buy"
    assert s.arbitrage(100.20, 100.0, cost_bps=6)["action"] == "sell"


def test_forecast_follows_the_trend() -> None:
    rising = [100.0 * math.exp(0.002 * i) for i in range(20)]
    assert s.forecast(rising)["action"] == "buy"
    assert s.forecast(list(reversed(rising)))["action"] == "sell"
    assert s.forecast([100.0] * 20)["action"] == "hold"


def test_risk_check_vetoes_orders_over_limits() -> None:
    order = {"symbol": "SPY", "side": "buy", "qty": 600, "price": 450.0}
    verdict = s.risk_check(order, {"SPY": 0.0}, {"max_position": 500})
    assert verdict["approved"] is False and "limit" in verdict["reason"]
    ok = s.risk_check({**order, "qty": 100}, {"SPY": 0.0}, {"max_position": 500})
    assert ok["approved"] is True
    exposure = s.risk_check({**order, "qty": 100}, {"__exposure__": 990_000}, {"max_exposure": 1_000_000})
    assert exposure["approved"] is False
    assert s.risk_check({"symbol": "SPY"}, {}, {})["reason"] == "malformed order"


def test_paper_fill_charges_slippage_and_fees() -> None:
    buy = s.paper_fill("buy", 10, 100.0, slippage_bps=10, fee_bps=5)
    sell = s.paper_fill("sell", 10, 100.0, slippage_bps=10, fee_bps=5)
    assert buy["price"] == pytest.approx(100.1)
    assert sell["price"] == pytest.approx(99.9)
    assert buy["fee"] == pytest.approx(10 * 100.1 * 5 / 10_000)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["a", "b", "c", "d", "e"]), st.floats(-5, 5, allow_nan=False), min_size=1),
    st.floats(0.0, 0.3),
)
def test_allocation_sums_to_one_respects_the_floor_and_ranks(scores, floor) -> None:
    alloc = s.allocate(scores, floor)
    assert sum(alloc.values()) == pytest.approx(1.0)
    assert min(alloc.values()) >= min(floor, 1.0 / len(scores)) - 1e-12
    best = sorted(scores, key=lambda k: (-scores[k], k))[0]
    assert alloc[best] == max(alloc.values())


def test_sharpe_and_var() -> None:
    assert s.sharpe([0.01, 0.01]) > 0
    assert s.sharpe([]) == 0.0
    assert s.value_at_risk([-0.05, 0.01, 0.02] * 10) == pytest.approx(0.05)
