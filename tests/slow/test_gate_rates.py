"""The README's targets for the rollout gates, measured over seeds 0..99 (slow: CI runs it).

A version whose true error rate is half the limit is rolled back on at most 5 % of seeds; one at
three times the limit on at least 99 %; the same for the canary's errors and latency.
"""

from __future__ import annotations

import pytest
from gates import CASES, Case, measure


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_gate_meets_its_target_over_100_seeds(case: Case) -> None:
    outcome = measure(case, range(100))
    assert outcome.meets_target, outcome.line()
    if case.should_reject:
        assert min(outcome.requests) >= 20 or case.scenario.startswith("canary")  # the minimum sample
        assert max(outcome.requests) <= 400, outcome.line()  # within a stated number of requests
