"""A memory leak keeps its rate on a busy machine: the loop that allocates is paced by the clock,
not by counting its sleeps (a loop that woke four times late leaked four times slower, and the
agent reached its memory limit after the bound the judge allows: limit / rate)."""

from __future__ import annotations

import pytest

from swarm_tui.agent import sdk


class Exited(Exception):
    pass


def test_a_leak_reaches_its_limit_on_time_when_its_loop_wakes_late(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = {"t": 0.0}
    agent = sdk.Agent({"agent_id": "a"})
    said: list[dict] = []

    def late_sleep(seconds: float) -> None:
        clock["t"] += 4 * seconds  # every sleep lasts four times as long: a loaded machine

    def exit_(code: int) -> None:
        raise Exited(code)

    monkeypatch.setattr(sdk.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(sdk.time, "sleep", late_sleep)
    monkeypatch.setattr(sdk.os, "_exit", exit_)
    monkeypatch.setattr(sdk, "resident_mb", lambda: float(len(agent._leaked)))
    monkeypatch.setattr(agent, "emit", said.append)
    with pytest.raises(Exited) as ended:
        agent._leak(rate_mb_s=100.0, limit_mb=60.0)
    assert ended.value.args == (sdk.OOM_EXIT,)
    assert "out of memory" in said[-1]["error"]
    # 60 MB at 100 MB/s: 0.6 s, give or take one (late) wake-up; counting sleeps took 2.4 s.
    assert clock["t"] <= 0.6 + 0.2, clock["t"]
    assert len(agent._leaked) == 60
