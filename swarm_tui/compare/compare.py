"""A comparison from start to report: plan the units, run them, build the report."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from swarm_tui.compare.experiment import Job, plan
from swarm_tui.compare.report import build_report
from swarm_tui.compare.runner import ProgressCallback, StopRequest, run_jobs
from swarm_tui.engine.runner import utc_now
from swarm_tui.patterns.workloads import Workload


def parse_seeds(text: str) -> list[int]:
    """``A..B`` (inclusive) or a single ``N``. Raises ValueError (one line)."""
    raw = text.strip()
    try:
        if ".." in raw:
            lo, hi = (int(x) for x in raw.split("..", 1))
        else:
            lo = hi = int(raw)
    except ValueError:
        raise ValueError(f"--seeds: expected A..B or N with whole numbers, got {text!r}") from None
    if lo < 0 or hi < lo:
        raise ValueError(f"--seeds: expected 0 <= A <= B, got {text!r}")
    if hi - lo >= 100000:
        raise ValueError(f"--seeds: at most 100000 seeds, got {hi - lo + 1}")
    return list(range(lo, hi + 1))


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class Comparison:
    """One ``swarm-tui compare``: the workload, the seeds, the backend and how many workers."""

    workload: Workload
    seeds: Sequence[int]
    backend: str = "mock"
    backend_options: dict[str, Any] = field(default_factory=dict)
    jobs: int = 1
    topologies: bool = True
    rollouts: bool = True

    def jobs_list(self) -> list[Job]:
        data = self.workload.model_dump(mode="json", exclude_none=True)
        options = tuple(sorted(self.backend_options.items()))
        units = plan(list(self.seeds), topologies=self.topologies, rollouts=self.rollouts)
        return [Job(unit, data, self.backend, options) for unit in units]

    def run(self, *, stop: StopRequest | None = None, on_done: ProgressCallback | None = None) -> dict[str, Any]:
        """Run every unit and return the report (what finished, if stopped)."""
        jobs = self.jobs_list()
        started = utc_now()
        outcome = run_jobs(jobs, workers=self.jobs, stop=stop, on_done=on_done)
        return build_report(
            outcome.runs,
            workload=self.workload.model_dump(mode="json", exclude_none=True),
            backend=self.backend,
            seeds=list(self.seeds),
            planned=len(jobs),
            interrupted=outcome.interrupted,
            started_at=started,
            finished_at=utc_now(),
            jobs=self.jobs,
            wall_s=outcome.wall_s,
        )
