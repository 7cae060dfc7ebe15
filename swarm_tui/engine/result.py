"""A scenario's result: its status, its checks and what it measured (the results file's unit).

The engine produces it; :mod:`swarm_tui.results` writes it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    # The fingerprint of what the run was exposed to (Scenario.workload): equal workloads only
    # are compared side by side.
    workload: str = ""

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
        if self.workload:
            out["workload"] = self.workload
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
            workload=str(data.get("workload", "")),
        )
