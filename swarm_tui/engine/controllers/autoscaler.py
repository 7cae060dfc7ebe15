"""An HPA-style autoscaler (the Kubernetes Horizontal Pod Autoscaler's rule).

Every ``period_s`` it reads a metric and computes ``desired = ceil(current x observed /
target)``; within ``tolerance`` of the target it keeps the current count. Scale-up is limited
per period to the larger of +``up_percent`` % and +``up_pods`` agents, scale-down (optionally) to
``down_pods`` agents a period, as the HPA's behaviour policies do. Scale-down takes the
highest recommendation of the last ``window_s`` seconds (the stabilization window), so a
short dip never removes capacity; the window starts out holding the initial count, so nothing
is removed before a full window has passed. The result is clamped to [min, max].
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from swarm_tui.engine.clock import Clock
from swarm_tui.engine.events import AutoscalerStarted, Event, ScalingDecision


def hpa_formula(current: int, observed: float, target: float, tolerance: float = 0.1) -> int:
    """The HPA rule without limits: ceil(current x observed/target), or current within tolerance."""
    if target <= 0:
        raise ValueError("target must be positive")
    if current <= 0:
        return 1 if observed > 0 else 0
    ratio = observed / target
    if abs(ratio - 1.0) <= tolerance:
        return current
    return math.ceil(current * ratio - 1e-9)


@dataclass
class Recommendation:
    t: float
    replicas: int


class Autoscaler:
    """Periodically scales a pool of agents to keep a metric at its target."""

    def __init__(
        self,
        clock: Clock,
        *,
        metric: str,
        read_metric: Callable[[], float],
        current: Callable[[], int],
        scale_to: Callable[[int, str], Awaitable[None]],
        target: float,
        min_replicas: int = 2,
        max_replicas: int = 10,
        tolerance: float = 0.1,
        period_s: float = 1.0,
        window_s: float = 10.0,
        up_percent: float = 100.0,
        up_pods: int = 4,
        down_pods: int | None = None,
        publish: Callable[[Event], None] | None = None,
        enabled: bool = True,
        inputs: Callable[[], dict[str, float]] | None = None,
    ) -> None:
        self.clock = clock
        self.metric = metric
        self.read_metric = read_metric
        self.current = current
        self.scale_to = scale_to
        self.target = target
        self.min_replicas = min_replicas
        self.max_replicas = max_replicas
        self.tolerance = tolerance
        self.period_s = period_s
        self.window_s = window_s
        self.up_percent = up_percent
        self.up_pods = up_pods
        self.down_pods = down_pods  # scale-down removes at most this many agents a period (None: any)
        self.enabled = enabled
        self.inputs = inputs or (lambda: {})
        self._publish = publish or (lambda e: None)
        self._recs: deque[Recommendation] = deque()
        self.decisions: list[ScalingDecision] = []
        self.evaluations = 0

    def evaluate(self) -> ScalingDecision | None:
        """One sync period: compute the desired count; returns the decision if it changes."""
        now = self.clock.now()
        current = self.current()
        if not self._recs:
            # The window starts out holding the current count: no scale-down before it passes.
            self._recs.append(Recommendation(now, current))
        observed = self.read_metric()
        formula = hpa_formula(current, observed, self.target, self.tolerance)
        raw = max(self.min_replicas, min(self.max_replicas, formula))
        self._recs.append(Recommendation(now, raw))
        while self._recs and self._recs[0].t < now - self.window_s:
            self._recs.popleft()
        self.evaluations += 1
        if raw > current:
            limit = max(math.floor(current * (1 + self.up_percent / 100.0)), current + self.up_pods)
            desired = min(raw, limit, self.max_replicas)
            direction = "up"
            reason = f"limited to +{limit - current} per period" if desired < raw else "within limits"
        elif raw < current:
            stabilized = max(r.replicas for r in self._recs)
            desired = max(min(current, stabilized), self.min_replicas)
            if self.down_pods is not None:
                desired = max(desired, current - self.down_pods)
            direction = "down" if desired < current else "none"
            reason = (
                f"highest recommendation in {self.window_s:g} s window: {stabilized}"
                if desired != raw
                else "window allows it"
            )
        else:
            desired, direction, reason = current, "none", "at target"
        if desired == current:
            return None
        decision = ScalingDecision(
            t=now,
            metric=self.metric,
            observed=observed,
            target=self.target,
            current=current,
            formula=formula,
            desired=desired,
            direction=direction,
            reason=reason,
            inputs=self.inputs(),
        )
        self.decisions.append(decision)
        self._publish(decision)
        return decision

    async def run(self) -> None:
        self._publish(
            AutoscalerStarted(
                t=self.clock.now(),
                metric=self.metric,
                target=self.target,
                min_replicas=self.min_replicas,
                max_replicas=self.max_replicas,
            )
        )
        while True:
            await self.clock.sleep(self.period_s)
            if not self.enabled:
                continue
            decision = self.evaluate()
            if decision is not None:
                await self.scale_to(decision.desired, decision.direction)

    def direction_changes(self) -> int:
        """How often the scaling direction flipped (flapping)."""
        dirs = [d.direction for d in self.decisions if d.direction in ("up", "down")]
        return sum(1 for a, b in itertools.pairwise(dirs) if a != b)
