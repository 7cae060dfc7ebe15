"""The statistical rules the rollouts decide by (engine/controllers/analysis.py).

Each rule is tested on both sides: what it must accept and what it must reject, and its
operating characteristic (how often it is wrong) on seeded simulated traffic.
"""

from __future__ import annotations

import random

import pytest

from swarm_tui.engine.controllers.analysis import ACCEPT, CONTINUE, REJECT, SequentialErrorTest, latency_test, wilson


def run_sprt(rate: float, limit: float, rng: random.Random, cap: int = 2000) -> tuple[str, int]:
    test = SequentialErrorTest(limit=limit)
    while test.verdict == CONTINUE and test.n < cap:
        test.add(rng.random() < rate)
    return test.verdict, test.n


def test_sprt_needs_its_minimum_sample() -> None:
    test = SequentialErrorTest(limit=0.1, min_n=20)
    for _ in range(19):
        assert test.add(True) == CONTINUE  # 19 failures in 19: still no decision
    assert test.add(True) == REJECT and test.n == 20


def test_sprt_accepts_a_clean_version_and_its_verdict_sticks() -> None:
    test = SequentialErrorTest(limit=0.1)
    while test.verdict == CONTINUE:
        test.add(False)
    assert test.verdict == ACCEPT and test.n >= 20
    for _ in range(10):
        test.add(True)
    assert test.verdict == ACCEPT  # decided: later evidence is reported, not re-decided


@pytest.mark.parametrize("limit", [0.0, 1.0, -0.1, 1.5])
def test_sprt_rejects_a_limit_that_is_not_a_rate(limit: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        SequentialErrorTest(limit=limit)


def test_sprt_operating_characteristic() -> None:
    """Half the limit: rolled back rarely (alpha 2 %); three times the limit: nearly always, fast."""
    rng = random.Random(7)
    half = [run_sprt(0.05, 0.10, rng)[0] for _ in range(1000)]
    assert half.count(REJECT) / len(half) <= 0.04
    bad = [run_sprt(0.30, 0.10, rng) for _ in range(1000)]
    assert sum(v == REJECT for v, _ in bad) / len(bad) >= 0.995
    sizes = sorted(n for _, n in bad)
    assert sizes[len(sizes) // 2] <= 30  # the median decision comes within a few dozen requests
    # It can fail the other way: a test with its hypotheses swapped (H0 at the limit) does.
    swapped = [run_sprt(0.05, 0.05, rng)[0] for _ in range(200)]
    assert swapped.count(REJECT) / len(swapped) > 0.2


def test_wilson_interval() -> None:
    low, high = wilson(0, 20)
    assert low == 0.0 and 0.15 < high < 0.17  # the textbook 0.161
    low, high = wilson(5, 50)
    assert low < 0.1 < high and high - low < 0.2
    assert wilson(0, 0) == (0.0, 1.0)


def test_latency_test_waits_for_samples() -> None:
    m = latency_test([10.0] * 5, [10.0] * 50, ratio=1.5, alpha=0.01)
    assert m["verdict"] == CONTINUE and m["passed"] and m["value"] is None


def test_latency_test_both_sides() -> None:
    rng = random.Random(3)
    old = [rng.lognormvariate(2.0, 0.3) for _ in range(200)]
    same = [rng.lognormvariate(2.0, 0.3) for _ in range(60)]
    slow = [3.0 * rng.lognormvariate(2.0, 0.3) for _ in range(60)]
    ok = latency_test(same, old, ratio=1.5, alpha=0.01)
    assert ok["verdict"] == ACCEPT and ok["passed"]
    assert ok["low"] <= ok["value"] <= ok["high"] and ok["low"] < 1.0 < ok["high"] * 1.5
    bad = latency_test(slow, old, ratio=1.5, alpha=0.01)
    assert bad["verdict"] == REJECT and not bad["passed"] and bad["p"] < 0.01
    assert bad["low"] <= bad["value"] <= bad["high"] and 2.0 < bad["value"] < 4.5
    assert "Mann-Whitney" in bad["rule"] and "at least" in bad["rule"]


def test_latency_floor_ignores_transport_noise_not_regressions() -> None:
    stable = [2.0] * 100
    jittery = [4.5] * 100  # 2.25x a 2 ms p95: noise on a loopback
    slow = [40.0] * 100
    assert latency_test(jittery, stable, ratio=1.5, alpha=0.01)["verdict"] == REJECT
    assert latency_test(jittery, stable, ratio=1.5, alpha=0.01, floor_ms=5.0)["verdict"] == ACCEPT
    bad = latency_test(slow, stable, ratio=1.5, alpha=0.01, floor_ms=5.0)
    assert bad["verdict"] == REJECT and bad["value"] == 8.0
