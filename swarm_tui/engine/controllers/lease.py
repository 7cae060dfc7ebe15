"""Leadership for hubs: a lease renewed by heartbeats, and a naive alternative to compare with.

:class:`LeaseElection`: the active hub holds a lease that each of its heartbeats renews for
``ttl`` seconds. Standbys watch the lease; when it expires, the first live standby takes it and
the old holder is fenced (it stops being active even if it comes back), so there is never more
than one active hub. Take-over happens within ``ttl`` plus one check period of the last renewal.

:class:`NaiveElection` is what the lease replaces: a standby promotes itself as soon as it
misses the primary's heartbeats for ``patience`` seconds, and nobody fences the old primary.
A slow network is then enough for two hubs to be active at once.
"""

from __future__ import annotations

from typing import Any

from swarm_tui.engine.agents import Agent, AgentState
from swarm_tui.engine.events import Failover, LeaderChanged
from swarm_tui.engine.swarm import Swarm


class ActiveHubs:
    """Records when each hub was active, to measure overlaps (two active hubs at once)."""

    def __init__(self) -> None:
        self.intervals: dict[str, list[list[float | None]]] = {}

    def start(self, hub: str, t: float) -> None:
        spans = self.intervals.setdefault(hub, [])
        if not spans or spans[-1][1] is not None:
            spans.append([t, None])

    def stop(self, hub: str, t: float) -> None:
        spans = self.intervals.get(hub)
        if spans and spans[-1][1] is None:
            spans[-1][1] = t

    def active(self) -> list[str]:
        return [h for h, spans in self.intervals.items() if spans and spans[-1][1] is None]

    def overlap_s(self, end: float) -> float:
        """Total time during which two or more hubs were active."""
        points: list[tuple[float, int]] = []
        for spans in self.intervals.values():
            for a, b in spans:
                points.append((float(a), 1))  # type: ignore[arg-type]
                points.append((float(b if b is not None else end), -1))
        points.sort(key=lambda p: (p[0], p[1]))
        level, last, total = 0, 0.0, 0.0
        for t, delta in points:
            if level >= 2:
                total += t - last
            level += delta
            last = t
        return total


class LeaseElection:
    """One active hub at a time, by a heartbeat-renewed lease with fencing."""

    def __init__(self, swarm: Swarm, *, ttl_intervals: float = 2.5, checks_per_interval: int = 4) -> None:
        self.swarm = swarm
        self.ttl = ttl_intervals * swarm.heartbeat_s
        self.check_period = swarm.heartbeat_s / checks_per_interval
        self.holder: str | None = None
        self.expires = 0.0
        self.record = ActiveHubs()
        self.handovers: list[tuple[str, str, float]] = []
        swarm.on_agent_message(self._on_message)

    def _on_message(self, agent: Agent, msg: dict[str, Any]) -> None:
        # A holder the failure detector has declared dead renews nothing, even if it still beats.
        if msg.get("type") == "heartbeat" and agent.id == self.holder and agent.live:
            self.expires = self.swarm.clock.now() + self.ttl

    def acquire(self, agent: Agent, reason: str) -> None:
        now = self.swarm.clock.now()
        old = self.holder
        if old is not None:
            self.record.stop(old, now)
        self.holder = agent.id
        self.expires = now + self.ttl
        self.record.start(agent.id, now)
        self.swarm.topology.set_role(agent.id, "hub")
        self.swarm.publish(LeaderChanged(t=now, role="hub", old=old or "", new=agent.id, reason=reason))

    def active(self) -> Agent | None:
        """The hub that may route now (None while nobody holds a valid lease)."""
        if self.holder is None or self.swarm.clock.now() > self.expires:
            return None
        agent = self.swarm.agents.get(self.holder)
        return agent if agent is not None and agent.live else None

    async def run(self, standbys: list[Agent]) -> None:
        swarm = self.swarm
        while True:
            await swarm.clock.sleep(self.check_period)
            now = swarm.clock.now()
            if self.holder is not None and now <= self.expires:
                continue
            candidates = [a for a in standbys if a.live and a.id != self.holder]
            if not candidates:
                continue
            new = candidates[0]
            old = self.holder
            old_agent = swarm.agents.get(old) if old else None
            self.acquire(new, f"lease of {old} expired" if old else "first lease")
            if old_agent is not None:
                # Fencing: the old holder is out even if it comes back.
                swarm.topology.set_role(old_agent.id, "standby")
                if old_agent.state != AgentState.FAILED:
                    swarm.fail_agent(old_agent, detector="lease", reason="lease expired")
                downtime = now - (old_agent.failed_at or now) if old_agent.failed_at else 0.0
                self.handovers.append((old_agent.id, new.id, now))
                swarm.publish(
                    Failover(
                        t=now, failed=old_agent.id, replacement=new.id, recovery_s=round(downtime, 4), how="promote"
                    )
                )


class NaiveElection:
    """Promote a standby when the primary misses heartbeats for ``patience`` s; never fence."""

    def __init__(self, swarm: Swarm, *, patience_intervals: float = 1.5, checks_per_interval: int = 4) -> None:
        self.swarm = swarm
        self.patience = patience_intervals * swarm.heartbeat_s
        self.check_period = swarm.heartbeat_s / checks_per_interval
        self.record = ActiveHubs()
        self.activated: list[str] = []
        self.holder: str | None = None
        self.handovers: list[tuple[str, str, float]] = []

    def acquire(self, agent: Agent, reason: str) -> None:
        now = self.swarm.clock.now()
        self.record.start(agent.id, now)
        self.activated.append(agent.id)
        self.holder = agent.id
        self.swarm.publish(LeaderChanged(t=now, role="hub", old="", new=agent.id, reason=reason))

    def active(self) -> Agent | None:
        """The newest hub that believes it is active and is still live."""
        for hub_id in reversed(self.activated):
            agent = self.swarm.agents.get(hub_id)
            if agent is not None and agent.live:
                return agent
        return None

    async def run(self, standbys: list[Agent]) -> None:
        swarm = self.swarm
        while True:
            await swarm.clock.sleep(self.check_period)
            now = swarm.clock.now()
            for hub_id in list(self.record.active()):
                hub = swarm.agents.get(hub_id)
                if hub is None or not hub.live:
                    self.record.stop(hub_id, now)
            primary = swarm.agents.get(self.activated[0]) if self.activated else None
            if primary is None:
                continue
            if now - primary.last_heartbeat > self.patience:
                for standby in standbys:
                    if standby.live and standby.id not in self.record.active():
                        self.acquire(standby, f"missed heartbeats of {primary.id}")
                        self.handovers.append((primary.id, standby.id, now))
                        break
