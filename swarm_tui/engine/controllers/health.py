"""Degradation: an agent much slower than its peers is marked degraded, and healthy again later.

Each agent keeps an exponentially weighted moving average of its response latency. An agent
whose average exceeds ``factor`` times the median of its live peers' averages becomes DEGRADED
(the dispatcher then sends it only occasional probes); once its average falls below
``recover_factor`` times the median it is HEALTHY again.
"""

from __future__ import annotations

import statistics

from swarm_tui.engine.agents import AgentState
from swarm_tui.engine.swarm import Swarm


class LatencyHealth:
    """Marks latency outliers degraded and recovered ones healthy."""

    def __init__(
        self,
        swarm: Swarm,
        *,
        factor: float = 3.0,
        recover_factor: float = 1.6,
        min_ms: float = 5.0,
        period_s: float = 0.5,
        role: str | None = None,
        enabled: bool = True,
    ) -> None:
        self.swarm = swarm
        self.factor = factor
        self.recover_factor = recover_factor
        self.min_ms = min_ms
        self.period_s = period_s
        self.role = role
        self.enabled = enabled
        self.marked: list[tuple[float, str, str]] = []  # (time, agent, new state)

    def check(self) -> None:
        agents = [a for a in self.swarm.live(role=self.role) if a.ewma_ms > 0]
        if len(agents) < 3:
            return
        now = self.swarm.clock.now()
        for agent in agents:
            peers = [a.ewma_ms for a in agents if a is not agent]
            median = statistics.median(peers)
            if agent.state == AgentState.HEALTHY:
                if agent.ewma_ms > max(self.min_ms, self.factor * median):
                    self.swarm.set_state(
                        agent,
                        AgentState.DEGRADED,
                        f"latency {agent.ewma_ms:.1f} ms > {self.factor:g}x peers' {median:.1f} ms",
                    )
                    self.marked.append((now, agent.id, "degraded"))
            elif agent.state == AgentState.DEGRADED and agent.ewma_ms < self.recover_factor * median:
                self.swarm.set_state(
                    agent, AgentState.HEALTHY, f"latency {agent.ewma_ms:.1f} ms back near peers' {median:.1f} ms"
                )
                self.marked.append((now, agent.id, "healthy"))

    async def run(self) -> None:
        while True:
            await self.swarm.clock.sleep(self.period_s)
            if self.enabled:
                self.check()
