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
    BreakerTransition,
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


# Faults the swarm is expected to notice (a detector says so) and recover from; the others
# (a slow link, lost messages, a partition, a lying voter) are to be absorbed, not detected.
DETECTED_FAULTS = frozenset({"crash", "memory-leak", "cpu-spike", "slow", "error-rate", "bad-version"})
KILLING_FAULTS = frozenset({"crash", "memory-leak"})


@dataclass
class FaultWindow:
    """One injected fault, from injection to service restored (or the end of the run).

    One definition for every kind, from the same origin, the injection:
    * detection time: injection to the first sign the engine noticed (a detector failed the
      agent, it was marked degraded, a breaker into it opened, its lease was taken over);
    * recovery time: injection to service restored (a replacement or a standby took its place,
      it is healthy again after a degradation, the breaker into it closed again); for faults
      that are absorbed rather than detected, the fault's end.
    """

    fault: str
    target: str
    start: float
    duration: float | None = None
    detected: float | None = None
    detector: str = ""
    recovered: float | None = None
    how: str = ""
    cleared: float | None = None

    @property
    def detection_s(self) -> float | None:
        return self.detected - self.start if self.detected is not None else None

    @property
    def recovery_s(self) -> float | None:
        return self.recovered - self.start if self.recovered is not None else None

    def end(self, now: float) -> float:
        """When the window closes: service restored, or (still open) now."""
        return self.recovered if self.recovered is not None else now

    def to_dict(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "target": self.target,
            "at": round(self.start, 4),
            "duration": self.duration,
            "detection_s": round(self.detection_s, 4) if self.detection_s is not None else None,
            "detected_by": self.detector or None,
            "recovery_s": round(self.recovery_s, 4) if self.recovery_s is not None else None,
            "recovered_by": self.how or None,
        }


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
    """Consumes events; produces the standard metrics block of a scenario result.

    ``deadline_ms``: a decision answered later than this is not *available* (it may still
    count as a success).
    """

    deadline_ms: float = 1000.0
    latencies_ms: LatencyRecorder = field(default_factory=LatencyRecorder)
    outcomes: Counter[str] = field(default_factory=Counter)
    per_agent: Counter[str] = field(default_factory=Counter)
    per_pool: Counter[str] = field(default_factory=Counter)
    first_submit: float | None = None
    last_finish: float | None = None
    windows: list[FaultWindow] = field(default_factory=list)
    retries: int = 0
    # Decisions submitted while a fault was in force, and how many were answered correctly in time.
    _in_fault: int = 0
    _in_fault_ok: int = 0
    # Agents deployed per user program and version ("node agent.js v2"); the built-in is not counted.
    programs: Counter[str] = field(default_factory=Counter)

    def __call__(self, event: Event) -> None:
        if isinstance(event, TaskFinished):
            self._on_task(event)
        elif event.kind == "task_retried":
            self.retries += 1
        elif isinstance(event, FaultInjected):
            self.windows.append(FaultWindow(event.fault, event.target, event.t, duration=event.duration))
        elif isinstance(event, FailureDetected):
            self._detected(event.agent, event.t, event.detector)
        elif isinstance(event, AgentStateChanged):
            if not event.old and event.program and event.program != "built-in":
                self.programs[f"{event.program} {event.version}".strip()] += 1
            if event.new == "degraded":
                self._detected(event.agent, event.t, "health")
            elif event.old == "degraded" and event.new == "healthy":
                self._recovered(event.agent, event.t, "healthy again")
        elif isinstance(event, BreakerTransition):
            target = event.breaker.split("->", 1)[-1]
            if event.new == "OPEN":
                self._detected(target, event.t, "breaker")
            elif event.new == "CLOSED":
                self._recovered(target, event.t, "breaker closed")
        elif isinstance(event, Failover):
            self._detected(event.failed, event.t, event.how)
            self._recovered(event.failed, event.t, event.how)
        elif isinstance(event, FaultCleared):
            for w in self.windows:
                if w.fault == event.fault and w.target == event.target and w.cleared is None:
                    w.cleared = event.t
                    if w.fault not in DETECTED_FAULTS and w.recovered is None:
                        w.recovered, w.how = event.t, "fault ended"

    def _open(self, target: str) -> list[FaultWindow]:
        return [w for w in self.windows if w.recovered is None and w.target == target]

    def _detected(self, target: str, t: float, detector: str) -> None:
        for w in self._open(target):
            if w.detected is None and w.fault in DETECTED_FAULTS:
                w.detected, w.detector = t, detector

    def _recovered(self, target: str, t: float, how: str) -> None:
        for w in self._open(target):
            if w.fault not in DETECTED_FAULTS:
                continue
            # A degradation is over only once its cause is: a breaker that closes while the
            # stage still fails, or a recovery before the spike ended, is not service restored.
            if w.fault not in KILLING_FAULTS and w.duration is not None and w.cleared is None:
                continue
            w.recovered, w.how = t, how

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
        if any(w.start <= ev.submitted and (w.recovered is None or ev.submitted <= w.recovered) for w in self.windows):
            self._in_fault += 1
            self._in_fault_ok += bool(ev.ok and ev.latency_ms <= self.deadline_ms)

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())

    @property
    def decisions(self) -> int:
        return self.outcomes.get("ok", 0)

    def success_rate(self) -> float:
        total = self.total
        return round(self.decisions / total, 6) if total else 1.0

    def availability_under_faults(self, end: float | None = None) -> float | None:
        """Share of the decisions submitted while a fault was in force (injection to service
        restored) that were answered correctly within their deadline; None without faults."""
        if not self.windows or not self._in_fault:
            return None
        return round(self._in_fault_ok / self._in_fault, 6)

    @property
    def decisions_in_faults(self) -> int:
        return self._in_fault

    def summary(self, end: float) -> dict[str, Any]:
        """The standard metrics block of a scenario result."""
        span = 0.0
        if self.first_submit is not None and self.last_finish is not None:
            span = self.last_finish - self.first_submit
        throughput = self.decisions / span if span > 0 else 0.0
        recoveries = [w.recovery_s for w in self.windows if w.recovery_s is not None and w.fault in DETECTED_FAULTS]
        detections = [w.detection_s for w in self.windows if w.detection_s is not None]
        out: dict[str, Any] = {
            "decisions": self.decisions,
            "success_rate": self.success_rate(),
            "latency_ms": self.latencies_ms.summary(),
            "throughput_per_s": round(throughput, 3),
            "recovery_s": round(max(recoveries), 3) if recoveries else None,
            "detection_s": round(max(detections), 3) if detections else None,
            "availability": self.availability_under_faults(end),
            "deadline_ms": self.deadline_ms,
            "faults": [w.to_dict() for w in self.windows],
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
