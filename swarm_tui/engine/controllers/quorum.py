"""Quorum voting: a decision stands only when enough voters agree on it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class QuorumResult:
    decision: str | None  # the winning vote, or None when no quorum
    agreeing: int
    quorum: int
    votes: dict[str, str]

    @property
    def reached(self) -> bool:
        return self.decision is not None

    @property
    def split(self) -> str:
        """The vote split as 'n-m-k', largest first (e.g. '2-1')."""
        counts = sorted(Counter(self.votes.values()).values(), reverse=True)
        return "-".join(str(c) for c in counts) if counts else "0"


def tally(votes: dict[str, str], quorum: int) -> QuorumResult:
    """The vote that at least ``quorum`` voters cast, if any (ties cannot both reach a majority)."""
    if quorum <= 0:
        raise ValueError("quorum must be positive")
    counts = Counter(votes.values())
    best: str | None = None
    best_n = 0
    for vote in sorted(counts):
        if counts[vote] > best_n:
            best, best_n = vote, counts[vote]
    if best is not None and best_n >= quorum:
        return QuorumResult(best, best_n, quorum, dict(votes))
    return QuorumResult(None, best_n, quorum, dict(votes))


def majority(n: int) -> int:
    """Smallest strict majority of n voters."""
    return n // 2 + 1
