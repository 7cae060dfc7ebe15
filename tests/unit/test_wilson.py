"""The gates' Wilson interval is scipy's, to the last bit, without scipy's p-value."""

from __future__ import annotations

from scipy.stats import binomtest

from swarm_tui.engine.controllers.analysis import wilson


def test_wilson_is_scipys_interval_exactly() -> None:
    for n in (*range(1, 60), 97, 100, 399, 1000, 4321):
        for k in sorted({min(k, n) for k in (0, 1, 2, n // 20, n // 10, n // 3, n // 2, n - 1, n)}):
            for confidence in (0.95, 0.9, 0.99):
                ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
                assert wilson.__wrapped__(k, n, confidence) == (float(ci.low), float(ci.high)), (k, n, confidence)


def test_no_observations_say_nothing() -> None:
    assert wilson(0, 0) == (0.0, 1.0)


def test_the_interval_holds_the_rate_and_narrows_with_more_observations() -> None:
    low, high = wilson(10, 100)
    assert low < 0.10 < high
    low_more, high_more = wilson(100, 1000)
    assert low < low_more < 0.10 < high_more < high
