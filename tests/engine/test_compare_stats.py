"""The statistics of ``swarm-tui compare``: Holm, Cliff's delta, Mann-Whitney, bootstrap."""

from __future__ import annotations

import pytest

from swarm_tui.compare import stats


def test_holm_matches_the_step_down_rule() -> None:
    # sorted: 0.01*3=0.03, 0.02*2=0.04, 0.04*1=0.04 (monotone), in the original order
    assert stats.holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert stats.holm([0.5, None, 0.9]) == [pytest.approx(1.0), None, pytest.approx(1.0)]
    assert stats.holm([]) == []


def test_holm_keeps_a_family_wide_error_rate() -> None:
    # 20 tests at p = 0.01 each: alone each is "significant", corrected none is.
    assert all(p is not None and p >= 0.05 for p in stats.holm([0.01] * 20))


def test_cliffs_delta_and_its_magnitude() -> None:
    assert stats.cliffs_delta([3, 4, 5], [0, 1, 2]) == 1.0
    assert stats.cliffs_delta([0, 1, 2], [3, 4, 5]) == -1.0
    assert stats.cliffs_delta([1, 2], [1, 2]) == 0.0
    assert stats.magnitude(0.1) == "negligible"
    assert stats.magnitude(-0.4) == "medium"
    assert stats.magnitude(0.9) == "large"


def test_mann_whitney_needs_a_minimum_sample() -> None:
    assert stats.mann_whitney([1, 2, 3, 4], [5, 6, 7, 8]) is None  # 4 seeds: too few to test
    p = stats.mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert p is not None and p < 0.05
    assert stats.mann_whitney([1.0] * 6, [1.0] * 6) == 1.0
    same = stats.mann_whitney([1, 3, 5, 7, 9], [2, 4, 6, 8, 10])
    assert same is not None and same > 0.5


def test_bootstrap_interval_is_seeded_and_brackets_the_median() -> None:
    values = [float(x) for x in range(1, 31)]
    a, b = stats.summarize(values, seed=3), stats.summarize(values, seed=3)
    assert a == b
    assert a.low is not None and a.high is not None and a.median is not None
    assert a.low <= a.median <= a.high
    assert a.n == 30
    assert stats.summarize([]).median is None
    assert stats.summarize([2.0, 2.0, 2.0]) == stats.Summary(2.0, 2.0, 2.0, 3)
