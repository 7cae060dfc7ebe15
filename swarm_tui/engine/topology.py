"""Swarm topologies: who is linked to whom, kept up to date as agents join, leave and are replaced.

* mesh: every agent linked to every other.
* ring: agents in order, each linked to the one before and after (the last closes the ring);
  traffic flows one way, so the ring also knows each node's successor.
* star: hubs in the middle, every spoke linked to the hubs only (hubs see each other).
* hierarchical: coordinators at the top, each worker linked to its coordinator(s) only.

Links follow from the rule and the node order instead of being stored, so a 10,000-agent mesh
costs no more memory than a list of ids. Links are symmetric; iteration is in node order, so
runs are deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TOPOLOGIES = ("mesh", "ring", "star", "hierarchical")
HUB_ROLES = frozenset({"hub", "standby", "coordinator"})


@dataclass
class Topology:
    """A graph of agent ids with a rule for wiring newcomers."""

    kind: str = "mesh"
    nodes: list[str] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in TOPOLOGIES:
            raise ValueError(f"unknown topology {self.kind!r} (expected one of {', '.join(TOPOLOGIES)})")
        self._index: dict[str, int] = {n: i for i, n in enumerate(self.nodes)}
        self.version = 0  # bumped on every change, so views can tell when to re-layout

    # -- queries ----------------------------------------------------------------------------
    def is_hub(self, node: str) -> bool:
        return self.roles.get(node) in HUB_ROLES

    def linked(self, a: str, b: str) -> bool:
        index = self._index
        if a == b or a not in index or b not in index:
            return False
        if self.kind == "mesh":
            return True
        if self.kind == "ring":
            n = len(self.nodes)
            i, j = index[a], index[b]
            return n == 2 or abs(i - j) == 1 or {i, j} == {0, n - 1}
        # star, hierarchical: hubs to everyone, spokes/workers only to hubs.
        return self.is_hub(a) or self.is_hub(b)

    def links(self, node: str) -> list[str]:
        if node not in self._index:
            return []
        if self.kind == "ring":
            n = len(self.nodes)
            if n < 2:
                return []
            i = self._index[node]
            peers = [self.nodes[(i - 1) % n], self.nodes[(i + 1) % n]]
            return [peers[0]] if peers[0] == peers[1] else peers
        return [m for m in self.nodes if self.linked(node, m)]

    def degree(self, node: str) -> int:
        if node not in self._index:
            return 0
        n = len(self.nodes)
        if self.kind == "mesh":
            return n - 1
        if self.kind == "ring":
            return min(2, n - 1)
        hubs = sum(1 for m in self.nodes if self.is_hub(m))
        if self.is_hub(node):
            return n - 1
        return hubs

    def edges(self) -> list[tuple[str, str]]:
        """Each undirected link once, as (earlier node, later node)."""
        nodes = self.nodes
        if self.kind == "ring":
            n = len(nodes)
            if n < 2:
                return []
            if n == 2:
                return [(nodes[0], nodes[1])]
            return [(nodes[i], nodes[i + 1]) for i in range(n - 1)] + [(nodes[0], nodes[-1])]
        return [(a, b) for i, a in enumerate(nodes) for b in nodes[i + 1 :] if self.linked(a, b)]

    def successor(self, node: str) -> str | None:
        """Ring only: the next node downstream."""
        if self.kind != "ring" or node not in self._index or len(self.nodes) < 2:
            return None
        return self.nodes[(self._index[node] + 1) % len(self.nodes)]

    def hubs(self) -> list[str]:
        return [n for n in self.nodes if self.is_hub(n)]

    def __contains__(self, node: object) -> bool:
        return node in self._index

    def __len__(self) -> int:
        return len(self.nodes)

    # -- changes ----------------------------------------------------------------------------
    def add(self, node: str, role: str = "agent") -> None:
        """Add a node; it is wired by the topology's rule."""
        if node in self._index:
            return
        self._index[node] = len(self.nodes)
        self.nodes.append(node)
        self.roles[node] = role
        self.version += 1

    def remove(self, node: str) -> None:
        if node not in self._index:
            return
        self.nodes.remove(node)
        self.roles.pop(node, None)
        self._index = {n: i for i, n in enumerate(self.nodes)}
        self.version += 1

    def replace(self, old: str, new: str) -> None:
        """``new`` takes ``old``'s place: same position, same role, hence the same links."""
        if old not in self._index:
            self.add(new)
            return
        i = self._index.pop(old)
        self.nodes[i] = new
        self._index[new] = i
        self.roles[new] = self.roles.pop(old, "agent")
        self.version += 1

    def set_role(self, node: str, role: str) -> None:
        if node in self._index:
            self.roles[node] = role
            self.version += 1
