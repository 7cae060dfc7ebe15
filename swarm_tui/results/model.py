"""The result model: what a run produced, as written to the results file (schema 1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from swarm_tui.engine.result import ScenarioResult

__all__ = ["SCHEMA_VERSION", "WALL_FIELDS", "RunResult", "ScenarioResult"]

SCHEMA_VERSION = 1
# Fields that may differ between two mock runs with the same seed.
WALL_FIELDS = ("run_id", "started_at", "finished_at", "duration_s")


@dataclass
class RunResult:
    run_id: str
    backend: str
    seed: int | None
    started_at: str
    finished_at: str = ""
    scenarios: list[ScenarioResult] = field(default_factory=list)
    comparison: list[dict[str, Any]] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def passed(self) -> bool:
        return bool(self.scenarios) and all(s.passed for s in self.scenarios)

    def counts(self) -> dict[str, int]:
        out = {"passed": 0, "failed": 0, "error": 0}
        for s in self.scenarios:
            out[s.status] = out.get(s.status, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "run_id": self.run_id,
            "backend": self.backend,
            "seed": self.seed,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "summary": self.counts(),
            "scenarios": [s.to_dict() for s in self.scenarios],
            "comparison": self.comparison,
            "recommendations": self.recommendations,
        }
        if self.interrupted:
            out["interrupted"] = True
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        return cls(
            run_id=str(data.get("run_id", "")),
            backend=str(data.get("backend", "")),
            seed=data.get("seed"),
            started_at=str(data.get("started_at", "")),
            finished_at=str(data.get("finished_at", "")),
            scenarios=[ScenarioResult.from_dict(s) for s in data.get("scenarios", [])],
            comparison=list(data.get("comparison", [])),
            recommendations=list(data.get("recommendations", [])),
            interrupted=bool(data.get("interrupted", False)),
        )
