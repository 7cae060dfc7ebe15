"""The circuit breaker: stop calling a failing dependency, probe it, and close when it is well.

States: CLOSED (calls pass; outcomes recorded in a sliding window of the last ``window``
calls) -> OPEN once at least ``min_calls`` calls are in the window and the failure rate
reaches ``failure_rate`` (calls are refused) -> HALF_OPEN after ``open_s`` seconds (up to
``probes`` trial calls pass) -> CLOSED after ``probes`` successes in a row, or back to OPEN on
any failed probe.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import StrEnum

from swarm_tui.engine.clock import Clock
from swarm_tui.engine.events import BreakerTransition


class BreakerState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


class CircuitBreaker:
    """A count-based circuit breaker with a half-open probe phase."""

    def __init__(
        self,
        name: str,
        clock: Clock,
        *,
        window: int = 10,
        min_calls: int = 5,
        failure_rate: float = 0.5,
        open_s: float = 5.0,
        probes: int = 3,
        publish: Callable[[BreakerTransition], None] | None = None,
        enabled: bool = True,
    ) -> None:
        self.name = name
        self.clock = clock
        self.window = window
        self.min_calls = min_calls
        self.failure_rate = failure_rate
        self.open_s = open_s
        self.probes = probes
        self.enabled = enabled
        self._publish = publish or (lambda e: None)
        self.state = BreakerState.CLOSED
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._opened_at = 0.0
        self._probe_inflight = 0
        self._probe_ok = 0
        self.transitions: list[tuple[float, str, str]] = []
        # The same transitions with the figures behind them (failure rate, calls in the window).
        self.log: list[dict[str, float | int | str]] = []
        self.refused = 0

    def _rate(self) -> float:
        if not self._outcomes:
            return 0.0
        return sum(1 for ok in self._outcomes if not ok) / len(self._outcomes)

    def _move(self, new: BreakerState) -> None:
        old = self.state
        self.state = new
        now = self.clock.now()
        rate, calls = round(self._rate(), 4), len(self._outcomes)
        self.transitions.append((now, old.value, new.value))
        self.log.append({"t": now, "old": old.value, "new": new.value, "failure_rate": rate, "calls": calls})
        self._publish(
            BreakerTransition(t=now, breaker=self.name, old=old.value, new=new.value, failure_rate=rate, calls=calls)
        )
        if new == BreakerState.OPEN:
            self._opened_at = now
        if new == BreakerState.HALF_OPEN:
            self._probe_inflight = 0
            self._probe_ok = 0
        if new == BreakerState.CLOSED:
            self._outcomes.clear()

    def allow(self) -> bool:
        """May a call go through now? (A HALF_OPEN permit must be followed by ``record``.)"""
        if not self.enabled:
            return True
        if self.state == BreakerState.OPEN:
            if self.clock.now() - self._opened_at >= self.open_s:
                self._move(BreakerState.HALF_OPEN)
            else:
                self.refused += 1
                return False
        if self.state == BreakerState.HALF_OPEN:
            if self._probe_inflight + self._probe_ok >= self.probes:
                self.refused += 1
                return False
            self._probe_inflight += 1
        return True

    def record(self, ok: bool) -> None:
        """Record the outcome of a call that ``allow`` let through."""
        if not self.enabled:
            return
        if self.state == BreakerState.HALF_OPEN:
            self._probe_inflight = max(0, self._probe_inflight - 1)
            if not ok:
                self._outcomes.append(False)
                self._move(BreakerState.OPEN)
                return
            self._probe_ok += 1
            if self._probe_ok >= self.probes:
                self._move(BreakerState.CLOSED)
            return
        if self.state == BreakerState.OPEN:
            return  # a late answer to a call made before the breaker opened
        self._outcomes.append(ok)
        if len(self._outcomes) >= self.min_calls and self._rate() >= self.failure_rate:
            self._move(BreakerState.OPEN)

    def open_intervals(self, end: float) -> list[tuple[float, float]]:
        """Spans of time the breaker was OPEN (refusing calls)."""
        spans: list[tuple[float, float]] = []
        start: float | None = None
        for t, _old, new in self.transitions:
            if new == BreakerState.OPEN.value and start is None:
                start = t
            elif new != BreakerState.OPEN.value and start is not None:
                spans.append((start, t))
                start = None
        if start is not None:
            spans.append((start, end))
        return spans
