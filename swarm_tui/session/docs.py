"""The checks of every scenario, as a run with the defaults judges them (for docs/scenarios.md)."""

from __future__ import annotations

from typing import Any

from swarm_tui.engine.runner import run_one
from swarm_tui.engine.sandbox import create_backend
from swarm_tui.patterns.catalogue import Catalogue
from swarm_tui.patterns.describe import SHORTENED


def catalogue_checks(catalogue: Catalogue, seed: int = 0) -> dict[str, list[dict[str, Any]]]:
    """Scenario id -> its checks (name, expected) from a mock run with the defaults (the lab's
    long scenarios from a shortened run)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for cls in catalogue:
        scenario = cls(SHORTENED.get(cls.id))
        result = run_one(scenario, create_backend("mock", seed=seed), seed=seed, run_id="docs")
        out[cls.id] = [{"name": c["name"], "expected": c["expected"]} for c in result.checks]
    return out
