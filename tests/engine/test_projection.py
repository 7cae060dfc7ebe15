"""One projection: what the dashboard shows live equals what a replay of the journal shows.

Every scenario of the catalogue runs on the mock backend with the projection subscribed to the
bus and a journal written; at ten moments the live view is kept. The journal is then read back
and the projection rebuilt from it at the same moments: the two views must be equal, field by
field (agents with their CPU, memory, heartbeat age and P&L, the topology, the rollout with its
analysis, the breaker, the checks so far, the charts' series, the autoscaler).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from projection_probe import assert_replay_equals_live, differences, record
from support import CATALOGUE

from swarm_tui.results.journal import read_journal
from swarm_tui.session.replay import ReplayRun


# The lab's long scenarios (a large swarm, the soak) in the slow tier: tests/slow/test_projection_lab.py.
@pytest.mark.parametrize("scenario_id", [cls.id for cls in CATALOGUE.main()])
def test_the_replay_shows_what_the_live_run_showed(tmp_path: Path, scenario_id: str) -> None:
    assert_replay_equals_live(tmp_path, scenario_id)


def test_a_difference_is_found_when_there_is_one(tmp_path: Path) -> None:
    # The comparison can fail: a journal missing one event gives another picture.
    path = tmp_path / "run.jsonl"
    probe = record(path, "mesh.failover")
    lines = path.read_text().splitlines()
    cut = next(i for i, line in enumerate(lines) if '"kind":"failure_detected"' in line)
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("\n".join(lines[:cut] + lines[cut + 1 :]) + "\n")
    replay = ReplayRun(read_journal(damaged))
    t = max(probe.views)
    assert differences(probe.views[t], replay.projection_at(t).view(t))
