"""The SDK's ``compute(seconds)`` counts CPU, not wall time: its calibration is not fooled by a
process that waits for a core (the wall clock runs on while it waits; its CPU time does not).

Driven by fake clocks, so the outcome never depends on how busy the test machine is (a version that
measured real CPU against real sleeps failed in CI when a loaded machine made the sleeps' own CPU
cost half the measurement)."""

from __future__ import annotations

import types

import pytest

from swarm_tui.agent import sdk

SPIN_RATE = 1_000_000.0  # the fake machine's loop iterations per second of CPU
WAIT_PER_SLICE = 0.002  # after every slice of work the process waits this long for a core


class Machine:
    """A process's two clocks: CPU time advances only while it spins; the wall clock also while it
    waits for a core."""

    def __init__(self, wait_per_slice: float) -> None:
        self.cpu = 0.0
        self.wall = 0.0
        self.wait_per_slice = wait_per_slice
        self.spun = 0

    def spin(self, n: int) -> float:
        self.spun += n
        self.cpu += n / SPIN_RATE
        self.wall += n / SPIN_RATE + self.wait_per_slice
        return 1.0

    def clock(self) -> types.SimpleNamespace:
        def wall() -> float:
            return self.wall

        return types.SimpleNamespace(
            thread_time=lambda: self.cpu,
            process_time=lambda: self.cpu,
            monotonic=wall,
            perf_counter=wall,
            time=wall,
            sleep=lambda s: None,
        )


def calibrate(monkeypatch: pytest.MonkeyPatch, machine: Machine) -> float:
    monkeypatch.setattr(sdk, "time", machine.clock())
    monkeypatch.setattr(sdk, "_spin", machine.spin)
    monkeypatch.setattr(sdk.Agent, "_rate", 0.0)
    sdk.Agent.compute(object.__new__(sdk.Agent), 0.0)
    return sdk.Agent._rate


def test_calibration_ignores_time_spent_waiting_for_a_core(monkeypatch: pytest.MonkeyPatch) -> None:
    waiting = calibrate(monkeypatch, Machine(WAIT_PER_SLICE))
    # Measured on the wall clock, the waits would make the rate about 20 times lower.
    assert waiting == pytest.approx(SPIN_RATE, rel=1e-9)
    assert calibrate(monkeypatch, Machine(0.0)) == pytest.approx(waiting, rel=1e-9)


def test_compute_burns_the_asked_cpu_time_whatever_the_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    machine = Machine(WAIT_PER_SLICE)
    calibrate(monkeypatch, machine)
    before = machine.cpu
    sdk.Agent.compute(object.__new__(sdk.Agent), 0.25)
    assert machine.cpu - before == pytest.approx(0.25, abs=2 / SPIN_RATE)  # whole iterations
