"""Scenarios on real backends: each agent in its own OS process, or its own (fake) E2B sandbox.

CI runs a representative subset (every pattern's mechanisms are covered by the mock tests; these
prove the same experiments hold with real processes and the real E2B SDK). The whole catalogue
on both backends (about 10 minutes each, by hand):

    SWARM_TUI_REAL_ALL=1 .venv/bin/python -m pytest tests/test_real_backends.py
"""

from __future__ import annotations

import os
import time

import psutil
import pytest
from conftest import failed_checks

from swarm_tui.backends import make_backend
from swarm_tui.backends.local import MARKER
from swarm_tui.engine.runner import run_one
from swarm_tui.patterns import REGISTRY, all_scenarios

SUBSET = ["hierarchical.load-balancing", "ring.data-flow", "star.hub-specialists", "blue-green.rollback"]
CHOSEN = [c.id for c in all_scenarios()] if os.environ.get("SWARM_TUI_REAL_ALL") else SUBSET


def _no_agent_processes() -> list[int]:
    me = os.getpid()
    return [
        p.pid
        for p in psutil.process_iter(["cmdline", "ppid"])
        if p.info.get("ppid") == me and any(c.startswith(f"{MARKER}:") for c in (p.info.get("cmdline") or []))
    ]


@pytest.mark.parametrize("scenario_id", CHOSEN)
def test_scenario_on_local_processes(scenario_id: str) -> None:
    started = time.perf_counter()
    result = run_one(REGISTRY[scenario_id](), make_backend("local", seed=0), seed=0, run_id="real")
    assert result.status == "passed", result.error or failed_checks(result)
    assert time.perf_counter() - started < 60
    assert _no_agent_processes() == []


@pytest.mark.parametrize("scenario_id", CHOSEN)
def test_scenario_on_e2b_fake(scenario_id: str, e2b_fake) -> None:
    started = time.perf_counter()
    result = run_one(REGISTRY[scenario_id](), make_backend("e2b", seed=0), seed=0, run_id="real")
    assert result.status == "passed", result.error or failed_checks(result)
    assert time.perf_counter() - started < 60
    # Every agent the scenario asked for ran in a sandbox of the fake.
    assert e2b_fake.created_total >= len(REGISTRY[scenario_id].defaults.get("agents", [])) > 0
