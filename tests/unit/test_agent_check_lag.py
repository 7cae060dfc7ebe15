"""`agent check` judges heartbeat gaps against the machine it runs on: the checker times its own
event loop, and a busy machine's delay is added to the "none over 1.75 intervals" bound, never past
1.9 intervals (the engine's detector fires at 2)."""

from __future__ import annotations

import asyncio
import time

import pytest

from swarm_tui.engine.sandbox import AgentProgram
from swarm_tui.session.agent_check import FAIL, HEARTBEAT_S, MIN_GAPS, PASS, AgentCheck, LoopLag, max_gap
from swarm_tui.session.agent_process import AgentProcess, Line


def test_the_bound_grows_with_the_delay_and_stops_short_of_the_detector() -> None:
    assert max_gap(0.0) == pytest.approx(1.75 * HEARTBEAT_S)
    assert max_gap(0.02) == pytest.approx(1.75 * HEARTBEAT_S + 0.02)
    assert max_gap(10.0) == pytest.approx(1.9 * HEARTBEAT_S)
    assert max_gap(-1.0) == pytest.approx(1.75 * HEARTBEAT_S)


def judged(gaps: list[float], lag: float) -> tuple[str, str]:
    """The heartbeat clause for a program whose beats came with these gaps after its hello."""
    proc = AgentProcess(AgentProgram(command=("agent",)), {})
    t = 100.0
    proc.lines.append(Line(t, {"type": "hello"}))
    for seq, gap in enumerate(gaps, 1):
        t += gap
        proc.lines.append(Line(t, {"type": "heartbeat", "seq": seq}))
    check = AgentCheck(AgentProgram(command=("agent",)))
    check.lag.worst = lag
    asyncio.run(check._heartbeats(proc))
    (clause,) = check.report.clauses
    return clause.status, clause.detail


def test_one_late_beat_passes_only_when_the_machine_was_as_late() -> None:
    gaps = [HEARTBEAT_S] * MIN_GAPS + [0.365]
    status, detail = judged(gaps, 0.0)
    assert status == FAIL and "longest 0.365 s" in detail
    status, detail = judged(gaps, 0.02)
    assert status == PASS and "delayed the checker by up to 0.020 s" in detail
    assert judged([HEARTBEAT_S] * MIN_GAPS + [0.34], 0.0)[0] == PASS  # a sound program, late on a busy machine
    assert judged([HEARTBEAT_S] * MIN_GAPS + [0.375], 1.0)[0] == PASS


def test_a_gap_of_two_intervals_fails_however_busy_the_machine() -> None:
    assert judged([HEARTBEAT_S] * MIN_GAPS + [2 * HEARTBEAT_S], 5.0)[0] == FAIL
    assert judged([HEARTBEAT_S] * MIN_GAPS + [1.95 * HEARTBEAT_S], 5.0)[0] == FAIL
    # Slow beats all along are the median's to catch, whatever the delay.
    assert judged([2 * HEARTBEAT_S] * (MIN_GAPS + 1), 5.0)[0] == FAIL


def test_the_probe_sees_a_blocked_loop() -> None:
    async def main() -> float:
        lag = LoopLag()
        lag.start()
        await asyncio.sleep(0.05)  # the probe is sleeping now ...
        time.sleep(0.15)  # ... and the loop is blocked for 150 ms: it wakes at least 100 ms late
        await asyncio.sleep(0.05)
        await lag.stop()
        return lag.worst

    assert asyncio.run(main()) >= 0.1
