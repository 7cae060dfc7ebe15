"""Every scenario passes for every seed in 0..19 (slow: CI runs it)."""

from __future__ import annotations

import pytest
from support import CATALOGUE, failed_checks, run_scenario


@pytest.mark.slow
@pytest.mark.parametrize("scenario_id", [cls.id for cls in CATALOGUE.main()])
def test_scenario_passes_for_seeds_0_to_19(scenario_id: str) -> None:
    failures = {}
    for seed in range(20):
        result = run_scenario(scenario_id, seed=seed)
        if result.status != "passed":
            failures[seed] = result.error or failed_checks(result)
    assert not failures, failures


@pytest.mark.slow
def test_the_whole_catalogue_is_identical_for_one_seed(tmp_path) -> None:
    import json
    import os
    import subprocess
    import sys

    def run(seed: int, hashseed: str, name: str, which: tuple[str, ...] = ("--pattern", "all")) -> dict:
        path = tmp_path / name
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        command = [sys.executable, "-m", "swarm_tui", "run", *which, "--seed", str(seed), "--quiet"]
        subprocess.run([*command, "--no-journal", "--export", str(path)], env=env, check=True, capture_output=True)
        data = json.loads(path.read_text())
        for key in ("run_id", "started_at", "finished_at"):
            data.pop(key)
        for s in data["scenarios"]:
            s.pop("duration_s")
        return data

    a, b = run(5, "1", "a.json"), run(5, "12345", "b.json")
    assert a == b
    # Another seed is another experiment (one scenario shows it).
    other = run(6, "1", "c.json", ("--scenario", "mesh.failover"))["scenarios"]
    (same,) = [s for s in a["scenarios"] if s["id"] == "mesh.failover"]
    assert len(other) == 1 and other[0]["id"] == "mesh.failover" and other[0] != same
