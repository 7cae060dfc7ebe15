"""Routing policies: which agent gets the next task.

A policy picks from the candidates the dispatcher offers (live agents with a free slot). Filters
such as capability matching are the dispatcher's job; a policy only orders.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol

from swarm_tui.engine.agents import Agent


class RoutingPolicy(Protocol):
    name: str

    def choose(self, candidates: Sequence[Agent]) -> Agent: ...


class RoundRobin:
    """Each agent in turn, in the order agents joined; skips agents that are not candidates."""

    name = "round-robin"

    def __init__(self) -> None:
        self._turn = 0

    def choose(self, candidates: Sequence[Agent]) -> Agent:
        agent = candidates[self._turn % len(candidates)]
        self._turn += 1
        return agent


class LeastLoaded:
    """The agent with the fewest tasks in flight; ties go to the one that has done the least work."""

    name = "least-loaded"

    def choose(self, candidates: Sequence[Agent]) -> Agent:
        return min(candidates, key=lambda a: (a.inflight, a.tasks))


class FirstAvailable:
    """The first candidate, always: what a naive client does (used to switch balancing off)."""

    name = "first-available"

    def choose(self, candidates: Sequence[Agent]) -> Agent:
        return candidates[0]


class RandomChoice:
    """Any candidate, at random (seeded): what routing without any rule amounts to."""

    name = "random"

    def __init__(self, seed: int | str = 0) -> None:
        self._rng = random.Random(f"route:{seed}")

    def choose(self, candidates: Sequence[Agent]) -> Agent:
        return candidates[self._rng.randrange(len(candidates))]


POLICIES = {cls.name: cls for cls in (RoundRobin, LeastLoaded, FirstAvailable, RandomChoice)}


class SmoothWeighted:
    """Smooth weighted round robin (as nginx): splits traffic between named pools by weight.

    Over any run of requests each pool's share stays within one request of its weight, which
    is what lets a rollout measure "25 % to green" exactly instead of by chance.
    """

    def __init__(self, weights: dict[str, float]) -> None:
        self._current: dict[str, float] = {}
        self.weights: dict[str, float] = {}
        self.set(weights)

    def set(self, weights: dict[str, float]) -> None:
        self.weights = {k: float(v) for k, v in weights.items() if v > 0}
        self._current = {k: self._current.get(k, 0.0) for k in self.weights}

    def next(self) -> str:
        if not self.weights:
            raise ValueError("no pool has weight")
        total = sum(self.weights.values())
        best = None
        for name, weight in self.weights.items():
            self._current[name] += weight
            if best is None or self._current[name] > self._current[best]:
                best = name
        assert best is not None
        self._current[best] -= total
        return best
