"""Measured figures: percentiles, and the aggregator that turns events into a scenario's metrics.

The aggregator is a pure function of the event stream, so the same figures can be rebuilt later
from a journal.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from swarm_tui.engine.events import (
    AgentStateChanged,
    Event,
    Failover,
    FailureDetected,
    FaultCleared,
    FaultInjected,
    TaskFinished,
)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    data = sorted(values)
    if len(data) == 1:
        return float(data[0])
    pos = (len(data) - 1) * (q / 100.0)
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    frac = pos - lo
    return float(data[lo] + (data[hi] - data[lo]) * frac)


def latency_summary(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 of a list of latencies in ms (0.0 where nothing was measured)."""
    if not values:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    data = sorted(values)
    return {q: round(percentile(data, p), 3) for q, p in (("p50", 50), ("p95", 95), ("p99", 99))}


@dataclass
class FaultWindow:
    """A fault from injection to recovery (failover, clearance, or the end of the run)."""

    fault: str
    target: str
    start: float
    detected: float | None = None
    recovered: float | None = None
    # When the agent actually went down: the injection for a crash, the kill for a leak that
    # ends in an OOM kill (seen at once as an exit).
    outage: float | None = None


class LatencyRecorder:
    """Latency samples: exact up to ``exact_up_to`` samples, then a log-bucket histogram.

    The histogram's buckets are 0.5 % wide (relative), so percentiles stay within 0.5 % of the
    exact value while memory stays bounded however long a run lasts.
    """

    RESOLUTION = 1.005

    def __init__(self, exact_up_to: int = 20_000) -> None:
        self.exact_up_to = exact_up_to
        self.samples: list[float] = []
        self.buckets: dict[int, int] = {}
        self.count = 0

    def _bucket(self, value: float) -> int:
        return math.floor(math.log(max(value, 1e-3)) / math.log(self.RESOLUTION))

    def add(self, value: float) -> None:
        self.count += 1
        if self.buckets:
            b = self._bucket(value)
            self.buckets[b] = self.buckets.get(b, 0) + 1
            return
        self.samples.append(value)
        if len(self.samples) > self.exact_up_to:
            for v in self.samples:
                b = self._bucket(v)
                self.buckets[b] = self.buckets.get(b, 0) + 1
            self.samples = []

    def __len__(self) -> int:
        return self.count

    def summary(self) -> dict[str, float]:
        if not self.buckets:
            return latency_summary(self.samples)
        ordered = sorted(self.buckets.items())
        out = {}
        for name, q in (("p50", 50), ("p95", 95), ("p99", 99)):
            rank = q / 100.0 * (self.count - 1)
            seen = 0
            for b, n in ordered:
                seen += n
                if seen > rank:
                    out[name] = round(self.RESOLUTION ** (b + 0.5), 3)
                    break
        return out


@dataclass
class MetricsAggregator:
    """Consumes events; produces the standard metrics block of a scenario result."""

    latencies_ms: LatencyRecorder = field(default_factory=LatencyRecorder)
    outcomes: Counter[str] = field(default_factory=Counter)
    per_agent: Counter[str] = field(default_factory=Counter)
    per_pool: Counter[str] = field(default_factory=Counter)
    first_submit: float | None = None
    last_finish: float | None = None
    windows: list[FaultWindow] = field(default_factory=list)
    recovery_times: list[float] = field(default_factory=list)
    detection_times: list[float] = field(default_factory=list)
    retries: int = 0
    # Tasks submitted while a fault was active, and how many of them succeeded.
    _in_fault: int = 0
    _in_fault_ok: int = 0
    # Agents deployed per user program and version ("node agent.js v2"); the built-in is not counted.
    programs: Counter[str] = field(default_factory=Counter)

    def __call__(self, event: Event) -> None:
        if isinstance(event, TaskFinished):
            self._on_task(event)
        elif isinstance(event, AgentStateChanged):
            if not event.old and event.program and event.program != "built-in":
                self.programs[f"{event.program} {event.version}".strip()] += 1
        elif event.kind == "task_retried":
            self.retries += 1
        elif isinstance(event, FaultInjected):
            if event.fault not in ("clear",):
                self.windows.append(FaultWindow(event.fault, event.target, event.t))
        elif isinstance(event, FailureDetected):
            for w in self._open_windows(event.agent):
                if w.detected is None:
                    w.detected = event.t
                    w.outage = event.t if event.detector == "exit" else w.start
                    self.detection_times.append(event.t - w.outage)
        elif isinstance(event, Failover):
            for w in self._open_windows(event.failed):
                w.recovered = event.t
                self.recovery_times.append(event.t - (w.outage if w.outage is not None else w.start))
        elif isinstance(event, FaultCleared):
            for w in self._open_windows(event.target):
                if w.fault == event.fault:
                    w.recovered = event.t

    def _open_windows(self, target: str) -> list[FaultWindow]:
        return [w for w in self.windows if w.recovered is None and w.target == target]

    def _on_task(self, ev: TaskFinished) -> None:
        self.outcomes[ev.outcome] += 1
        if ev.ok:
            self.latencies_ms.add(ev.latency_ms)
            if ev.agent:
                self.per_agent[ev.agent] += 1
            if ev.pool:
                self.per_pool[ev.pool] += 1
        if self.first_submit is None or ev.submitted < self.first_submit:
            self.first_submit = ev.submitted
        if self.last_finish is None or ev.t > self.last_finish:
            self.last_finish = ev.t
        # A window can only close after it opened, so whether the task was submitted during a
        # fault is already known when it finishes.
        if any(w.start <= ev.submitted and (w.recovered is None or ev.submitted <= w.recovered) for w in self.windows):
            self._in_fault += 1
            self._in_fault_ok += ev.ok

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())

    @property
    def decisions(self) -> int:
        return self.outcomes.get("ok", 0)

    def success_rate(self) -> float:
        total = self.total
        return round(self.decisions / total, 6) if total else 1.0

    def availability_under_faults(self, end: float) -> float | None:
        """Share of tasks submitted while a fault was active that still succeeded."""
        if not self.windows or not self._in_fault:
            return None
        return round(self._in_fault_ok / self._in_fault, 6)

    def summary(self, end: float) -> dict[str, Any]:
        """The standard metrics block of a scenario result."""
        span = 0.0
        if self.first_submit is not None and self.last_finish is not None:
            span = self.last_finish - self.first_submit
        throughput = self.decisions / span if span > 0 else 0.0
        recovery = max(self.recovery_times) if self.recovery_times else None
        out = {
            "decisions": self.decisions,
            "success_rate": self.success_rate(),
            "latency_ms": self.latencies_ms.summary(),
            "throughput_per_s": round(throughput, 3),
            "recovery_s": round(recovery, 3) if recovery is not None else None,
            "detection_s": round(max(self.detection_times), 3) if self.detection_times else None,
            "availability": self.availability_under_faults(end),
            "outcomes": dict(sorted(self.outcomes.items())),
            "retries": self.retries,
        }
        if self.programs:  # agents of users' programs ran: which, in which version, how many
            out["programs"] = dict(sorted(self.programs.items()))
        return out


def shares(counts: dict[str, int] | Counter[str], keys: Iterable[str] | None = None) -> dict[str, float]:
    """Each key's share of the total, in percent."""
    keys = list(keys) if keys is not None else list(counts)
    total = sum(counts.get(k, 0) for k in keys)
    if not total:
        return {k: 0.0 for k in keys}
    return {k: 100.0 * counts.get(k, 0) / total for k in keys}


def group_by(values: Iterable[tuple[str, float]]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    for key, value in values:
        out[key].append(value)
    return dict(out)
