"""Every scenario passes on mock, and fails when the mechanism it relies on is switched off."""

from __future__ import annotations

import pytest
from support import CATALOGUE, failed_checks, run_scenario

SCENARIOS = [cls.id for cls in CATALOGUE.main()]
MECHANISMS = [(cls.id, m) for cls in CATALOGUE.main() for m in cls.mechanism_help]


def test_the_catalogue_has_the_public_suite_and_the_extras() -> None:
    assert len(SCENARIOS) == 23
    for extra in ("canary.abort", "mesh.partition", "chaos.memory-leak", "chaos.cpu-spike"):
        assert extra in SCENARIOS
    # Every scenario can be broken: it names at least one mechanism to switch off.
    assert all(cls.mechanism_help for cls in CATALOGUE.main())


@pytest.mark.parametrize("scenario_id", SCENARIOS)
def test_scenario_passes_on_mock(scenario_id: str) -> None:
    result = run_scenario(scenario_id, seed=0)
    assert result.error is None, result.error
    assert result.status == "passed", failed_checks(result)
    assert len(result.checks) >= 2
    assert result.metrics["sim_time_s"] > 0
    assert result.events > 0


@pytest.mark.parametrize(("scenario_id", "mechanism"), MECHANISMS)
def test_scenario_fails_without_its_mechanism(scenario_id: str, mechanism: str) -> None:
    result = run_scenario(scenario_id, seed=0, **{mechanism: False})
    assert result.error is None, result.error
    assert result.status == "failed", f"{scenario_id} still passes with {mechanism} off"
    assert failed_checks(result)


def test_a_scenario_measures_rather_than_declares() -> None:
    # Two seeds give two different measurements of the same experiment.
    a = run_scenario("mesh.failover", seed=1).metrics
    b = run_scenario("mesh.failover", seed=2).metrics
    assert a["latency_ms"] != b["latency_ms"]
    assert a["recovery_s"] is not None and a["recovery_s"] > 0
