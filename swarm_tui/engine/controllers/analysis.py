"""Statistical decisions for rollouts: sequential tests on error rates, a rank test on latency.

A rollout must not decide on noise: five requests with one error say nothing about a 10 % limit.
The rules here decide only on a minimum sample and say how sure they are:

* :class:`SequentialErrorTest`: Wald's sequential probability ratio test (SPRT) on a version's
  error rate. H0: the rate is at most half the limit (acceptable); H1: it is at the limit.
  With alpha = 0.02 a version whose true rate is half the limit is rejected (rolled back) with
  probability about 2 %; with beta = 0.01 one at the limit is accepted with probability about 1 %,
  and one at three times the limit is rejected within a few dozen requests. The test runs over
  the whole rollout (its evidence accumulates across steps), so looking often does not inflate
  its error rates.
* :func:`latency_test`: a one-sided Mann-Whitney U test of the new version's latencies against
  the old version's scaled by the allowed ratio (H1: the new one is slower than ``ratio`` x the
  old), and the ratio of the p95s with a percentile-bootstrap 95 % interval to show.

Every measurement carries its interval (a Wilson 95 % interval for a rate) and the rule that
decided, so the rollout panel and the results can show both.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

CONFIDENCE = 0.95
REJECT, ACCEPT, CONTINUE = "reject", "accept", "continue"


def load_statistics() -> None:
    """Import the statistics libraries now. The first import of scipy.stats takes about a second:
    inside a run on wall time that is a second in which no heartbeat is read, and the swarm looks
    dead (every agent was declared failed at the first gate of a canary on local). A run on a real
    backend calls this before its first agent starts."""
    import numpy  # noqa: F401
    import scipy.stats  # noqa: F401


@functools.lru_cache(maxsize=4096)  # gates show it at every evaluation
def wilson(failures: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a rate; (0, 1) for no observations.

    The closed form that scipy's ``binomtest(k, n).proportion_ci(method="wilson")`` computes
    (Newcombe 1998), term for term, so the figures are the same to the last bit
    (tests/unit/test_wilson.py); that call first computes the test's exact p-value, which a gate
    never uses and which cost a sixth of a canary run on mock."""
    if n <= 0:
        return 0.0, 1.0
    from scipy.special import ndtri

    p = failures / n
    z = float(ndtri(0.5 + 0.5 * confidence))
    denom = 2 * (n + z**2)
    center = (2 * n * p + z**2) / denom
    delta = z / denom * math.sqrt(4 * n * p * (1 - p) + z**2)
    low = 0.0 if failures == 0 else center - delta
    high = 1.0 if failures == n else center + delta
    return float(low), float(high)


@dataclass
class SequentialErrorTest:
    """Wald's SPRT on an error rate: H0 p <= ``limit`` / 2 against H1 p >= ``limit``."""

    limit: float
    alpha: float = 0.02  # P(reject | the rate is half the limit)
    beta: float = 0.01  # P(accept | the rate is at the limit)
    min_n: int = 20  # no decision on fewer observations
    n: int = 0
    failures: int = 0
    llr: float = 0.0  # log likelihood ratio of H1 over H0
    verdict: str = CONTINUE  # once accepted or rejected, it stays

    def __post_init__(self) -> None:
        if not 0.0 < self.limit < 1.0:
            raise ValueError(f"an error-rate limit must be between 0 and 1, got {self.limit}")

    @property
    def p0(self) -> float:
        return self.limit / 2.0

    @property
    def p1(self) -> float:
        return self.limit

    @property
    def upper(self) -> float:
        return math.log((1.0 - self.beta) / self.alpha)

    @property
    def lower(self) -> float:
        return math.log(self.beta / (1.0 - self.alpha))

    def add(self, failed: bool) -> str:
        """One more observation; returns the verdict (reject, accept or continue)."""
        self.n += 1
        if failed:
            self.failures += 1
            self.llr += math.log(self.p1 / self.p0)
        else:
            self.llr += math.log((1.0 - self.p1) / (1.0 - self.p0))
        if self.verdict == CONTINUE and self.n >= self.min_n:
            if self.llr >= self.upper:
                self.verdict = REJECT
            elif self.llr <= self.lower:
                self.verdict = ACCEPT
        return self.verdict

    @property
    def rate(self) -> float:
        return self.failures / self.n if self.n else 0.0

    def rule(self) -> str:
        return (
            f"SPRT on the error rate: H0 <= {self.p0:.3g} vs H1 >= {self.p1:.3g}, alpha {self.alpha:g}, "
            f"beta {self.beta:g}, at least {self.min_n} requests"
        )

    def measurement(self, name: str) -> dict[str, Any]:
        low, high = wilson(self.failures, self.n)
        return {
            "name": name,
            "value": round(self.rate, 4),
            "low": round(low, 4),
            "high": round(high, 4),
            "threshold": self.limit,
            "op": "<=",
            "n": self.n,
            "passed": self.verdict != REJECT,
            "verdict": self.verdict,
            "llr": round(self.llr, 3),
            "rule": self.rule(),
        }


def _floor(values: list[float], floor_ms: float) -> list[float]:
    return [max(v, floor_ms) for v in values]


def latency_test(
    new: list[float],
    old: list[float],
    *,
    ratio: float,
    alpha: float,
    floor_ms: float = 0.0,
    seed: int = 0,
    min_n: int = 10,
) -> dict[str, Any]:
    """Is the new version slower than ``ratio`` x the old? One-sided Mann-Whitney U (scipy).

    Latencies below ``floor_ms`` count as the floor (differences there are transport noise).
    Returns a measurement: the p95 ratio with a bootstrap 95 % interval, the test's p-value and
    its verdict (reject: significantly slower; continue: not enough samples; accept otherwise).
    """
    new_f, old_f = _floor(new, floor_ms), _floor(old, floor_ms)
    out: dict[str, Any] = {
        "name": "p95 latency ratio (new / old)",
        "threshold": ratio,
        "op": "<=",
        "n": len(new_f),
        "rule": f"one-sided Mann-Whitney U, new vs {ratio:g} x old, alpha {alpha:g}, at least {min_n} samples each",
    }
    if len(new_f) < min_n or len(old_f) < min_n:
        out.update(value=None, low=None, high=None, p=None, passed=True, verdict=CONTINUE)
        return out
    import numpy as np
    from scipy.stats import bootstrap, mannwhitneyu

    p_value = float(mannwhitneyu(new_f, [ratio * x for x in old_f], alternative="greater").pvalue)

    def p95_ratio(a: Any, b: Any, axis: int = -1) -> Any:
        return np.percentile(a, 95, axis=axis) / np.percentile(b, 95, axis=axis)

    point = float(np.percentile(new_f, 95) / np.percentile(old_f, 95))
    ci = bootstrap(
        (np.asarray(new_f), np.asarray(old_f)),
        p95_ratio,
        n_resamples=400,
        confidence_level=CONFIDENCE,
        method="percentile",
        vectorized=True,
        paired=False,
        rng=np.random.default_rng(seed),
    ).confidence_interval
    verdict = REJECT if p_value < alpha else ACCEPT
    out.update(
        value=round(point, 4),
        low=round(float(ci.low), 4),
        high=round(float(ci.high), 4),
        p=round(p_value, 6),
        passed=verdict != REJECT,
        verdict=verdict,
    )
    return out
