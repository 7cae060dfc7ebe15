"""An agent of your own for swarm-tui, in Python: standard library only, on the helper module.

It is a small trading desk of its own: momentum, mean-reversion and trend-forecast signals,
votes, value-at-risk work units, a risk check against position limits, paper fills, data
collection and task forwarding. It computes everything itself (none of swarm-tui's strategy
code); the helper module (``swarm_tui.agent.sdk``) speaks the protocol for it.

Run it alone (it reads JSON lines on stdin)::

    SWARM_AGENT_CONFIG='{"agent_id": "me", "kind": "momentum", "heartbeat_s": 1}' python3 agent.py

check it, and run the catalogue with it::

    swarm-tui agent check -- python3 examples/agents/python/agent.py
    swarm-tui run --backend local --agent-command "python3 examples/agents/python/agent.py"
"""

from __future__ import annotations

import itertools
import math
import sys
from typing import Any

from swarm_tui.agent import sdk

PROGRAM = "example-python/1.0"


def mean_std(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


class DeskAgent(sdk.Agent):
    """Version 1 of the desk."""

    program = PROGRAM
    strategies = ("momentum", "mean_reversion", "forecast")
    # CPU and memory faults: the helper performs them in this process. Error rates, slowness and
    # random answers are left to swarm-tui, which applies them to the answers from outside.
    faults = ("cpu-spike", "memory-leak")

    # -- signals -------------------------------------------------------------------------------
    def window(self, data: dict[str, Any], key: str = "prices", symbol_key: str = "symbol") -> list[float]:
        prices = data.get(key)
        if prices is None:
            return self.prices(data.get(symbol_key))
        return [float(p) for p in prices]

    def setting(self, data: dict[str, Any], name: str, default: float) -> float:
        return float(data.get(name, self.params.get(name, default)))

    def momentum(self, prices: list[float], data: dict[str, Any]) -> dict[str, Any]:
        lookback = int(self.setting(data, "lookback", 10))
        threshold = self.setting(data, "threshold", 0.02)
        if len(prices) <= lookback:
            return {"action": "hold", "strength": 0.0, "reason": "warming up"}
        change = prices[-1] / prices[-1 - lookback] - 1.0
        strength = min(1.0, abs(change) / (2 * threshold))
        action = "buy" if change > threshold else "sell" if change < -threshold else "hold"
        return {"action": action, "strength": strength if action != "hold" else 0.0, "change": change}

    def mean_reversion(self, prices: list[float], data: dict[str, Any]) -> dict[str, Any]:
        window = int(self.setting(data, "window", 20))
        z_entry = self.setting(data, "z", 2.0)
        if len(prices) < window:
            return {"action": "hold", "strength": 0.0, "reason": "warming up"}
        mean, std = mean_std(prices[-window:])
        z = (prices[-1] - mean) / std if std > 0 else 0.0
        action = "buy" if z < -z_entry else "sell" if z > z_entry else "hold"
        return {"action": action, "strength": min(1.0, abs(z) / (2 * z_entry)) if action != "hold" else 0.0, "z": z}

    def forecast(self, prices: list[float], data: dict[str, Any]) -> dict[str, Any]:
        window = int(self.setting(data, "window", 20))
        if len(prices) < window:
            return {"action": "hold", "strength": 0.0, "confidence": 0.0, "reason": "warming up"}
        ys = [math.log(p) for p in prices[-window:]]
        n = len(ys)
        xm, ym = (n - 1) / 2, sum(ys) / n
        sxx = sum((i - xm) ** 2 for i in range(n))
        slope = sum((i - xm) * (y - ym) for i, y in enumerate(ys)) / sxx
        resid = [y - (ym + slope * (i - xm)) for i, y in enumerate(ys)]
        se = math.sqrt(sum(r * r for r in resid) / max(1, n - 2) / sxx) if n > 2 else 0.0
        t_stat = slope / se if se > 0 else (math.inf if slope else 0.0)
        confidence = round(min(1.0, abs(t_stat) / 4.0), 4)
        action = "buy" if slope > 0.0005 else "sell" if slope < -0.0005 else "hold"
        return {"action": action, "strength": confidence if action != "hold" else 0.0, "confidence": confidence}

    def op_signal(self, data: dict[str, Any]) -> dict[str, Any]:
        strategy = str(data.get("strategy") or self.config.get("strategy") or "momentum")
        if strategy not in self.strategies:
            raise sdk.TaskError(f"strategy {strategy} is not one this agent computes")
        return getattr(self, strategy)(self.window(data), data)

    def op_vote(self, data: dict[str, Any]) -> dict[str, Any]:
        signal = self.forecast(self.window(data), data)
        return {"vote": signal["action"], "confidence": signal.get("confidence", 0.0)}

    # -- risk, execution, analysis -------------------------------------------------------------
    def op_risk_check(self, data: dict[str, Any]) -> dict[str, Any]:
        order, positions, limits = data["order"], data.get("positions") or {}, data.get("limits") or {}
        qty, price, side = float(order["qty"]), float(order["price"]), str(order["side"])
        if side not in ("buy", "sell") or qty <= 0 or price <= 0:
            return {"approved": False, "reason": "malformed order"}
        position = float(positions.get(order["symbol"], 0.0)) + (qty if side == "buy" else -qty)
        if abs(position) > float(limits.get("max_position", math.inf)):
            return {"approved": False, "reason": f"position {position:g} over its limit"}
        if qty * price > float(limits.get("max_order_notional", math.inf)):
            return {"approved": False, "reason": "order notional over its limit"}
        exposure = float(positions.get("__exposure__", 0.0)) + qty * price
        if exposure > float(limits.get("max_exposure", math.inf)):
            return {"approved": False, "reason": "exposure over its limit"}
        return {"approved": True, "reason": "within limits"}

    def op_fill(self, data: dict[str, Any]) -> dict[str, Any]:
        sign = 1.0 if data["side"] == "buy" else -1.0
        price = float(data["price"]) * (1.0 + sign * float(data.get("slippage_bps", 2.0)) / 10_000)
        return {"price": price, "fee": abs(float(data["qty"])) * price * float(data.get("fee_bps", 1.0)) / 10_000}

    def op_work(self, data: dict[str, Any]) -> dict[str, Any]:
        prices = self.window(data)
        returns = sorted(b / a - 1.0 for a, b in itertools.pairwise(prices))
        var95 = max(0.0, -returns[max(0, min(len(returns) - 1, int(0.05 * len(returns))))]) if returns else 0.0
        return {"var95": var95, "n": len(returns)}

    def op_collect(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"symbol": data["symbol"], "price": float(data["price"]), "t": data.get("t")}

    def op_forward(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"forward_to": str(data["to"]), "via": self.agent_id}

    def op_echo(self, data: dict[str, Any]) -> dict[str, Any]:
        return data


if __name__ == "__main__":
    sys.exit(sdk.main(DeskAgent))
