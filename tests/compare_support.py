"""A small workload for the comparison's tests: the desk's agents, a few seconds of load, one
crash, a two-step ramp (so a unit runs in a fraction of a second)."""

from __future__ import annotations

from typing import Any

from swarm_tui.patterns.workloads import DESK_AGENTS, Workload, parse_workload

SMALL_TOML = """
name = "small"
title = "A small desk for the tests"

[params]
rate = 10.0
duration_s = 4.0
settle_s = 1.0
ramp = [100.0, 6400.0]
ramp_step_decisions = 20

[[agents]]
kind = "momentum"
role = "trader"
symbol = "SPY"
count = 3

[[agents]]
kind = "mean_reversion"
role = "trader"
symbol = "AAPL"

[[agents]]
kind = "risk"
role = "risk"

[[agents]]
kind = "executor"
role = "executor"

[[faults]]
kind = "crash"
target = "#2"
at = 1.5

[rollout]
count = 2
rate = 40.0
"""


def small(**params: Any) -> Workload:
    data: dict[str, Any] = {
        "name": "small",
        "agents": list(DESK_AGENTS),
        "faults": [{"kind": "crash", "target": "#2", "at": 1.5}],
        "params": {
            "rate": 10.0,
            "duration_s": 4.0,
            "settle_s": 1.0,
            "ramp": [100.0, 6400.0],
            "ramp_step_decisions": 20,
        },
        "rollout": {"count": 2},
    }
    data["params"].update(params.pop("params", {}))
    data.update(params)
    return parse_workload(data)
