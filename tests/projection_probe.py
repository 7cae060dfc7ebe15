"""The probe behind the live-versus-replay projection tests (tests/engine/test_projection.py and,
for the lab's long scenarios, tests/slow/test_projection_lab.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from support import CATALOGUE

from swarm_tui.engine.events import Event
from swarm_tui.engine.projection import SwarmProjection, SwarmView
from swarm_tui.engine.runner import run_one
from swarm_tui.engine.sandbox import create_backend
from swarm_tui.patterns.describe import SHORTENED
from swarm_tui.results.journal import JournalWriter, read_journal
from swarm_tui.session.replay import ReplayRun

MOMENTS = 10


STEP = 0.25  # the probe looks this often (scenario seconds): between samples too


class Probe:
    """Feeds a projection and keeps its view every STEP seconds, before the next event."""

    def __init__(self, topology: str) -> None:
        self.projection = SwarmProjection(topology)
        self.views: dict[float, SwarmView] = {}
        self._k = 1

    def __call__(self, event: Event) -> None:
        while event.t > self._k * STEP:
            t = self._k * STEP
            self.views[t] = self.projection.view(t)
            self._k += 1
        self.projection(event)

    def end(self) -> tuple[float, SwarmView]:
        t = self.projection.t
        return t, self.projection.view(t)


def record(path: Path, scenario_id: str) -> Probe:
    cls = CATALOGUE[scenario_id]
    scenario = cls(SHORTENED.get(scenario_id))
    probe = Probe(scenario.topology)
    writer = JournalWriter(path, "projection")
    writer.open({"backend": "mock", "seed": 0, "scenarios": [scenario_id]})
    run_one(scenario, create_backend("mock", seed=3), seed=3, run_id="projection", subscribers=[probe, writer])
    writer.close({"finished_at": "", "summary": {}, "interrupted": False})
    return probe


def differences(live: SwarmView, replayed: SwarmView) -> list[str]:
    out = []
    for field in dataclasses.fields(SwarmView):
        a, b = getattr(live, field.name), getattr(replayed, field.name)
        if a != b:
            out.append(f"{field.name}: live {_short(a)} != replay {_short(b)}")
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 400 else text[:400] + "..."


def assert_replay_equals_live(tmp_path: Path, scenario_id: str) -> None:
    path = tmp_path / "run.jsonl"
    probe = record(path, scenario_id)
    seconds = sorted(probe.views)
    assert len(seconds) >= MOMENTS, f"{scenario_id} ran {len(seconds) * STEP} s"
    chosen = [seconds[round(i * (len(seconds) - 1) / (MOMENTS - 1))] for i in range(MOMENTS)]
    replay = ReplayRun(read_journal(path))
    for t in chosen:
        live = probe.views[t]
        replayed = replay.projection_at(t).view(t)
        assert not differences(live, replayed), f"{scenario_id} at t={t}: " + "; ".join(differences(live, replayed))
    end, live_end = probe.end()
    assert end == replay.total
    assert not differences(live_end, replay.projection_at(end).view(end))
    # The views are not empty shells: there is something to compare.
    assert live_end.agents and live_end.topology is not None and live_end.checks_final and live_end.checks
    assert any(v.agents and any(a.cpu_pct is not None for a in v.agents) for v in probe.views.values())
    assert all(len(s) > 0 for s in live_end.series.values())
