"""The slow tier's scenarios on real backends: one of every pattern the fast tier leaves out
(tests/backends/test_real_backends.py), on local processes and on the loopback E2B."""

from __future__ import annotations

from typing import Any

import pytest
from support import passes_on_e2b, passes_on_local

pytestmark = pytest.mark.slow
MORE = [
    "blue-green.rollback",
    "mesh.failover",
    "hierarchical.load-balancing",
    "star.hub-specialists",
    "autoscaling.scale-down",
    "multi-strategy.mix",
    "canary.abort",
    "chaos.cpu-spike",
]


@pytest.mark.parametrize("scenario_id", MORE)
def test_more_on_local_processes(scenario_id: str) -> None:
    passes_on_local(scenario_id)


@pytest.mark.parametrize("scenario_id", MORE)
def test_more_on_e2b_fake(scenario_id: str, e2b_fake: Any) -> None:
    passes_on_e2b(scenario_id, e2b_fake)
