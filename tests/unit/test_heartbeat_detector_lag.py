"""The heartbeat detector does not blame agents for the time its own loop stood still.

On a busy machine the engine's event loop can run late: heartbeats that arrived meanwhile sit
unread in the pipes, and a pass that ran right after the stall saw every agent as silent (a CI run
of canary.abort on local processes: "agents declared failed with no fault injected into them").
A pass that wakes late allows its lateness on top of the threshold; an on-time pass does not.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from swarm_tui.engine.agents import AgentState
from swarm_tui.engine.controllers.failover import HeartbeatDetector


@dataclass
class FakeAgent:
    id: str
    last_heartbeat: float
    state: AgentState = AgentState.HEALTHY


class EndOfTest(Exception):
    pass


class SteppedClock:
    """Each sleep lasts what it was asked plus the next stall in ``stalls``; time ends at ``end``."""

    def __init__(self, stalls: list[float], end: float) -> None:
        self.t = 0.0
        self.stalls = stalls
        self.end = end

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds + (self.stalls.pop(0) if self.stalls else 0.0)
        if self.t > self.end:
            raise EndOfTest


@dataclass
class FakeSwarm:
    clock: SteppedClock
    heartbeat_s: float = 0.5
    agents: dict[str, Any] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def fail_agent(self, agent: FakeAgent, *, detector: str, reason: str) -> None:
        agent.state = AgentState.FAILED
        self.failed.append((agent.id, reason))


def passes(stalls: list[float], end: float) -> FakeSwarm:
    """Detector passes (every 0.125 s plus the stalls) up to ``end``; the agent's last heartbeat
    was at 0."""
    swarm = FakeSwarm(SteppedClock(stalls, end))
    swarm.agents["a"] = FakeAgent("a", last_heartbeat=0.0)
    detector = HeartbeatDetector(swarm)  # type: ignore[arg-type]
    with pytest.raises(EndOfTest):
        asyncio.run(detector.run())
    return swarm


def test_an_on_time_pass_fails_an_agent_silent_past_the_threshold() -> None:
    # Passes every 0.125 s; silent since t=0, the threshold is 1.0 s: failed at the pass at 1.125 s.
    swarm = passes([], end=2.0)
    assert swarm.failed == [("a", "no heartbeat for 1.12 s")]


def test_a_pass_late_by_a_stall_allows_the_stall() -> None:
    # The first pass wakes 1.2 s late (t=1.325): a silence of 1.325 s is over the 1.0 s threshold,
    # but 1.2 s of it is the loop's own (in a real run, heartbeats unread in the pipes).
    swarm = passes([1.2], end=1.4)
    assert swarm.failed == []


def test_lateness_is_allowed_only_to_the_pass_that_was_late() -> None:
    # The agent really stopped at 0: the on-time pass after the late one fails it.
    swarm = passes([1.2], end=1.5)
    assert swarm.failed == [("a", "no heartbeat for 1.45 s")]
