"""Trading strategies, the risk check and paper fills: pure functions of prices.

Standard library only: this module is shipped into sandboxes as part of the agent program, and
the engine imports the very same code, so an agent in a sandbox and the engine's own reference
computation always agree.

A signal is a dict: ``{"action": "buy"|"sell"|"hold", "strength": float, ...}``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

BUY, SELL, HOLD = "buy", "sell", "hold"
ACTIONS = (BUY, SELL, HOLD)


def _hold(reason: str, **extra: Any) -> dict[str, Any]:
    return {"action": HOLD, "strength": 0.0, "reason": reason, **extra}


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / n
    return mean, math.sqrt(var)


def momentum(prices: Sequence[float], lookback: int = 10, threshold: float = 0.02) -> dict[str, Any]:
    """N-period % change: buy above +threshold, sell below -threshold."""
    if len(prices) <= lookback:
        return _hold("warming up")
    change = prices[-1] / prices[-1 - lookback] - 1.0
    strength = min(1.0, abs(change) / (2 * threshold))
    if change > threshold:
        return {"action": BUY, "strength": strength, "change": change}
    if change < -threshold:
        return {"action": SELL, "strength": strength, "change": change}
    return {"action": HOLD, "strength": 0.0, "change": change}


def mean_reversion(prices: Sequence[float], window: int = 20, z_entry: float = 2.0) -> dict[str, Any]:
    """Z-score of the last price against the rolling mean: buy below -z, sell above +z."""
    if len(prices) < window:
        return _hold("warming up")
    mean, std = _mean_std(prices[-window:])
    if std <= 0:
        return _hold("flat prices", z=0.0)
    z = (prices[-1] - mean) / std
    strength = min(1.0, abs(z) / (2 * z_entry))
    if z < -z_entry:
        return {"action": BUY, "strength": strength, "z": z}
    if z > z_entry:
        return {"action": SELL, "strength": strength, "z": z}
    return {"action": HOLD, "strength": 0.0, "z": z}


def pairs(
    prices_a: Sequence[float], prices_b: Sequence[float], window: int = 30, z_entry: float = 2.0
) -> dict[str, Any]:
    """Z-score of the log spread between two correlated symbols.

    The action is for leg A; leg B takes the opposite side. A spread far above its mean sells A
    and buys B; far below buys A and sells B.
    """
    n = min(len(prices_a), len(prices_b))
    if n < window:
        return _hold("warming up")
    spread = [math.log(a) - math.log(b) for a, b in zip(prices_a[-window:], prices_b[-window:], strict=True)]
    mean, std = _mean_std(spread)
    if std <= 0:
        return _hold("flat spread", z=0.0)
    z = (spread[-1] - mean) / std
    strength = min(1.0, abs(z) / (2 * z_entry))
    if z > z_entry:
        return {"action": SELL, "strength": strength, "z": z, "leg_b": BUY}
    if z < -z_entry:
        return {"action": BUY, "strength": strength, "z": z, "leg_b": SELL}
    return {"action": HOLD, "strength": 0.0, "z": z}


def arbitrage(price_a: float, price_b: float, cost_bps: float = 6.0) -> dict[str, Any]:
    """The same symbol on two venues: trade when the gap exceeds the round-trip costs.

    ``buy`` means buy on venue A and sell on venue B (B is dearer); ``sell`` the reverse.
    """
    if price_a <= 0 or price_b <= 0:
        return _hold("bad quote")
    gap_bps = (price_b - price_a) / price_a * 10_000
    costs = 2 * cost_bps
    if gap_bps > costs:
        return {"action": BUY, "strength": min(1.0, gap_bps / (4 * costs)), "gap_bps": gap_bps}
    if gap_bps < -costs:
        return {"action": SELL, "strength": min(1.0, -gap_bps / (4 * costs)), "gap_bps": gap_bps}
    return {"action": HOLD, "strength": 0.0, "gap_bps": gap_bps}


def forecast(prices: Sequence[float], window: int = 20, threshold: float = 0.0005) -> dict[str, Any]:
    """Trend forecast: least-squares slope over the window, as a fraction of price per tick.

    Confidence grows with the slope's t-statistic.
    """
    if len(prices) < window:
        return _hold("warming up", confidence=0.0)
    ys = [math.log(p) for p in prices[-window:]]
    n = len(ys)
    xm = (n - 1) / 2
    ym = sum(ys) / n
    sxx = sum((i - xm) ** 2 for i in range(n))
    sxy = sum((i - xm) * (y - ym) for i, y in enumerate(ys))
    slope = sxy / sxx
    resid = [y - (ym + slope * (i - xm)) for i, y in enumerate(ys)]
    se = math.sqrt(sum(r * r for r in resid) / max(1, n - 2) / sxx) if n > 2 else 0.0
    t_stat = slope / se if se > 0 else (math.inf if slope else 0.0)
    confidence = round(min(1.0, abs(t_stat) / 4.0), 4)
    if slope > threshold:
        return {"action": BUY, "strength": confidence, "confidence": confidence, "slope": slope}
    if slope < -threshold:
        return {"action": SELL, "strength": confidence, "confidence": confidence, "slope": slope}
    return {"action": HOLD, "strength": 0.0, "confidence": confidence, "slope": slope}


def risk_check(order: Mapping[str, Any], positions: Mapping[str, float], limits: Mapping[str, float]) -> dict[str, Any]:
    """Approve or veto an order against position and exposure limits.

    ``order``: symbol, side, qty, price. ``positions``: symbol -> signed quantity (and, under
    the key ``"__exposure__"``, the current gross notional). ``limits``: ``max_position`` (units
    per symbol), ``max_order_notional`` and ``max_exposure`` (gross notional).
    """
    try:
        symbol = str(order["symbol"])
        side = str(order["side"])
        qty = float(order["qty"])
        price = float(order["price"])
    except (KeyError, TypeError, ValueError):
        return {"approved": False, "reason": "malformed order"}
    if side not in (BUY, SELL) or qty <= 0 or price <= 0:
        return {"approved": False, "reason": "malformed order"}
    signed = qty if side == BUY else -qty
    new_pos = float(positions.get(symbol, 0.0)) + signed
    max_pos = float(limits.get("max_position", math.inf))
    if abs(new_pos) > max_pos:
        return {
            "approved": False,
            "reason": f"position {new_pos:g} {symbol} would exceed limit {max_pos:g}",
        }
    notional = qty * price
    max_order = float(limits.get("max_order_notional", math.inf))
    if notional > max_order:
        return {"approved": False, "reason": f"order notional {notional:.0f} over limit {max_order:.0f}"}
    exposure = float(positions.get("__exposure__", 0.0)) + notional
    max_exp = float(limits.get("max_exposure", math.inf))
    if exposure > max_exp:
        return {"approved": False, "reason": f"exposure {exposure:.0f} over limit {max_exp:.0f}"}
    return {"approved": True, "reason": "within limits"}


def paper_fill(side: str, qty: float, mid: float, slippage_bps: float = 2.0, fee_bps: float = 1.0) -> dict[str, float]:
    """A paper fill: the price moves against us by the slippage; the fee is on the notional."""
    sign = 1.0 if side == BUY else -1.0
    price = mid * (1.0 + sign * slippage_bps / 10_000)
    fee = abs(qty) * price * fee_bps / 10_000
    return {"price": price, "fee": fee}


def allocate(scores: Mapping[str, float], floor: float = 0.1) -> dict[str, float]:
    """Rank-weighted capital allocation with a floor per strategy; sums to 1.

    Strategies are ranked by score (ties broken by name); rank weights n..1 share what is left
    after every strategy got its floor.
    """
    names = sorted(scores, key=lambda k: (-scores[k], k))
    n = len(names)
    if n == 0:
        return {}
    floor = min(floor, 1.0 / n)
    spare = 1.0 - floor * n
    total_rank = n * (n + 1) / 2
    out = {name: floor + spare * (n - i) / total_rank for i, name in enumerate(names)}
    return {k: out[k] for k in sorted(out)}


def sharpe(returns: Sequence[float]) -> float:
    """Mean over standard deviation of per-period returns (0 with fewer than 2 points)."""
    if len(returns) < 2:
        return 0.0
    mean, std = _mean_std(returns)
    if std <= 1e-12:
        return 0.0 if abs(mean) < 1e-12 else math.copysign(1e6, mean)
    return mean / std


def value_at_risk(returns: Sequence[float], confidence: float = 0.95) -> float:
    """Historical value at risk of a return series (a positive loss fraction)."""
    if not returns:
        return 0.0
    data = sorted(returns)
    idx = max(0, min(len(data) - 1, int((1 - confidence) * len(data))))
    return max(0.0, -data[idx])
