"""The experiment: which runs a comparison is made of, and one run in isolation.

A comparison is a grid of :class:`Unit` runs: the workload through each topology, and each
rollout strategy with the sound and the defective version, each repeated for every seed. A unit
is independent of every other (a fresh backend, clock and market, seeded by the unit's seed), so
units can run in any process, in any order, and give the same figures: :func:`run_unit` is a
top-level function, safe to call in a spawned worker process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from swarm_tui.compare.recorder import RolloutRecorder, TopologyRecorder
from swarm_tui.engine.runner import run_one
from swarm_tui.engine.sandbox import create_backend
from swarm_tui.engine.scenario import Scenario
from swarm_tui.engine.topology import TOPOLOGIES
from swarm_tui.patterns.workloads import (
    ROLLOUT_STRATEGIES,
    VERSIONS,
    Workload,
    rollout_scenario,
    topology_scenario,
)

# The order of the report's rows (the replaced system's table lists them by its claimed latency).
TOPOLOGY_ORDER = ("ring", "hierarchical", "star", "mesh")
assert set(TOPOLOGY_ORDER) == set(TOPOLOGIES)


@dataclass(frozen=True)
class Unit:
    """One run of the comparison: ``kind`` is ``topology`` (``arm`` a topology) or ``rollout``
    (``arm`` a strategy, ``version`` sound or defective)."""

    kind: str
    arm: str
    seed: int
    version: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.arm}{':' + self.version if self.version else ''}:{self.seed}"


def plan(seeds: list[int], *, topologies: bool = True, rollouts: bool = True) -> list[Unit]:
    """Every unit of a comparison, seed by seed (so that an interrupted run has whole seeds first)."""
    units: list[Unit] = []
    for seed in seeds:
        if topologies:
            units += [Unit("topology", t, seed) for t in TOPOLOGY_ORDER]
        if rollouts:
            units += [Unit("rollout", s, seed, v) for s in ROLLOUT_STRATEGIES for v in VERSIONS]
    return units


@dataclass(frozen=True)
class Job:
    """What a worker needs to run a unit: the unit, the workload (as plain data), the backend."""

    unit: Unit
    workload: dict[str, Any]
    backend: str = "mock"
    backend_options: tuple[tuple[str, Any], ...] = ()


def run_unit(job: Job) -> dict[str, Any]:
    """Run one unit and return its figures (plain data: it crosses a process boundary)."""
    unit = job.unit
    workload = Workload.model_validate(job.workload)
    recorder: TopologyRecorder | RolloutRecorder
    scenario: Scenario[Any, Any]
    if unit.kind == "topology":
        scenario = topology_scenario(workload, unit.arm)
        recorder = TopologyRecorder()
    else:
        scenario = rollout_scenario(workload, unit.arm, unit.version)
        recorder = RolloutRecorder()
    backend = create_backend(job.backend, seed=unit.seed, **dict(job.backend_options))
    wall = time.perf_counter()
    run_one(scenario, backend, seed=unit.seed, run_id=f"compare-{unit.seed}", subscribers=[recorder])
    figures = recorder.figures()
    figures.update(kind=unit.kind, arm=unit.arm, version=unit.version, seed=unit.seed)
    figures["wall_s"] = round(time.perf_counter() - wall, 4)
    return figures
