"""Scenarios on real backends: each agent in its own OS process, or its own (fake) E2B sandbox.

CI runs a representative subset (every pattern's mechanisms are covered by the mock tests; these
prove the same experiments hold with real processes and the real E2B SDK). The whole catalogue
on both backends (about 10 minutes each, by hand):

    SWARM_TUI_REAL_ALL=1 .venv/bin/python -m pytest tests/backends/test_real_backends.py
"""

from __future__ import annotations

import os

import pytest
from support import CATALOGUE, passes_on_e2b, passes_on_local

# The fast tier: one experiment; the slow tier (tests/slow/test_real_backends_more.py): one of
# every other pattern; by hand (SWARM_TUI_REAL_ALL=1): the whole catalogue.
SUBSET = ["ring.data-flow"]
CHOSEN = [c.id for c in CATALOGUE.main()] if os.environ.get("SWARM_TUI_REAL_ALL") else SUBSET


@pytest.mark.parametrize("scenario_id", CHOSEN)
def test_scenario_on_local_processes(scenario_id: str) -> None:
    passes_on_local(scenario_id)


@pytest.mark.parametrize("scenario_id", CHOSEN)
def test_scenario_on_e2b_fake(scenario_id: str, e2b_fake) -> None:
    passes_on_e2b(scenario_id, e2b_fake)
