"""Statistics over seeds: medians with bootstrap intervals, and differences called only when real.

The rule, stated once: two arms differ on a metric when the Mann-Whitney U test over their
per-seed values (two-sided) gives a p-value that stays below ``ALPHA`` after Holm's correction
over every test of the report, and each arm has at least ``MIN_SEEDS`` values. The size of a
difference is Cliff's delta (the rank-biserial correlation of U): the probability that a value of
one arm beats one of the other, minus the reverse; its magnitude is named by Romano et al.'s
thresholds (negligible < 0.147 <= small < 0.33 <= medium < 0.474 <= large).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05
MIN_SEEDS = 5
CONFIDENCE = 0.95
RESAMPLES = 2000


@dataclass(frozen=True)
class Summary:
    """Median of a metric over seeds, with its 95 % bootstrap interval and how many seeds had it."""

    median: float | None
    low: float | None
    high: float | None
    n: int

    def to_dict(self) -> dict[str, float | int | None]:
        return {"median": self.median, "ci_low": self.low, "ci_high": self.high, "n": self.n}


def summarize(values: Sequence[float], seed: int = 0) -> Summary:
    """Median and percentile-bootstrap 95 % interval of the median (seeded, so reproducible)."""
    data = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    n = len(data)
    if n == 0:
        return Summary(None, None, None, 0)
    median = float(np.median(data))
    if n == 1 or np.all(data == data[0]):
        return Summary(median, median, median, n)
    result = stats.bootstrap(
        (data,),
        np.median,
        confidence_level=CONFIDENCE,
        n_resamples=RESAMPLES,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return Summary(median, float(ci.low), float(ci.high), n)


def cliffs_delta(a: Sequence[float], b: Sequence[float]) -> float:
    """P(a > b) - P(a < b) over all pairs: +1 when every a beats every b."""
    if not a or not b:
        return 0.0
    x = np.asarray(a, dtype=float)[:, None]
    y = np.asarray(b, dtype=float)[None, :]
    return float(((x > y).sum() - (x < y).sum()) / (len(a) * len(b)))


def magnitude(delta: float) -> str:
    d = abs(delta)
    if d < 0.147:
        return "negligible"
    if d < 0.33:
        return "small"
    if d < 0.474:
        return "medium"
    return "large"


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided Mann-Whitney U p-value; ``None`` when either side has fewer than MIN_SEEDS values."""
    if len(a) < MIN_SEEDS or len(b) < MIN_SEEDS:
        return None
    if len(set(a) | set(b)) == 1:
        return 1.0  # every value the same: nothing to tell apart
    return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (same order; ``None`` stays ``None``).

    Sort the m p-values ascending; the i-th (from 0) is multiplied by m - i; each adjusted value
    is at least the one before it (monotone), and at most 1.
    """
    indexed = [(p, i) for i, p in enumerate(pvalues) if p is not None]
    m = len(indexed)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(indexed)):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out
