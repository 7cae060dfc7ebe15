"""Shared helpers for the tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from swarm_tui.backends.mock import MockBackend
from swarm_tui.engine.runner import run_one
from swarm_tui.engine.scenario import REGISTRY, Scenario
from swarm_tui.results.model import ScenarioResult

ROOT = Path(__file__).resolve().parent.parent


def run_scenario(scenario_id: str | Scenario, seed: int = 0, **mechanisms: bool) -> ScenarioResult:
    """Run one catalogue scenario on the mock backend."""
    if isinstance(scenario_id, Scenario):
        scenario = scenario_id
    else:
        scenario = REGISTRY[scenario_id](mechanisms=mechanisms or None)
    return run_one(scenario, MockBackend(seed), seed=seed, run_id="test")


def failed_checks(result: ScenarioResult) -> list[str]:
    return [c["name"] for c in result.checks if not c["passed"]]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env.setdefault("COLUMNS", "120")
    return env


PYTHON = sys.executable


@pytest.fixture
def tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path
