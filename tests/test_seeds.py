"""Every scenario passes for every seed in 0..99 (slow: CI runs it)."""

from __future__ import annotations

import pytest
from conftest import failed_checks, run_scenario

from swarm_tui.patterns import all_scenarios


@pytest.mark.slow
@pytest.mark.parametrize("scenario_id", [cls.id for cls in all_scenarios()])
def test_scenario_passes_for_seeds_0_to_99(scenario_id: str) -> None:
    failures = {}
    for seed in range(100):
        result = run_scenario(scenario_id, seed=seed)
        if result.status != "passed":
            failures[seed] = result.error or failed_checks(result)
    assert not failures, failures
