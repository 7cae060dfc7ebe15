"""Rollout gates decide on evidence, and nothing is lost on the way (controllers/rollout.py)."""

from __future__ import annotations

from typing import Any

import pytest
from support import CATALOGUE, failed_checks, run_scenario

from swarm_tui.engine.controllers.rollout import _Rollout
from swarm_tui.patterns.rollouts import BLUE_GREEN_AGENTS

SHIFT = CATALOGUE["blue-green.traffic-shift"]


def green_with(error_rate: float) -> list[dict[str, Any]]:
    return [BLUE_GREEN_AGENTS[0], {**BLUE_GREEN_AGENTS[1], "defect": {"error_rate": error_rate}}]


def lost(result: Any) -> int:
    return int(next(c["observed"] for c in result.checks if c["name"] == "failed requests"))


def test_a_failed_green_request_after_blue_retired_is_retried_on_green() -> None:
    """Green with 2 % errors passes its gate and takes all traffic; blue is retired. A failed green
    request is retried on the pool that now serves, not on the retired blue."""
    result = run_scenario(SHIFT({"agents": green_with(0.02)}), seed=1)
    assert result.passed, failed_checks(result)
    assert lost(result) == 0 and result.metrics["success_rate"] == 1.0


def test_the_old_retry_target_loses_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """What happened before the fix (retries always went to the fallback pool): requests waited
    out the queue timeout for a pool with no agents and were lost. The check catches it."""
    monkeypatch.setattr(_Rollout, "safe_pool", lambda self: self.fallback)
    result = run_scenario(SHIFT({"agents": green_with(0.02)}), seed=1)
    assert lost(result) > 0
    assert "failed requests" in failed_checks(result)


@pytest.mark.parametrize("seed", range(3))
def test_gate_shows_its_measurement_interval_and_rule(seed: int) -> None:
    result = run_scenario("blue-green.rollback", seed=seed)
    assert result.passed, failed_checks(result)
    gate = next(c for c in result.checks if c["name"].startswith("rolled back on a significant excess"))
    # "reject: 0.300 [0.21, 0.41] over 31 requests": the verdict, the rate, its interval, the sample.
    verdict, rest = str(gate["observed"]).split(": ", 1)
    assert verdict == "reject" and "[" in rest and "over" in rest
    assert "SPRT" in gate["expected"] and "at least 20 requests" in gate["expected"]
    n = int(rest.rsplit("over ", 1)[1].split()[0])
    assert n >= 20  # never decided on fewer than the minimum sample


def test_a_healthy_green_is_not_rolled_back() -> None:
    """Half the limit (5 % against 10 %): the gate keeps it, so the rollback scenario fails."""
    rollback = CATALOGUE["blue-green.rollback"]
    result = run_scenario(rollback({"agents": green_with(0.05)}), seed=2)
    assert "rolled back on a significant excess of green's errors over the limit" in failed_checks(result)


@pytest.mark.parametrize("real", [True, False])
def test_on_wall_time_the_statistics_load_before_the_first_agent_starts(
    real: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first import of scipy.stats takes about a second. Done at a canary's first gate on
    # local, the loop read no heartbeat for that second and every agent was declared failed.
    import dataclasses

    from swarm_tui.engine import runner
    from swarm_tui.engine.clock import new_loop
    from swarm_tui.engine.sandbox import BackendError, create_backend

    calls: list[str] = []
    monkeypatch.setattr(runner, "load_statistics", lambda: calls.append("statistics"))
    backend = create_backend("mock", seed=0)
    backend.capabilities = dataclasses.replace(backend.capabilities, real=real)  # type: ignore[misc]

    async def start() -> None:
        calls.append("backend started")
        raise BackendError("stopped here: the order is what is tested")

    backend.start = start  # type: ignore[method-assign]
    loop = new_loop(virtual=True)
    try:
        result = loop.run_until_complete(
            runner.run_scenario(CATALOGUE["canary.abort"](), backend, seed=0, run_id="order")
        )
    finally:
        loop.close()
    assert result.status == "error" and "stopped here" in (result.error or "")
    assert calls == (["statistics", "backend started"] if real else ["backend started"])
