"""Like with like: figures side by side only for equal workloads; no recommendation across them."""

from __future__ import annotations

from typing import Any

from support import CATALOGUE

from swarm_tui.engine.result import ScenarioResult
from swarm_tui.results.comparison import UNLIKE, build_comparison, groups
from swarm_tui.results.export import to_markdown
from swarm_tui.results.model import RunResult


def result(
    scenario_id: str, workload: str, p95: float, *, passed: bool = True, avail: float | None = None
) -> ScenarioResult:
    checks = [{"name": "works", "passed": passed, "expected": "yes", "observed": "yes" if passed else "no"}]
    metrics: dict[str, Any] = {
        "decisions": 100,
        "latency_ms": {"p50": p95 / 2, "p95": p95, "p99": p95},
        "success_rate": 1.0,
        "availability": avail,
        "throughput_per_s": 10.0,
    }
    status = "passed" if passed else "failed"
    return ScenarioResult(scenario_id, scenario_id.split(".")[0], status, 1.0, checks, metrics, workload=workload)


def test_unlike_workloads_are_never_ranked() -> None:
    """The old report said "prefer multi-strategy; ring is 420x slower": two unlike workloads."""
    rows, recs = build_comparison([result("ring.data-flow", "ring@1", 420.0), result("multi-strategy.x", "ms@2", 1.0)])
    assert [r["scenario"] for r in rows] == ["ring.data-flow", "multi-strategy.x"]
    assert len(groups(rows)) == 2
    assert recs == [UNLIKE]
    assert not any("prefer" in r.lower() or "faster" in r or "slower" in r for r in recs)


def test_equal_workloads_share_a_table() -> None:
    rows, recs = build_comparison(
        [result("a", "w@1", 5.0), result("b", "w@2", 5.0), result("a-off", "w@1", 9.0, passed=False, avail=0.5)]
    )
    # Rows of one workload are together, in the run's order.
    assert [r["scenario"] for r in rows] == ["a", "a-off", "b"]
    assert [[r["scenario"] for r in g] for g in groups(rows)] == [["a", "a-off"], ["b"]]
    assert any(r.startswith("a-off: 1 of 1 checks failed") for r in recs)
    assert any(r.startswith("a-off: 50.0% of the decisions") for r in recs)
    run = RunResult("r", "mock", 0, "t", scenarios=[], comparison=rows, recommendations=recs)
    text = to_markdown(run)
    assert "### w@1" in text and "### w@2" in text
    # One table per workload: the header row appears once per group.
    assert text.count("| scenario | status | mechanisms off |") == 2


def test_one_workload_no_unlike_note() -> None:
    _, recs = build_comparison([result("a", "w@1", 5.0), result("a", "w@1", 6.0)])
    assert UNLIKE not in recs


def test_workload_fingerprint_follows_the_load_not_the_thresholds() -> None:
    cls = CATALOGUE["mesh.failover"]
    base = cls().workload()
    assert base.startswith("mesh.failover@")
    assert cls(scenario_id="my-copy").workload() == base  # the id is a name, not a workload
    assert cls(mechanisms={"failover": False}).workload() == base  # same load, a mechanism off
    assert cls({"min_availability": 0.1}).workload() == base  # a threshold is not the load
    assert cls({"duration_s": 31.0}).workload() != base
    assert cls(faults=[]).workload() != base


def test_workload_fingerprint_ignores_the_agents_secrets_but_not_their_program() -> None:
    # An agent's env holds the user's secrets: two runs that differ only there ran the same load
    # (and the fingerprint, which is exported, must not move with a secret's value).
    cls = CATALOGUE["mesh.equal-coordination"]
    entry = {"kind": "momentum", "symbol": "SPY", "count": 5, "command": ["python3", "agent.py"]}
    mine = cls({"agents": [{**entry, "env": {"API_TOKEN": "first-secret"}}]}).workload()
    assert cls({"agents": [{**entry, "env": {"API_TOKEN": "second-secret"}}]}).workload() == mine
    assert cls({"agents": [entry]}).workload() == mine
    # The program is part of the workload: another program is another experiment.
    assert cls({"agents": [{**entry, "command": ["node", "agent.js"]}]}).workload() != mine
    assert cls({"agents": [{**entry, "count": 6}]}).workload() != mine
