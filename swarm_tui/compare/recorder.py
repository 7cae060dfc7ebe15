"""What one run of a comparison measured, computed from its event stream alone.

A :class:`TopologyRecorder` or :class:`RolloutRecorder` subscribes to the bus of one run; when the
run is over, :meth:`figures` turns what it saw into that run's figures (one value per metric,
``None`` where the run gives none) and the series its charts need. The definitions:

* **decision latency** p50/p95/p99: of the decisions submitted during the fault phase that
  succeeded (submitted to answered, retries included).
* **success rate**: decisions of the fault phase that succeeded, over all of them.
* **availability**: of the decisions *submitted during a fault window*, the share answered
  correctly within their deadline. A window runs from a fault's injection to the service being
  restored (its target replaced, or the fault cleared), or to the end of the run.
* **detection time**: from a fault to the first failure detected of its target (``None`` for a
  fault that no detector reports, such as a network delay).
* **recovery time**: from a fault to the service restored (replacement healthy, fault cleared).
* **messages per decision**: messages through the router during the fault phase, heartbeats
  and hellos excluded, over the decisions of that phase (measured by the run itself).
* **saturation point**: the load of the first ramp step whose p95 (failed decisions counted as
  slower than any budget) exceeds the budget; ``None`` when no step did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from swarm_tui.engine.events import (
    Event,
    Failover,
    FailureDetected,
    FaultCleared,
    FaultInjected,
    Note,
    RolloutState,
    RolloutStep,
    ScenarioFinished,
    TaskFinished,
    TaskRetried,
)
from swarm_tui.engine.metrics import percentile
from swarm_tui.patterns.workloads import PHASE_NOTE

AVAILABILITY_BIN_S = 0.5
AVAILABILITY_SPAN = (-3.0, 9.0)  # the chart's window around the first fault (s)


def _round(value: float | None, digits: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


@dataclass
class _Window:
    fault: str
    target: str
    start: float
    detected: float | None = None
    restored: float | None = None


@dataclass
class _Decision:
    submitted: float
    latency_ms: float
    ok: bool


@dataclass
class TopologyRecorder:
    """Subscribes to one workload run; :meth:`figures` gives its measured figures."""

    decisions: list[_Decision] = field(default_factory=list)
    phases: list[tuple[str, float, float | None]] = field(default_factory=list)  # (name, start, load)
    windows: list[_Window] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    status: str = ""
    error: str | None = None
    end: float = 0.0

    def __call__(self, event: Event) -> None:
        if isinstance(event, TaskFinished):
            self.decisions.append(_Decision(event.submitted, event.latency_ms, event.ok))
        elif isinstance(event, Note) and event.text == PHASE_NOTE:
            data = event.data
            load = data.get("rate") if str(data.get("phase", "")).startswith("ramp") else None
            self.phases.append((str(data.get("phase")), float(data.get("start", event.t)), load))
        elif isinstance(event, FaultInjected):
            self.windows.append(_Window(event.fault, event.target, event.t))
        elif isinstance(event, FailureDetected):
            for w in self.windows:
                if w.target == event.agent and w.detected is None and w.restored is None:
                    w.detected = event.t
        elif isinstance(event, Failover):
            for w in self.windows:
                if w.target == event.failed and w.restored is None:
                    w.restored = event.t
        elif isinstance(event, FaultCleared):
            for w in self.windows:
                if w.target == event.target and w.fault == event.fault and w.restored is None:
                    w.restored = event.t
        elif isinstance(event, ScenarioFinished):
            self.result = dict(event.result)
            self.status = event.status
            self.error = self.result.get("error")
            self.end = event.t

    # -- figures ---------------------------------------------------------------------------------
    def _phase_bounds(self, name: str) -> tuple[float, float] | None:
        for i, (phase, start, _) in enumerate(self.phases):
            if phase == name:
                end = self.phases[i + 1][1] if i + 1 < len(self.phases) else math.inf
                return start, end
        return None

    def _in(self, bounds: tuple[float, float]) -> list[_Decision]:
        return [d for d in self.decisions if bounds[0] <= d.submitted < bounds[1]]

    def _deadline_ms(self) -> float:
        metrics = self.result.get("metrics", {})
        return float(metrics.get("deadline_ms") or metrics.get("budget_ms") or math.inf)

    def figures(self) -> dict[str, Any]:
        """This run's figures (``None`` where it gives none) and the series of its charts."""
        metrics = self.result.get("metrics", {})
        fault = self._phase_bounds("fault")
        steady = self._in(fault) if fault else []
        ok = sorted(d.latency_ms for d in steady if d.ok)
        deadline = self._deadline_ms()
        end = self.end or max((d.submitted for d in self.decisions), default=0.0)
        windows = [(w.start, w.restored if w.restored is not None else end) for w in self.windows]
        in_window = [d for d in self.decisions if any(a <= d.submitted <= b for a, b in windows)]
        available = sum(1 for d in in_window if d.ok and d.latency_ms <= deadline)
        detections = [w.detected - w.start for w in self.windows if w.detected is not None]
        recoveries = [w.restored - w.start for w in self.windows if w.restored is not None]
        tasks = (metrics.get("phase_tasks") or {}).get("fault")
        messages = (metrics.get("phase_messages") or {}).get("fault")
        ramp = self._ramp(float(metrics.get("budget_ms") or math.inf))
        saturated = [load for load, p95 in ramp if p95 is None or p95 > float(metrics.get("budget_ms") or math.inf)]
        return {
            "latency_p50_ms": _round(percentile(ok, 50)) if ok else None,
            "latency_p95_ms": _round(percentile(ok, 95)) if ok else None,
            "latency_p99_ms": _round(percentile(ok, 99)) if ok else None,
            "success_rate": _round(sum(1 for d in steady if d.ok) / len(steady), 6) if steady else None,
            "availability": _round(available / len(in_window), 6) if in_window else None,
            "detection_s": _round(max(detections)) if detections else None,
            "recovery_s": _round(max(recoveries)) if recoveries else None,
            "messages_per_decision": _round(messages / tasks, 3) if tasks and messages is not None else None,
            "saturation_per_s": saturated[0] if saturated else None,
            "series": {
                "ramp": [[load, p95] for load, p95 in ramp],
                "availability": self._availability_series(deadline),
            },
            "decisions": len(self.decisions),
            "budget_ms": metrics.get("budget_ms"),
            "deadline_ms": metrics.get("deadline_ms"),
            "status": self.status,
            "error": self.error,
        }

    def _ramp(self, budget: float) -> list[tuple[float, float | None]]:
        out: list[tuple[float, float | None]] = []
        for i, (phase, start, load) in enumerate(self.phases):
            if not phase.startswith("ramp") or load is None:
                continue
            end = self.phases[i + 1][1] if i + 1 < len(self.phases) else math.inf
            lat = [d.latency_ms if d.ok else math.inf for d in self.decisions if start <= d.submitted < end]
            p95 = percentile(lat, 95) if lat else math.inf
            out.append((float(load), _round(p95, 3)))
        return out

    def _availability_series(self, deadline: float) -> list[float | None]:
        """Share of decisions answered correctly in time, per bin of submission time around the
        first fault (``AVAILABILITY_SPAN``); ``None`` for a bin without decisions."""
        if not self.windows:
            return []
        t0 = self.windows[0].start
        lo, hi = AVAILABILITY_SPAN
        bins = round((hi - lo) / AVAILABILITY_BIN_S)
        good = [0] * bins
        total = [0] * bins
        fault = self._phase_bounds("fault")
        for d in self._in(fault) if fault else []:
            k = math.floor((d.submitted - t0 - lo) / AVAILABILITY_BIN_S)
            if 0 <= k < bins:
                total[k] += 1
                good[k] += d.ok and d.latency_ms <= deadline
        return [round(g / n, 4) if n else None for g, n in zip(good, total, strict=True)]


@dataclass
class RolloutRecorder:
    """Subscribes to one rollout run; :meth:`figures` gives its measured figures.

    * **time to detect** (a defective version): rollout start to its rollback or abort;
    * **errors spent**: attempts that failed while the rollout ran (each retried on the old
      version, or failed to the user), from its start to its decision;
    * **time to full rollout** (a sound version): rollout start to every request on the new
      version with the old one retired (blue-green complete, canary promoted).
    """

    started: float | None = None
    decided: float | None = None
    decision: str = ""
    completed: float | None = None
    attempts_failed: int = 0
    requests: list[_Decision] = field(default_factory=list)
    weights: list[tuple[float, float]] = field(default_factory=list)
    status: str = ""
    error: str | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, RolloutState):
            if self.started is None and event.status in ("shifting", "analysing"):
                self.started = event.t
            new = sum(v for k, v in event.weights.items() if k in ("green", "canary"))
            if event.status in ("complete", "promoted"):
                new = 100.0
                if self.completed is None:
                    self.completed = event.t
            if not self.weights or self.weights[-1][1] != new:
                self.weights.append((round(event.t, 4), round(new, 3)))
        elif isinstance(event, RolloutStep):
            if event.decision in ("rollback", "abort") and self.decided is None:
                self.decided, self.decision = event.t, event.decision
        elif isinstance(event, TaskRetried):
            if self._running(event.t):
                self.attempts_failed += 1
        elif isinstance(event, TaskFinished):
            self.requests.append(_Decision(event.submitted, event.latency_ms, event.ok))
            if not event.ok and self._running(event.t):
                self.attempts_failed += 1
        elif isinstance(event, ScenarioFinished):
            self.status = event.status
            self.error = event.result.get("error")

    def _running(self, t: float) -> bool:
        if self.started is None or t < self.started:
            return False
        end = self.decided if self.decided is not None else self.completed
        return end is None or t <= end

    def figures(self) -> dict[str, Any]:
        start = self.started
        during = [r for r in self.requests if start is not None and r.submitted >= start]
        ok = sorted(r.latency_ms for r in during if r.ok)
        return {
            "detect_s": _round(self.decided - start) if self.decided is not None and start is not None else None,
            "errors": self.attempts_failed if start is not None else None,
            "full_rollout_s": _round(self.completed - start)
            if self.completed is not None and start is not None
            else None,
            "rolled_back": self.decided is not None,
            "latency_p50_ms": _round(percentile(ok, 50)) if ok else None,
            "latency_p95_ms": _round(percentile(ok, 95)) if ok else None,
            "success_rate": _round(sum(1 for r in during if r.ok) / len(during), 6) if during else None,
            "series": {"weights": [[t, w] for t, w in self.weights]},
            "requests": len(self.requests),
            "status": self.status,
            "error": self.error,
        }
