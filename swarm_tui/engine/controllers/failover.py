"""Failure detection and replacement.

:class:`HeartbeatDetector` declares an agent failed when it has been silent for longer than
``threshold`` heartbeat intervals (checked several times per interval), so a crash is detected
within ``threshold + 1/checks`` intervals of the last heartbeat. :class:`Replacer` answers a
failure by killing what is left of the sandbox and deploying a replacement with the same recipe
in the same place of the topology.
"""

from __future__ import annotations

from swarm_tui.engine.agents import Agent, AgentState
from swarm_tui.engine.events import Failover
from swarm_tui.engine.swarm import Swarm

WATCHED = (AgentState.HEALTHY, AgentState.DEGRADED, AgentState.DRAINING)


class HeartbeatDetector:
    """Marks agents failed when their heartbeats stop."""

    def __init__(self, swarm: Swarm, *, threshold: float = 2.0, checks_per_interval: int = 4) -> None:
        self.swarm = swarm
        self.threshold = threshold
        self.checks_per_interval = checks_per_interval

    @property
    def timeout_s(self) -> float:
        return self.threshold * self.swarm.heartbeat_s

    def check(self) -> list[Agent]:
        """One pass: fail every watched agent silent for too long. Returns those failed."""
        now = self.swarm.clock.now()
        limit = self.timeout_s
        failed = []
        for agent in list(self.swarm.agents.values()):
            if agent.state in WATCHED and now - agent.last_heartbeat > limit:
                silent = now - agent.last_heartbeat
                self.swarm.fail_agent(agent, detector="heartbeat", reason=f"no heartbeat for {silent:.2f} s")
                failed.append(agent)
        return failed

    async def run(self) -> None:
        period = self.swarm.heartbeat_s / self.checks_per_interval
        while True:
            await self.swarm.clock.sleep(period)
            self.check()


class Replacer:
    """Replaces failed agents with new sandboxes of the same recipe."""

    def __init__(
        self, swarm: Swarm, *, enabled: bool = True, roles: set[str] | None = None, max_replacements: int = 50
    ) -> None:
        self.swarm = swarm
        self.enabled = enabled
        self.roles = roles
        self.max_replacements = max_replacements
        self.replacements: list[tuple[str, str, float]] = []  # (failed, replacement, recovery_s)
        swarm.on_state_change(self._on_change)

    def _on_change(self, agent: Agent, old: AgentState, new: AgentState) -> None:
        if not self.enabled or new != AgentState.FAILED:
            return
        if self.roles is not None and agent.role not in self.roles:
            return
        if len(self.replacements) >= self.max_replacements:
            return
        self.swarm.spawn(self._replace(agent), name=f"replace {agent.id}")

    async def _replace(self, failed: Agent) -> None:
        swarm = self.swarm
        await swarm.kill_sandbox(failed, "failed")
        replacement = await swarm.deploy(failed.spec, replaces=failed)
        swarm.set_state(failed, AgentState.STOPPED, f"replaced by {replacement.id}")
        if replacement.live and replacement.ready_at is not None:
            recovery = replacement.ready_at - (failed.failed_at or replacement.created_at)
            self.replacements.append((failed.id, replacement.id, recovery))
            swarm.publish(
                Failover(
                    t=swarm.clock.now(),
                    failed=failed.id,
                    replacement=replacement.id,
                    recovery_s=round(recovery, 4),
                    how="replace",
                )
            )
