"""The agent's brain: turns messages into replies. Standard library only.

The same :class:`AgentCore` runs inside the mock backend's simulated sandboxes and inside the
agent program of real sandboxes (local processes, E2B), so every backend answers a task with the
same computation. What differs is only the host around it: the mock host simulates latency and
resource faults; the real host really burns CPU, allocates memory and exits.

Messages in (dicts):
* ``{"type": "task", "id": int, "op": str, "cap": str|None, "data": {...}}``
* ``{"type": "tick", "t": float, "prices": {symbol: price}}``
* ``{"type": "fault", "fault": "error-rate"|"byzantine"|"slow"|"clear", ...}``
Replies: ``{"type": "result", "id": int, "ok": bool, "value": ..., "error": str}``.
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from collections.abc import Callable
from typing import Any

from . import strategies as st
from .kinds import DEFAULT_STRATEGY, STRATEGY_CAPABILITY, capabilities_of

PROTOCOL_VERSION = 1
HISTORY = 200


class TaskError(Exception):
    """A task that cannot be answered: reported to the engine as an error result."""


class AgentCore:
    """State and logic of one trading agent."""

    def __init__(
        self,
        config: dict[str, Any],
        now: Callable[[], float],
        rng: random.Random | None = None,
    ) -> None:
        self.agent_id = str(config.get("agent_id", "agent"))
        self.kind = str(config.get("kind", "worker"))
        self.strategy = str(config.get("strategy") or DEFAULT_STRATEGY.get(self.kind, "compute"))
        self.symbols = [str(s) for s in config.get("symbols", [])]
        self.version = str(config.get("version", "v1"))
        caps = config.get("capabilities")
        self.capabilities = tuple(caps) if caps else capabilities_of(self.kind)
        self.params: dict[str, Any] = dict(config.get("params") or {})
        defect = config.get("defect") or {}
        self._defect_error_rate = float(defect.get("error_rate", 0.0))
        self._defect_latency = float(defect.get("latency_factor", 1.0))
        self._now = now
        self._rng = rng or random.Random(str(config.get("seed", 0)) + self.agent_id)
        self.history: dict[str, deque[float]] = {}
        # Injected faults: name -> (until time or None for permanent, parameters).
        self._faults: dict[str, tuple[float | None, dict[str, Any]]] = {}
        self.tasks = 0
        self.errors = 0

    # -- messages ---------------------------------------------------------------------------
    def hello(self) -> dict[str, Any]:
        return {
            "type": "hello",
            "agent": self.agent_id,
            "kind": self.kind,
            "version": self.version,
            "protocol": PROTOCOL_VERSION,
            "capabilities": list(self.capabilities),
        }

    def handle(self, msg: dict[str, Any]) -> dict[str, Any] | None:
        """Handle one message; return the reply, if any."""
        mtype = msg.get("type")
        if mtype == "task":
            return self._task(msg)
        if mtype == "tick":
            self._tick(msg)
            return None
        if mtype == "fault":
            self.apply_fault(msg)
            return None
        if mtype == "ping":
            return {"type": "pong", "id": msg.get("id")}
        return {"type": "error", "error": f"unknown message type {mtype!r}"}

    # -- faults -----------------------------------------------------------------------------
    def apply_fault(self, msg: dict[str, Any]) -> None:
        name = str(msg.get("fault", ""))
        if name == "clear":
            self._faults.clear()
            return
        duration = msg.get("duration")
        until = self._now() + float(duration) if duration is not None else None
        self._faults[name] = (until, dict(msg))

    def _fault(self, name: str) -> dict[str, Any] | None:
        entry = self._faults.get(name)
        if entry is None:
            return None
        until, params = entry
        if until is not None and self._now() >= until:
            del self._faults[name]
            return None
        return params

    def error_rate(self) -> float:
        fault = self._fault("error-rate")
        injected = float(fault.get("rate", 1.0)) if fault else 0.0
        return max(injected, self._defect_error_rate)

    def latency_factor(self) -> float:
        fault = self._fault("slow")
        injected = float(fault.get("factor", 3.0)) if fault else 1.0
        return injected * self._defect_latency

    # -- ticks and tasks --------------------------------------------------------------------
    def _tick(self, msg: dict[str, Any]) -> None:
        for symbol, price in (msg.get("prices") or {}).items():
            hist = self.history.get(symbol)
            if hist is None:
                hist = self.history[symbol] = deque(maxlen=HISTORY)
            hist.append(float(price))

    def _prices(self, data: dict[str, Any], key: str = "prices", symbol_key: str = "symbol") -> list[float]:
        if key in data:
            return [float(p) for p in data[key]]
        symbol = data.get(symbol_key) or (self.symbols[0] if self.symbols else None)
        return list(self.history.get(str(symbol), ()))

    def _task(self, msg: dict[str, Any]) -> dict[str, Any]:
        task_id = msg.get("id")
        self.tasks += 1
        try:
            cap = msg.get("cap")
            if cap and cap not in self.capabilities:
                raise TaskError(f"capability {cap} not supported by {self.kind}")
            rate = self.error_rate()
            if rate > 0 and self._rng.random() < rate:
                raise TaskError("injected error" if self._fault("error-rate") else "defect: error")
            value = self._run(str(msg.get("op", "")), msg.get("data") or {})
        except TaskError as exc:
            self.errors += 1
            return {"type": "result", "id": task_id, "ok": False, "error": str(exc)}
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            self.errors += 1
            return {"type": "result", "id": task_id, "ok": False, "error": f"bad task: {exc!r}"}
        return {"type": "result", "id": task_id, "ok": True, "value": value}

    def _signal(self, strategy: str, data: dict[str, Any]) -> dict[str, Any]:
        p = self.params
        if strategy == "momentum":
            return st.momentum(
                self._prices(data),
                int(data.get("lookback", p.get("lookback", 10))),
                float(data.get("threshold", p.get("threshold", 0.02))),
            )
        if strategy == "mean_reversion":
            return st.mean_reversion(
                self._prices(data), int(data.get("window", p.get("window", 20))), float(data.get("z", p.get("z", 2.0)))
            )
        if strategy == "pairs":
            return st.pairs(
                self._prices(data, "prices_a", "symbol_a"),
                self._prices(data, "prices_b", "symbol_b"),
                int(data.get("window", p.get("window", 30))),
                float(data.get("z", p.get("z", 2.0))),
            )
        if strategy == "arbitrage":
            return st.arbitrage(
                float(data["price_a"]), float(data["price_b"]), float(data.get("cost_bps", p.get("cost_bps", 6.0)))
            )
        if strategy == "forecast":
            return st.forecast(self._prices(data), int(data.get("window", p.get("window", 20))))
        raise TaskError(f"unknown strategy {strategy}")

    def _run(self, op: str, data: dict[str, Any]) -> Any:
        if op == "signal":
            strategy = str(data.get("strategy") or self.strategy)
            needed = STRATEGY_CAPABILITY.get(strategy)
            if needed and needed not in self.capabilities:
                raise TaskError(f"capability {needed} not supported by {self.kind}")
            signal = self._signal(strategy, data)
            if self._fault("byzantine"):
                signal = {**signal, "action": self._rng.choice(st.ACTIONS)}
            return signal
        if op == "vote":
            signal = st.forecast(self._prices(data), int(data.get("window", 20)))
            vote = signal["action"]
            confidence = signal.get("confidence", 0.0)
            if self._fault("byzantine"):
                vote = self._rng.choice(st.ACTIONS)
                confidence = round(self._rng.random(), 4)
            return {"vote": vote, "confidence": confidence}
        if op == "risk_check":
            return st.risk_check(data["order"], data.get("positions") or {}, data.get("limits") or {})
        if op == "fill":
            return st.paper_fill(
                str(data["side"]),
                float(data["qty"]),
                float(data["price"]),
                float(data.get("slippage_bps", 2.0)),
                float(data.get("fee_bps", 1.0)),
            )
        if op == "allocate":
            return st.allocate({str(k): float(v) for k, v in data["scores"].items()}, float(data.get("floor", 0.1)))
        if op == "performance":
            returns = [float(r) for r in data.get("returns", [])]
            return {"sharpe": st.sharpe(returns), "var95": st.value_at_risk(returns)}
        if op == "collect":
            return {"symbol": data["symbol"], "price": float(data["price"]), "t": data.get("t")}
        if op == "work":
            # A unit of analysis: value at risk of the window's returns (real computation).
            prices = self._prices(data)
            rets = [b / a - 1.0 for a, b in itertools.pairwise(prices)] if len(prices) > 1 else []
            return {"var95": st.value_at_risk(rets), "n": len(rets)}
        if op == "forward":
            # A hub or coordinator relays a task: the answer names where it goes next.
            return {"forward_to": str(data["to"]), "via": self.agent_id}
        if op == "echo":
            return data
        raise TaskError(f"unknown op {op!r}")
