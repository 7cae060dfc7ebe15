"""Failure detection and replacement.

:class:`HeartbeatDetector` declares an agent failed when it has been silent for longer than
``threshold`` heartbeat intervals (checked several times per interval), so a crash is detected
within ``threshold + 1/checks`` intervals of the last heartbeat. On wall time, a pass that wakes
late (a busy machine kept the engine's own loop from running) adds its lateness to the silence it
allows: heartbeats that arrived while the loop stood still have not been read yet, and the agents
that sent them are not the ones that were silent. :class:`Replacer` answers a
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

    def check(self, late_s: float = 0.0) -> list[Agent]:
        """One pass: fail every watched agent silent for too long (``timeout_s``, plus ``late_s``
        when the pass itself ran that late). Returns those failed."""
        now = self.swarm.clock.now()
        limit = self.timeout_s + late_s
        failed = []
        for agent in list(self.swarm.agents.values()):
            if agent.state in WATCHED and now - agent.last_heartbeat > limit:
                silent = now - agent.last_heartbeat
                self.swarm.fail_agent(agent, detector="heartbeat", reason=f"no heartbeat for {silent:.2f} s")
                failed.append(agent)
        return failed

    async def run(self) -> None:
        period = self.swarm.heartbeat_s / self.checks_per_interval
        clock = self.swarm.clock
        while True:
            due = clock.now() + period
            await clock.sleep(period)
            late = clock.now() - due
            # On the virtual clock a pass is never late (rounding aside): mock runs are unchanged.
            self.check(late if late > 0.001 else 0.0)


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
