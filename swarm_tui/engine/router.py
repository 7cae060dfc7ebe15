"""The message router: all agent traffic passes through here, and network faults act here.

Agents never talk to each other directly: a message from agent A to agent B is handed to the
router, which checks that A and B are linked in the topology, applies any network fault (delay,
loss, partition) and then delivers it through the backend. Messages between the engine (the
control plane, ``CTL``) and an agent are subject to that agent's delay and loss, but not to
partitions, which split agents from agents.

The router counts every message per directed edge, which is how scenarios measure who talked
to whom (worker-to-worker messages, calls reaching a stage while its breaker was open, ...).
It publishes no event per message: it is the hot path.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from swarm_tui.engine.clock import Clock
from swarm_tui.engine.topology import Topology

CTL = "engine"

Deliver = Callable[[str, str, dict[str, Any]], None]


class MessageRouter:
    """Routes messages between the engine and agents and between agents."""

    def __init__(
        self,
        topology: Topology,
        clock: Clock,
        seed: int | str = 0,
        *,
        enforce_links: bool = True,
        trace: int = 256,
    ) -> None:
        self.topology = topology
        self.clock = clock
        self.enforce_links = enforce_links
        self._rng = random.Random(f"router:{seed}")
        self._to_agent: Deliver = lambda src, dst, msg: None
        self._to_engine: Deliver = lambda src, dst, msg: None
        self.delays: dict[str, float] = {}
        self.losses: dict[str, float] = {}
        self.groups: dict[str, int] = {}
        self._faulty = False
        self.counts: Counter[tuple[str, str]] = Counter()
        self.dropped: Counter[str] = Counter()
        self.total = 0
        # Recent messages for the dashboard's animation: (time, src, dst).
        self.recent: deque[tuple[float, str, str]] = deque(maxlen=trace)
        # Optional per-destination delivery log, for scenarios that must know when a node was hit.
        self.watch: dict[str, list[float]] = {}

    def connect(self, to_agent: Deliver, to_engine: Deliver) -> None:
        """Where delivered messages go: to an agent (via the backend) and to the engine."""
        self._to_agent = to_agent
        self._to_engine = to_engine

    # -- network faults ---------------------------------------------------------------------
    def _refresh(self) -> None:
        self._faulty = bool(self.delays or self.losses or self.groups)

    def set_delay(self, agent: str, seconds: float | None) -> None:
        if seconds:
            self.delays[agent] = seconds
        else:
            self.delays.pop(agent, None)
        self._refresh()

    def set_loss(self, agent: str, loss: float | None) -> None:
        if loss:
            self.losses[agent] = loss
        else:
            self.losses.pop(agent, None)
        self._refresh()

    def set_partition(self, groups: list[list[str]] | None) -> None:
        """Split agents into groups that cannot reach each other (None or [] heals)."""
        self.groups = {a: i for i, g in enumerate(groups or []) for a in g}
        self._refresh()

    def partitioned(self, a: str, b: str) -> bool:
        ga = self.groups.get(a)
        gb = self.groups.get(b)
        return ga is not None and gb is not None and ga != gb

    def reachable(self, a: str, b: str) -> bool:
        """Can a message get from a to b right now (links and partitions; not loss)?"""
        if a == CTL or b == CTL:
            return True
        if self.enforce_links and not self.topology.linked(a, b):
            return False
        return not self.partitioned(a, b)

    # -- routing ----------------------------------------------------------------------------
    def send(self, src: str, dst: str, msg: dict[str, Any]) -> bool:
        """Route a message. Returns False if it was refused or dropped at once."""
        if src != CTL and dst != CTL:
            if self.enforce_links and not self.topology.linked(src, dst):
                self.dropped["no-link"] += 1
                return False
            if self._faulty and self.partitioned(src, dst):
                self.dropped["partition"] += 1
                return False
        delay = 0.0
        if self._faulty:
            for end in (src, dst):
                loss = self.losses.get(end)
                if loss and self._rng.random() < loss:
                    self.dropped["loss"] += 1
                    return False
                delay += self.delays.get(end, 0.0)
        self.total += 1
        self.counts[(src, dst)] += 1
        now = self.clock.now()
        self.recent.append((now, src, dst))
        watch = self.watch.get(dst)
        if watch is not None:
            watch.append(now)
        deliver = self._to_engine if dst == CTL else self._to_agent
        if delay > 0:
            self.clock.call_later(delay, deliver, src, dst, msg)
        else:
            deliver(src, dst, msg)
        return True

    def between(self, a_set: set[str] | frozenset[str], b_set: set[str] | frozenset[str] | None = None) -> int:
        """Messages sent from any node of a_set to any node of b_set (default: within a_set)."""
        b_set = a_set if b_set is None else b_set
        return sum(n for (s, d), n in self.counts.items() if s in a_set and d in b_set and s != d)
