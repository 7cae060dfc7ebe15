"""The catalogue: one module per deployment pattern, each registering its scenarios."""

from __future__ import annotations

from swarm_tui.engine.scenario import REGISTRY, Scenario
from swarm_tui.patterns import (  # noqa: F401  (importing registers the scenarios)
    autoscaling,
    chaos,
    hierarchical,
    lab,
    mesh,
    multi_strategy,
    ring,
    rollouts,
    star,
)

PATTERNS: dict[str, str] = {
    "mesh": "every agent linked to every other",
    "hierarchical": "a coordinator with workers under it",
    "ring": "stage i feeds stage i+1",
    "star": "a hub with specialists around it",
    "autoscaling": "an HPA-style autoscaler on load and on the VIX",
    "multi-strategy": "strategies side by side, capital rotated between them",
    "blue-green": "traffic shifted from blue to green, rolled back on errors",
    "canary": "a canary analysed step by step, promoted or aborted",
    "chaos": "resource faults inside one agent (beyond the public suite)",
}


# Beyond the catalogue: run by name or with --pattern lab, never part of --pattern all.
EXTRA_PATTERNS: dict[str, str] = {
    "lab": "large swarms and soak runs (not part of --pattern all)",
}


def scenarios_of(pattern: str) -> list[type[Scenario]]:
    """The scenarios of one pattern, in catalogue order."""
    return [cls for cls in REGISTRY.values() if cls.pattern == pattern]


def all_scenarios() -> list[type[Scenario]]:
    """Every scenario, pattern by pattern."""
    return [cls for pattern in PATTERNS for cls in scenarios_of(pattern)]
