"""Helpers shared by the tests of every tier (importable as ``support``)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from swarm_tui.engine.result import ScenarioResult
from swarm_tui.engine.runner import AnyScenario, run_one
from swarm_tui.engine.sandbox import create_backend
from swarm_tui.patterns.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = load_catalogue()
PYTHON = sys.executable
# Examples per property-based test in every tier: 150
# (set SWARM_TUI_EXAMPLES=1000 for a deeper pass by hand).
EXAMPLES = int(os.environ.get("SWARM_TUI_EXAMPLES", "150"))


def scenario(scenario_id: str, params: dict[str, Any] | None = None, **mechanisms: bool) -> AnyScenario:
    """A catalogue scenario with some parameters changed and mechanisms switched off."""
    return CATALOGUE[scenario_id](params, mechanisms=mechanisms or None)


def run_scenario(scenario_id: str | AnyScenario, seed: int = 0, **mechanisms: bool) -> ScenarioResult:
    """Run one catalogue scenario on the mock backend."""
    chosen = scenario(scenario_id, **mechanisms) if isinstance(scenario_id, str) else scenario_id
    return run_one(chosen, create_backend("mock", seed=seed), seed=seed, run_id="test")


async def while_it_lasts(
    now: Callable[[], float], ends_at: float, sample: Callable[[], Awaitable[float]], n: int, lead: float
) -> list[float]:
    """Up to ``n`` samples of a fault's effect, each started at least ``lead`` seconds before the
    fault ends and kept only if it also finished before then: on a loaded machine a fault's slow
    answers can outlast it, and a median of answers given after it measures nothing.

    The caller asserts a minimum sample on what comes back."""
    samples: list[float] = []
    while len(samples) < n and now() < ends_at - lead:
        value = await sample()
        if now() < ends_at:
            samples.append(value)
    return samples


def failed_checks(result: ScenarioResult) -> list[str]:
    return [c["name"] for c in result.checks if not c["passed"]]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env.setdefault("COLUMNS", "120")
    return env


def agent_processes_of(pid: int) -> list[Any]:
    """The local agent processes whose parent is ``pid``."""
    import psutil

    from swarm_tui.backends.local import MARKER

    out = []
    for proc in psutil.process_iter(["ppid", "cmdline"]):
        if proc.info.get("ppid") == pid and any(c.startswith(f"{MARKER}:") for c in proc.info.get("cmdline") or []):
            out.append(proc)
    return out


def agent_processes_left() -> list[int]:
    """Local agent processes this process started and that are still there."""
    import psutil

    from swarm_tui.backends.local import MARKER

    me = os.getpid()
    return [
        p.pid
        for p in psutil.process_iter(["cmdline", "ppid"])
        if p.info.get("ppid") == me and any(c.startswith(f"{MARKER}:") for c in (p.info.get("cmdline") or []))
    ]


def passes_on_local(scenario_id: str) -> None:
    """The scenario passes with every agent in its own OS process, within 60 s of wall time."""
    started = time.perf_counter()
    result = run_one(scenario(scenario_id), create_backend("local", seed=0), seed=0, run_id="real")
    assert result.status == "passed", result.error or failed_checks(result)
    assert time.perf_counter() - started < 60
    assert agent_processes_left() == []


def passes_on_e2b(scenario_id: str, fake: Any) -> None:
    """The scenario passes with every agent in a sandbox of the loopback E2B, within 60 s."""
    started = time.perf_counter()
    result = run_one(scenario(scenario_id), create_backend("e2b", seed=0), seed=0, run_id="real")
    assert result.status == "passed", result.error or failed_checks(result)
    assert time.perf_counter() - started < 60
    # Every agent the scenario asked for ran in a sandbox of the fake.
    assert fake.created_total >= len(CATALOGUE[scenario_id].Params().agent_specs()) > 0


# -- the results file's schema (docs: DESIGN's results file) ---------------------------------
RESULT_KEYS = {"schema", "run_id", "backend", "seed", "started_at", "finished_at", "scenarios", "comparison"}
SCENARIO_KEYS = {"id", "pattern", "status", "duration_s", "checks", "metrics", "events"}
METRIC_KEYS = {"decisions", "success_rate", "latency_ms", "throughput_per_s", "recovery_s"}


def validate_results(data: dict) -> None:
    assert set(data) >= RESULT_KEYS
    assert data["schema"] == 1 and isinstance(data["run_id"], str) and data["backend"] == "mock"
    assert isinstance(data["seed"], int)
    for key in ("started_at", "finished_at"):
        assert data[key].endswith("Z") and "T" in data[key]
    for s in data["scenarios"]:
        assert set(s) >= SCENARIO_KEYS
        assert s["status"] in ("passed", "failed", "error")
        assert isinstance(s["duration_s"], float)
        assert isinstance(s["events"], int) and s["events"] > 0
        for c in s["checks"]:
            assert set(c) == {"name", "passed", "expected", "observed"}
            assert isinstance(c["passed"], bool) and isinstance(c["expected"], str)
            assert isinstance(c["observed"], int | float | str)
        m = s["metrics"]
        assert set(m) >= METRIC_KEYS
        assert isinstance(m["decisions"], int) and 0.0 <= m["success_rate"] <= 1.0
        assert set(m["latency_ms"]) == {"p50", "p95", "p99"}
        assert m["recovery_s"] is None or isinstance(m["recovery_s"], float)
    assert len(data["comparison"]) == len(data["scenarios"])
    for row in data["comparison"]:
        assert {"pattern", "scenario", "workload"} <= set(row)
