"""The slow tier's scenarios on real backends, beyond tests/backends/test_real_backends.py, on
local processes and on the loopback E2B. Each runs on wall time (half a minute or more), so CI
runs two (a rollback, a canary abort; CPU spikes are tests/backends' and the Node example's);
all eight by hand::

    SWARM_TUI_REAL_ALL=1 .venv/bin/python -m pytest tests/slow/test_real_backends_more.py
"""

from __future__ import annotations

import os
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
if not os.environ.get("SWARM_TUI_REAL_ALL"):
    MORE = ["blue-green.rollback", "canary.abort"]


@pytest.mark.parametrize("scenario_id", MORE)
def test_more_on_local_processes(scenario_id: str) -> None:
    passes_on_local(scenario_id)


@pytest.mark.parametrize("scenario_id", MORE)
def test_more_on_e2b_fake(scenario_id: str, e2b_fake: Any) -> None:
    passes_on_e2b(scenario_id, e2b_fake)
