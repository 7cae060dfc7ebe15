"""The SDK's ``compute(seconds)`` counts CPU, not wall time: its calibration is not fooled by a
process that waits for a core (the wall clock runs on while it waits; its CPU time does not)."""

from __future__ import annotations

import time

import pytest

from swarm_tui.agent import sdk


def test_calibration_ignores_time_spent_waiting_for_a_core(monkeypatch: pytest.MonkeyPatch) -> None:
    spin = sdk._spin

    def descheduled(n: int) -> float:  # every slice of work is followed by a wait off the CPU
        x = spin(n)
        time.sleep(0.002)
        return x

    monkeypatch.setattr(sdk, "_spin", descheduled)
    monkeypatch.setattr(sdk.Agent, "_rate", 0.0)
    sdk.Agent.compute(object.__new__(sdk.Agent), 0.0)  # calibrates
    waiting = sdk.Agent._rate
    monkeypatch.setattr(sdk, "_spin", spin)
    monkeypatch.setattr(sdk.Agent, "_rate", 0.0)
    sdk.Agent.compute(object.__new__(sdk.Agent), 0.0)
    # Calibrated on the wall clock, the sleeps made the rate several times lower; on CPU time the
    # two agree within what a busy test machine's noise gives.
    assert waiting > 0.5 * sdk.Agent._rate, (waiting, sdk.Agent._rate)
