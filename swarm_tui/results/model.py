"""The result model: what a run produced, as written to the results file (schema 1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1
# Fields that may differ between two mock runs with the same seed.
WALL_FIELDS = ("run_id", "started_at", "finished_at", "duration_s")


@dataclass
class ScenarioResult:
    id: str
    pattern: str
    status: str  # passed | failed | error
    duration_s: float
    checks: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    events: int = 0
    title: str = ""
    error: str | None = None
    mechanisms: dict[str, bool] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def checks_passed(self) -> int:
        return sum(1 for c in self.checks if c.get("passed"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "pattern": self.pattern,
            "title": self.title,
            "status": self.status,
            "duration_s": round(self.duration_s, 4),
            "checks": self.checks,
            "metrics": self.metrics,
            "events": self.events,
        }
        if self.error:
            out["error"] = self.error
        if self.mechanisms and not all(self.mechanisms.values()):
            out["mechanisms_off"] = sorted(k for k, v in self.mechanisms.items() if not v)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScenarioResult:
        return cls(
            id=str(data["id"]),
            pattern=str(data.get("pattern", "")),
            status=str(data.get("status", "error")),
            duration_s=float(data.get("duration_s", 0.0)),
            checks=list(data.get("checks", [])),
            metrics=dict(data.get("metrics", {})),
            events=int(data.get("events", 0)),
            title=str(data.get("title", "")),
            error=data.get("error"),
            mechanisms={k: False for k in data.get("mechanisms_off", [])},
        )


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
