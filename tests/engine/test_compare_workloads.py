"""Workloads through each topology: the decision paths, the figures a run gives, and the checks
that can fail."""

from __future__ import annotations

import pytest
from compare_support import SMALL_TOML, small

from swarm_tui.compare.experiment import Job, Unit, run_unit
from swarm_tui.compare.recorder import TopologyRecorder
from swarm_tui.engine.runner import run_one
from swarm_tui.engine.sandbox import create_backend
from swarm_tui.patterns.workloads import (
    named_workload,
    parse_workload,
    rollout_scenario,
    scaled,
    topology_scenario,
)


def _run(workload, topology: str, seed: int = 0) -> dict:
    recorder = TopologyRecorder()
    run_one(
        topology_scenario(workload, topology),
        create_backend("mock", seed=seed),
        seed=seed,
        run_id="t",
        subscribers=[recorder],
    )
    return recorder.figures()


@pytest.mark.parametrize(
    ("topology", "messages"),
    [
        ("mesh", 8.0),  # signal, risk, fill: 3 requests and 3 replies, then gossip to 2 peers
        ("hierarchical", 8.0),  # the coordinator's forward, then its 3 requests
        ("star", 12.0),  # the hub forwards each of the 3 hops
    ],
)
def test_each_topology_routes_a_decision_its_own_way(topology: str, messages: float) -> None:
    figures = _run(small(faults=[]), topology)
    assert figures["messages_per_decision"] == pytest.approx(messages, abs=0.05)
    assert figures["success_rate"] == 1.0
    assert figures["availability"] is None  # no fault, no fault window


def test_a_ring_relays_through_every_agent_in_between() -> None:
    ring = _run(small(faults=[]), "ring")
    mesh = _run(small(faults=[]), "mesh")
    # Traders 1..4 reach the risk agent through the traders after them: 3 relays on average.
    assert ring["messages_per_decision"] > mesh["messages_per_decision"] + 4
    assert ring["latency_p50_ms"] > mesh["latency_p50_ms"]


def test_a_crash_opens_a_fault_window_with_detection_and_recovery() -> None:
    figures = _run(small(), "mesh")
    assert figures["detection_s"] is not None and 0 < figures["detection_s"] <= 3.0
    assert figures["recovery_s"] is not None and figures["recovery_s"] >= figures["detection_s"]
    assert figures["availability"] is not None and 0 < figures["availability"] < 1.0


def test_a_hub_crash_takes_a_star_down_but_not_a_mesh() -> None:
    # Crashing the star's hub (the plumbing the topology adds) stops every decision until it is
    # replaced: availability is the figure that shows it, and it can fail. A mesh has no hub, so
    # the same fault is refused there as a target that matches no agent.
    workload = small(faults=[{"kind": "crash", "target": "role:hub", "at": 1.5}])
    mesh = _run(workload, "mesh")
    assert mesh["error"] is not None and "matches no agent" in mesh["error"]
    star = _run(workload, "star")
    assert star["error"] is None
    assert star["availability"] is not None and star["availability"] < 0.5


def test_a_byzantine_trader_is_not_counted_as_correct() -> None:
    workload = small(faults=[{"kind": "byzantine", "target": "#1", "at": 0.0}])
    figures = _run(workload, "mesh")
    assert figures["success_rate"] is not None and figures["success_rate"] < 1.0


def test_the_ramp_finds_the_saturation_point() -> None:
    figures = _run(small(faults=[]), "star")
    # The star's hub serves 3 forwards per decision: 6400 decisions/s swamps it, 100 does not.
    assert figures["saturation_per_s"] == 6400.0
    loads = [load for load, _ in figures["series"]["ramp"]]
    assert loads == [100.0, 6400.0]
    relaxed = _run(small(faults=[], params={"p95_budget_ms": 100000.0}), "star")
    assert relaxed["saturation_per_s"] is None  # no step over a budget nothing reaches


def test_a_run_is_deterministic_per_seed() -> None:
    job = Job(Unit("topology", "ring", 3), small().model_dump(mode="json", exclude_none=True))
    a, b = run_unit(job), run_unit(job)
    a.pop("wall_s"), b.pop("wall_s")
    assert a == b


@pytest.mark.parametrize("strategy", ["all-at-once", "blue-green", "canary"])
def test_rollouts_detect_a_defective_version_and_complete_a_sound_one(strategy: str) -> None:
    sound = run_unit(Job(Unit("rollout", strategy, 0, "sound"), small().model_dump(mode="json")))
    bad = run_unit(Job(Unit("rollout", strategy, 0, "defective"), small().model_dump(mode="json")))
    assert sound["full_rollout_s"] is not None and sound["detect_s"] is None
    assert bad["detect_s"] is not None and bad["full_rollout_s"] is None
    assert bad["errors"] > 0 and sound["errors"] == 0
    assert rollout_scenario(small(), strategy, "sound").id.endswith(f"{strategy}.sound")


def test_workload_files_are_validated_with_one_line() -> None:
    import tomllib

    assert parse_workload(tomllib.loads(SMALL_TOML)).size == 6
    with pytest.raises(ValueError, match=r"agents\[0\]\.role"):
        parse_workload({"name": "x", "agents": [{"kind": "momentum", "role": "boss"}]})
    with pytest.raises(ValueError, match="trader"):
        parse_workload({"name": "x", "agents": [{"kind": "risk", "role": "risk"}]})
    with pytest.raises(ValueError, match=r"params\.rate"):
        parse_workload({"name": "x", "agents": [{"kind": "momentum", "role": "trader"}], "params": {"rate": -1}})
    with pytest.raises(ValueError, match=r"params\.ramp"):
        parse_workload({"name": "x", "agents": [{"kind": "momentum", "role": "trader"}], "params": {"ramp": [5, 2]}})
    with pytest.raises(ValueError, match="unknown workload"):
        named_workload("nope")


def test_scaled_keeps_the_mix_and_the_specialists() -> None:
    big = scaled(named_workload("desk"), 50)
    assert big.size == 50
    assert sum(e.count for e in big.agents if e.role == "risk") == 1
