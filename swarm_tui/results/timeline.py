"""Each scenario's time series, from its events: what the HTML report of a run draws.

A :class:`Timeline` subscribes to a run (or reads a journal's events) and keeps, per scenario and
per second of scenario time: the live agents, the load (decisions submitted), the p95 latency and
the errors of the decisions that finished, and the rollout's weights whenever they change. It
keeps per-second aggregates only, so a long run costs a few numbers a second.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from swarm_tui.engine.events import (
    AgentStateChanged,
    Event,
    RolloutState,
    ScenarioStarted,
    TaskFinished,
    event_from_dict,
)
from swarm_tui.engine.metrics import percentile

LIVE = frozenset({"healthy", "degraded"})


@dataclass
class Series:
    """One scenario's series: ``agents``, ``load``, ``p95_ms``, ``errors`` per second; ``weights``
    as (time, {pool: weight}) at each change."""

    scenario: str
    live: set[str] = field(default_factory=set)
    agents: dict[int, int] = field(default_factory=dict)
    load: dict[int, int] = field(default_factory=dict)
    errors: dict[int, int] = field(default_factory=dict)
    latencies: dict[int, list[float]] = field(default_factory=dict)
    weights: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    end: float = 0.0

    def seconds(self) -> list[int]:
        return list(range(math.floor(self.end) + 1))

    def to_dict(self) -> dict[str, Any]:
        """Plain lists, one value per second (agents carried forward), for the charts."""
        secs = self.seconds()
        agents: list[int] = []
        last = 0
        for s in secs:
            last = self.agents.get(s, last)
            agents.append(last)
        p95 = [round(percentile(self.latencies[s], 95), 3) if self.latencies.get(s) else None for s in secs]
        return {
            "t": secs,
            "agents": agents,
            "load": [self.load.get(s, 0) for s in secs],
            "p95_ms": p95,
            "errors": [self.errors.get(s, 0) for s in secs],
            "weights": [[round(t, 3), w] for t, w in self.weights],
        }


class Timeline:
    """Subscribes to a run (``timeline(event)``); ``series`` holds one :class:`Series` per scenario run."""

    def __init__(self) -> None:
        self.series: list[Series] = []
        self._current: Series | None = None

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]]) -> Timeline:
        """A timeline from a journal's event records (records that are not events are skipped)."""
        timeline = cls()
        for record in records:
            try:
                timeline(event_from_dict(record))
            except ValueError:
                continue
        return timeline

    def __call__(self, event: Event) -> None:
        if isinstance(event, ScenarioStarted):
            self._current = Series(event.scenario)
            self.series.append(self._current)
            return
        s = self._current
        if s is None:
            return
        second = int(event.t)
        s.end = max(s.end, event.t)
        if isinstance(event, AgentStateChanged):
            if event.new in LIVE:
                s.live.add(event.agent)
            else:
                s.live.discard(event.agent)
            s.agents[second] = len(s.live)
        elif isinstance(event, TaskFinished):
            submitted = int(event.submitted)
            s.load[submitted] = s.load.get(submitted, 0) + 1
            if event.ok:
                s.latencies.setdefault(second, []).append(event.latency_ms)
            else:
                s.errors[second] = s.errors.get(second, 0) + 1
        elif isinstance(event, RolloutState) and (not s.weights or s.weights[-1][1] != event.weights):
            s.weights.append((event.t, dict(event.weights)))
