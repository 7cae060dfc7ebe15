"""The catalogue of scenarios, loaded by an explicit call (no registration by import).

Each pattern module declares ``SCENARIOS``, its scenario classes in catalogue order;
:func:`load_catalogue` collects them into a :class:`Catalogue` that the command line, the
dashboard, scenario files and the docs ask for scenarios by id or by pattern.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from swarm_tui.engine.scenario import Scenario

ScenarioClass = type[Scenario[Any, Any]]

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


@dataclass(frozen=True)
class Catalogue:
    """Every scenario by id, in catalogue order, with the patterns they belong to."""

    scenarios: dict[str, ScenarioClass] = field(default_factory=dict)
    patterns: dict[str, str] = field(default_factory=lambda: dict(PATTERNS))
    extra_patterns: dict[str, str] = field(default_factory=lambda: dict(EXTRA_PATTERNS))

    def __contains__(self, scenario_id: object) -> bool:
        return scenario_id in self.scenarios

    def __getitem__(self, scenario_id: str) -> ScenarioClass:
        return self.scenarios[scenario_id]

    def __iter__(self) -> Iterator[ScenarioClass]:
        return iter(self.scenarios.values())

    def get(self, scenario_id: str) -> ScenarioClass | None:
        return self.scenarios.get(scenario_id)

    def ids(self) -> list[str]:
        return list(self.scenarios)

    def all_patterns(self) -> dict[str, str]:
        return {**self.patterns, **self.extra_patterns}

    def scenarios_of(self, pattern: str) -> list[ScenarioClass]:
        """The scenarios of one pattern, in catalogue order."""
        return [cls for cls in self.scenarios.values() if cls.pattern == pattern]

    def main(self) -> list[ScenarioClass]:
        """Every scenario of the catalogue proper (``--pattern all``), pattern by pattern."""
        return [cls for pattern in self.patterns for cls in self.scenarios_of(pattern)]


@functools.cache
def load_catalogue() -> Catalogue:
    """The catalogue: every pattern module's ``SCENARIOS``. Raises ValueError on a duplicate id."""
    from swarm_tui.patterns import (
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

    scenarios: dict[str, ScenarioClass] = {}
    for module in (mesh, hierarchical, ring, star, autoscaling, multi_strategy, rollouts, chaos, lab):
        for cls in module.SCENARIOS:
            if cls.id in scenarios:
                raise ValueError(f"scenario {cls.id} is in the catalogue twice")
            scenarios[cls.id] = cls
    return Catalogue(scenarios)
