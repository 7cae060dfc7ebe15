"""Every injected fault is judged, with one definition per metric (engine/judge.py, metrics.py)."""

from __future__ import annotations

from typing import Any

import pytest
from support import CATALOGUE, failed_checks, run_scenario

from swarm_tui.engine.agents import AgentState
from swarm_tui.engine.controllers import failover

FAILOVER = CATALOGUE["mesh.failover"]
AVAILABILITY = "decisions answered correctly within"


def checks_by_name(result: Any) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in result.checks}


def test_every_fault_is_judged_not_only_the_first() -> None:
    two = [{"kind": "crash", "target": "#2", "at": 10.0}, {"kind": "crash", "target": "#3", "at": 25.0}]
    result = run_scenario(FAILOVER(None, faults=two))
    assert result.passed, failed_checks(result)
    names = [c["name"] for c in result.checks]
    for agent in ("momentum-2", "momentum-3"):
        assert any(n.startswith(f"crash of {agent}") and n.endswith("detected (s)") for n in names)
        assert any(n.startswith(f"crash of {agent}") and n.endswith("service restored (s)") for n in names)
    assert len(result.metrics["faults"]) == 2


def test_a_second_crash_never_replaced_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit's case: the second crash was never checked. Here the replacer answers only the
    first failure; the second crash's recovery check fails, the first's still passes."""
    original = failover.Replacer._on_change
    answered: list[str] = []

    def first_only(self: failover.Replacer, agent: Any, old: AgentState, new: AgentState) -> None:
        if new == AgentState.FAILED:
            if answered:
                return
            answered.append(agent.id)
        original(self, agent, old, new)

    monkeypatch.setattr(failover.Replacer, "_on_change", first_only)
    two = [{"kind": "crash", "target": "#2", "at": 10.0}, {"kind": "crash", "target": "#3", "at": 25.0}]
    result = run_scenario(FAILOVER(None, faults=two))
    failed = failed_checks(result)
    assert any(n.startswith("crash of momentum-3") and n.endswith("service restored (s)") for n in failed)
    assert not any(n.startswith("crash of momentum-2") for n in failed)
    restored = next(c for c in result.checks if c["name"].startswith("crash of momentum-3") and "restored" in c["name"])
    assert restored["observed"] == "not restored"


def test_a_total_outage_fails_the_outage_bound() -> None:
    """Every agent crashes at once: retries get answers in the end (eventual success is high),
    but decisions were not answered in time during the fault: availability is low and fails."""
    everyone = [{"kind": "crash", "target": f"#{i}", "at": 20.0} for i in range(1, 5)]
    result = run_scenario(FAILOVER(None, faults=everyone))
    availability = result.metrics["availability"]
    assert availability < 0.6
    assert result.metrics["success_rate"] > availability  # the old "eventual success" definition
    assert any(n.startswith(AVAILABILITY) for n in failed_checks(result))


def test_a_scheduled_fault_that_never_happens_fails() -> None:
    result = run_scenario(FAILOVER(None, faults=[{"kind": "crash", "target": "#2", "at": 500.0}]))
    check = checks_by_name(result)["crash #1 injected"]
    assert not check["passed"] and check["observed"] == "never"


def test_recovery_is_timed_from_the_fault_for_every_kind() -> None:
    """A leak's recovery counts the time the leak took to kill the agent, not just the restart
    after the OOM exit (which once made "chaos" look fastest)."""
    leak = run_scenario("chaos.memory-leak", seed=1)
    (window,) = leak.metrics["faults"]
    # ~470 MB to leak at 40 MB/s: over ten seconds before the kill, all of it counted.
    assert window["recovery_s"] > 9.0 and window["detection_s"] <= window["recovery_s"]
    crash = run_scenario("mesh.failover", seed=1)
    (window,) = crash.metrics["faults"]
    assert window["detection_s"] < window["recovery_s"] < window["detection_s"] + 5.0
    # The same origin for every kind: detection and recovery are measured from the injection.
    assert leak.metrics["recovery_s"] == pytest.approx(leak.metrics["faults"][0]["recovery_s"], abs=1e-3)


def test_tight_bounds_fail_with_the_figure() -> None:
    result = run_scenario(FAILOVER({"detect_intervals": 0.5, "recovery_budget_s": 0.1}))
    failed = failed_checks(result)
    assert any(n.endswith("detected (s)") for n in failed)
    assert any(n.endswith("service restored (s)") for n in failed)
    detected = next(c for c in result.checks if c["name"].endswith("detected (s)"))
    assert isinstance(detected["observed"], float) and detected["observed"] > 0.5
