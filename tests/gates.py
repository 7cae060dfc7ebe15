"""How often the rollout gates decide each way, over seeds (shared by the slow test that holds
the README's targets and by tests/benchmarks/bench_gates.py, which prints the figures).

Each case is a version with a known true defect, run through the real scenario on mock:
blue-green's gate (an SPRT on green's error rate, limit 10 %) and the canary's analysis (an SPRT
on the canary's error rate with its limit from the stable's success, and a one-sided
Mann-Whitney U test on latency, limit 1.5x).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from support import CATALOGUE, run_scenario

from swarm_tui.engine.controllers.analysis import wilson


@dataclass(frozen=True)
class Case:
    name: str
    scenario: str  # blue-green.rollback or canary.abort
    error_rate: float
    latency_factor: float
    should_reject: bool
    target: float  # the most (acceptable version) or the least (bad one) share of rejections

    def params(self) -> dict[str, Any]:
        p = CATALOGUE[self.scenario].Params().model_dump()
        p["agents"][1]["defect"] = {"error_rate": self.error_rate, "latency_factor": self.latency_factor}
        return p


CASES = (
    Case("blue-green, green at half the 10 % limit (5 % errors)", "blue-green.rollback", 0.05, 1.0, False, 0.05),
    Case("blue-green, green at 3x the limit (30 % errors)", "blue-green.rollback", 0.30, 1.0, True, 0.99),
    Case("canary, errors at half the ~5 % limit (2.5 %)", "canary.abort", 0.025, 1.0, False, 0.05),
    Case("canary, errors at 3x the limit (15 %)", "canary.abort", 0.15, 1.0, True, 0.99),
    Case("canary, latency 1.25x stable (limit 1.5x)", "canary.abort", 0.0, 1.25, False, 0.05),
    Case("canary, latency 4.5x stable (3x the limit)", "canary.abort", 0.0, 4.5, True, 0.99),
)


@dataclass
class Outcome:
    case: Case
    seeds: int
    rejected: int
    requests: list[int]  # new-version requests seen when it was rejected

    @property
    def share(self) -> float:
        return self.rejected / self.seeds

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.rejected, self.seeds)

    @property
    def meets_target(self) -> bool:
        return self.share >= self.case.target if self.case.should_reject else self.share <= self.case.target

    def line(self) -> str:
        low, high = self.interval
        median = statistics.median(self.requests) if self.requests else None
        most = max(self.requests) if self.requests else None
        target = f"{'>=' if self.case.should_reject else '<='} {self.case.target:.0%}"
        return (
            f"{self.case.name}: rejected on {self.rejected}/{self.seeds} seeds ({self.share:.0%}, 95 % CI "
            f"{low:.0%}-{high:.0%}; target {target}); requests to the rejection: median {median}, max {most}"
        )


def measure(case: Case, seeds: range) -> Outcome:
    rejected, requests = 0, []
    cls = CATALOGUE[case.scenario]
    for seed in seeds:
        result = run_scenario(cls(case.params()), seed=seed)
        if case.scenario.startswith("blue-green"):
            if result.metrics.get("rollback_at") is not None:
                rejected += 1
                requests.append(int(result.metrics["green_requests_to_rollback"]))
        else:
            steps = result.metrics.get("steps") or []
            if steps and steps[-1]["decision"] == "abort":
                rejected += 1
                requests.append(int(steps[-1]["analysis"]["canary_requests"]))
    return Outcome(case, len(seeds), rejected, requests)
