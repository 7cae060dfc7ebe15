"""Progressive delivery: blue-green traffic shifting and canary rollouts with analysis.

Both controllers split traffic between pools of agents with smooth weighted round robin, watch
every attempt's outcome per pool, and at each step decide to advance, promote, roll back or
abort from measured figures. Their step log (target and actual weights, the analysis values and
the decision) is what the scenarios check and what the dashboard's rollout panel shows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from swarm_tui.engine.agents import Agent
from swarm_tui.engine.controllers.routing import SmoothWeighted
from swarm_tui.engine.events import RolloutState, RolloutStep
from swarm_tui.engine.metrics import percentile
from swarm_tui.engine.swarm import Swarm


@dataclass
class PoolStats:
    """Attempts a pool served: how many, how many failed, how long they took."""

    requests: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)

    def record(self, ok: bool, latency_ms: float, started: float) -> None:
        self.requests += 1
        self.starts.append(started)
        if ok:
            self.latencies_ms.append(latency_ms)
        else:
            self.errors += 1

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def success_rate(self) -> float:
        return 1.0 - self.error_rate if self.requests else 1.0

    def p95(self) -> float:
        return percentile(self.latencies_ms, 95) if self.latencies_ms else 0.0


@dataclass
class Measurement:
    """One analysis figure against its threshold."""

    name: str
    value: float
    threshold: float
    op: str  # ">=" or "<="
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": round(self.value, 4),
            "threshold": self.threshold,
            "op": self.op,
            "passed": self.passed,
        }

    def __str__(self) -> str:
        return f"{self.name} {self.value:.3f} {'ok' if self.passed else 'FAILS'} {self.op} {self.threshold:g}"


@dataclass
class Analysis:
    passed: bool
    measurements: list[Measurement]

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "measurements": [m.to_dict() for m in self.measurements]}

    def failing(self) -> list[Measurement]:
        return [m for m in self.measurements if not m.passed]


def canary_analysis(
    canary: PoolStats,
    stable: PoolStats,
    *,
    min_success_ratio: float = 0.95,
    max_latency_ratio: float = 1.5,
    latency_floor_ms: float = 0.0,
) -> Analysis:
    """Canary success >= ratio x stable success, and canary p95 <= ratio x stable p95.

    Each p95 counts as at least ``latency_floor_ms``: below the floor, differences are transport
    noise (a 2 ms p95 against a 4 ms one on a loopback), not a regression worth an abort.
    """
    success_ratio = canary.success_rate / stable.success_rate if stable.success_rate > 0 else 0.0
    stable_p95 = max(stable.p95(), latency_floor_ms)
    latency_ratio = max(canary.p95(), latency_floor_ms) / stable_p95 if stable_p95 > 0 else float("inf")
    ms = [
        Measurement("success_ratio", success_ratio, min_success_ratio, ">=", success_ratio >= min_success_ratio),
        Measurement("p95_ratio", latency_ratio, max_latency_ratio, "<=", latency_ratio <= max_latency_ratio),
    ]
    return Analysis(all(m.passed for m in ms), ms)


class _Rollout:
    """Shared plumbing: the traffic split and per-step, per-pool ledgers."""

    kind = "rollout"

    def __init__(self, swarm: Swarm, pools: dict[str, float], fallback: str) -> None:
        self.swarm = swarm
        self.clock = swarm.clock
        self.split = SmoothWeighted(pools)
        self.fallback = fallback
        self.step_stats: dict[str, PoolStats] = {}
        self.total_stats: dict[str, PoolStats] = {}
        self.steps_log: list[dict[str, Any]] = []
        self.status = "pending"
        self.decided_at: float | None = None
        # Manual overrides from the dashboard: advance the current step now, or go back.
        self._manual_advance = False
        self._manual_back = False
        self.step = 0
        self.steps_total = 0
        self.plan: list[float] = []  # the new version's target weight at each step
        self.analysis: dict[str, Any] = {}  # the current step's analysis so far
        self._published: tuple[Any, ...] | None = None

    def publish_state(self) -> None:
        """Tell the views where the rollout stands (only when something changed)."""
        weights = {k: round(float(v), 4) for k, v in self.split.weights.items()}
        key = (self.status, self.step, tuple(sorted(weights.items())), repr(self.analysis))
        if key == self._published:
            return
        self._published = key
        self.swarm.publish(
            RolloutState(
                t=self.clock.now(),
                rollout=self.kind,
                status=self.status,
                step=self.step,
                steps=self.steps_total,
                plan=[float(x) for x in self.plan],
                weights=weights,
                analysis=dict(self.analysis),
            )
        )

    def request_advance(self) -> bool:
        """Promote by hand: end the current step now and advance (False if already decided)."""
        if self.status not in ("shifting", "analysing"):
            return False
        self._manual_advance = True
        return True

    def request_back(self) -> bool:
        """Roll back or abort by hand (False if already decided)."""
        if self.status not in ("shifting", "analysing", "pending"):
            return False
        self._manual_back = True
        return True

    def weights(self) -> dict[str, float]:
        return dict(self.split.weights)

    def choose_pool(self, task: Any, retry: bool) -> str:
        """Where a request goes: by weight; a retried request goes to the safe pool."""
        if retry:
            return self.fallback
        return self.split.next()

    def on_attempt(self, agent: Agent, ok: bool, latency_ms: float, started: float) -> None:
        self.step_stats.setdefault(agent.pool, PoolStats()).record(ok, latency_ms, started)
        self.total_stats.setdefault(agent.pool, PoolStats()).record(ok, latency_ms, started)

    def _reset_step(self) -> None:
        self.step_stats = {}

    def _stats(self, pool: str) -> PoolStats:
        return self.step_stats.get(pool) or PoolStats()

    def _share(self, pool: str) -> float:
        total = sum(s.requests for s in self.step_stats.values())
        return 100.0 * self._stats(pool).requests / total if total else 0.0

    def _log(self, step: int, steps: int, target: float, pool: str, analysis: dict[str, Any], decision: str) -> None:
        actual = self._share(pool)
        total = sum(s.requests for s in self.step_stats.values())
        entry = {
            "step": step,
            "target": target,
            "actual": round(actual, 3),
            "requests": total,
            "analysis": analysis,
            "decision": decision,
            "t": round(self.clock.now(), 4),
        }
        self.steps_log.append(entry)
        self.swarm.publish(
            RolloutStep(
                t=self.clock.now(),
                rollout=self.kind,
                step=step,
                steps=steps,
                target_weight=target,
                actual_weight=round(actual, 3),
                analysis=analysis,
                decision=decision,
            )
        )


class BlueGreenRollout(_Rollout):
    """Shift traffic from blue to green in steps with a health gate; roll back on errors."""

    kind = "blue-green"

    def __init__(
        self,
        swarm: Swarm,
        *,
        steps: tuple[float, ...] = (0, 25, 50, 75, 100),
        requests_per_step: int = 100,
        max_error_rate: float = 0.10,
        min_requests: int = 5,
        eval_period_s: float = 0.5,
        warm_delay_s: float = 5.0,
        rollback: bool = True,
        gradual: bool = True,
        remove_pool: Callable[[str], Awaitable[None]],
    ) -> None:
        super().__init__(swarm, {"blue": 100.0}, fallback="blue")
        self.steps = steps
        self.requests_per_step = requests_per_step
        self.max_error_rate = max_error_rate
        self.min_requests = min_requests
        self.eval_period_s = eval_period_s
        self.warm_delay_s = warm_delay_s
        self.rollback_enabled = rollback
        self.gradual = gradual
        self.remove_pool = remove_pool
        self.rollback_at: float | None = None
        self.rollback_analysis: dict[str, Any] = {}
        self.completed_at: float | None = None
        self.blue_removed_at: float | None = None
        self.blue_warm_ok = True

    def _gate(self) -> dict[str, Any]:
        green = self._stats("green")
        enough = green.requests >= self.min_requests
        failing = enough and green.error_rate > self.max_error_rate
        return {
            "green_error_rate": round(green.error_rate, 4),
            "green_requests": green.requests,
            "max_error_rate": self.max_error_rate,
            "min_requests": self.min_requests,
            "healthy": not failing,
            "live_green": len(self.swarm.live(pool="green")),
        }

    def _set_green(self, weight: float) -> None:
        self.split.set({"blue": 100.0 - weight, "green": weight})

    async def run(self) -> None:
        self.status = "shifting"
        n = self.steps_total = len(self.steps)
        self.plan = [float(x) for x in self.steps]
        for i, target in enumerate(self.steps, start=1):
            self.step = i
            weight = target if self.gradual or i == 1 else 100.0
            self._set_green(weight)
            self._reset_step()
            self.analysis = {}
            self.publish_state()
            manual = False
            while sum(s.requests for s in self.step_stats.values()) < self.requests_per_step:
                await self.clock.sleep(self.eval_period_s)
                gate = self._gate()
                self.analysis = gate
                self.publish_state()
                if self._manual_back:
                    await self._rollback(i, n, target, {**gate, "manual": True})
                    return
                if not gate["healthy"] and self.rollback_enabled:
                    await self._rollback(i, n, target, gate)
                    return
                if self._manual_advance:
                    self._manual_advance, manual = False, True
                    break
            gate = self._gate()
            if not gate["healthy"] and self.rollback_enabled and not manual:
                await self._rollback(i, n, target, gate)
                return
            if manual:
                gate["manual"] = True
            if target < 100 and len(self.swarm.live(pool="blue")) < len(self.swarm.members(pool="blue")):
                self.blue_warm_ok = False
            self._log(i, n, target, "green", gate, "promote" if i == n else "advance")
        self.status = "complete"
        self.completed_at = self.decided_at = self.clock.now()
        self.publish_state()
        await self.clock.sleep(self.warm_delay_s)
        await self.remove_pool("blue")
        self.blue_removed_at = self.clock.now()

    async def _rollback(self, step: int, steps: int, target: float, gate: dict[str, Any]) -> None:
        self.split.set({"blue": 100.0})
        self.status = "rolled-back"
        self.rollback_at = self.decided_at = self.clock.now()
        self.rollback_analysis = gate
        self.analysis = gate
        self._log(step, steps, target, "green", gate, "rollback")
        self.publish_state()
        await self.remove_pool("green")


class CanaryRollout(_Rollout):
    """Steps of canary traffic, each gated by analysis against the stable pool."""

    kind = "canary"

    def __init__(
        self,
        swarm: Swarm,
        *,
        steps: tuple[float, ...] = (5, 25, 50, 100),
        min_samples: int = 30,
        min_step_s: float = 2.0,
        max_step_s: float = 60.0,
        min_success_ratio: float = 0.95,
        max_latency_ratio: float = 1.5,
        latency_floor_ms: float = 0.0,
        abort: bool = True,
        analysis: bool = True,
        promote: Callable[[], Awaitable[None]],
        remove_canary: Callable[[], Awaitable[None]],
    ) -> None:
        super().__init__(swarm, {"stable": 100.0}, fallback="stable")
        self.steps = steps
        self.min_samples = min_samples
        self.min_step_s = min_step_s
        self.max_step_s = max_step_s
        self.min_success_ratio = min_success_ratio
        self.max_latency_ratio = max_latency_ratio
        self.latency_floor_ms = latency_floor_ms
        self.abort_enabled = abort
        self.analysis_enabled = analysis
        self.promote = promote
        self.remove_canary = remove_canary
        self.baseline = PoolStats()
        self.failed_analysis: Analysis | None = None
        self.promoted_at: float | None = None
        self.aborted_at: float | None = None

    async def run(self) -> None:
        self.status = "analysing"
        n = self.steps_total = len(self.steps)
        self.plan = [float(x) for x in self.steps]
        for i, target in enumerate(self.steps, start=1):
            self.step = i
            self.split.set({"canary": target, "stable": 100.0 - target})
            self._reset_step()
            self.analysis = {}
            self.publish_state()
            started = self.clock.now()
            manual = False
            while True:
                await self.clock.sleep(0.25)
                canary_so_far = self._stats("canary")
                self.analysis = {
                    "canary_requests": canary_so_far.requests,
                    "stable_requests": self._stats("stable").requests,
                }
                self.publish_state()
                if self._manual_back:
                    await self._abort(i, n, target, {"manual": True})
                    return
                if self._manual_advance:
                    self._manual_advance, manual = False, True
                    break
                waited = self.clock.now() - started
                if waited >= self.max_step_s:
                    break
                if waited >= self.min_step_s and self._stats("canary").requests >= self.min_samples:
                    break
            stable = self._stats("stable")
            if stable.requests >= self.min_samples:
                self.baseline = stable
            analysis_dict: dict[str, Any] = {}
            passed = True
            if self.analysis_enabled:
                analysis = canary_analysis(
                    self._stats("canary"),
                    self.baseline,
                    min_success_ratio=self.min_success_ratio,
                    max_latency_ratio=self.max_latency_ratio,
                    latency_floor_ms=self.latency_floor_ms,
                )
                analysis_dict = {
                    **analysis.to_dict(),
                    "canary_requests": self._stats("canary").requests,
                    "stable_requests": self.baseline.requests,
                    "canary_p95_ms": round(self._stats("canary").p95(), 3),
                    "stable_p95_ms": round(self.baseline.p95(), 3),
                }
                passed = analysis.passed or manual
                if not analysis.passed:
                    self.failed_analysis = analysis
            if manual:
                analysis_dict["manual"] = True
            if not passed and self.abort_enabled:
                await self._abort(i, n, target, analysis_dict)
                return
            self._log(i, n, target, "canary", analysis_dict, "promote" if i == n else "advance")
        self.status = "promoting"
        self.promoted_at = self.decided_at = self.clock.now()
        self.publish_state()
        await self.promote()
        self.status = "promoted"
        self.publish_state()

    async def _abort(self, step: int, steps: int, target: float, analysis: dict[str, Any]) -> None:
        self.split.set({"stable": 100.0})
        self.status = "aborted"
        self.aborted_at = self.decided_at = self.clock.now()
        self.analysis = analysis
        self._log(step, steps, target, "canary", analysis, "abort")
        self.publish_state()
        await self.remove_canary()
