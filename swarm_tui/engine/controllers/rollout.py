"""Progressive delivery: blue-green traffic shifting and canary rollouts with analysis.

Both controllers split traffic between pools of agents with smooth weighted round robin, watch
every attempt's outcome per pool, and decide to advance, promote, roll back or abort by a
stated statistical rule on a minimum sample (:mod:`swarm_tui.engine.controllers.analysis`):

* blue-green: green's error rate, a sequential probability ratio test against the health
  gate's limit, over every green request of the rollout; a rejection rolls back at once;
* canary: the canary's error rate by the same test, its limit set by the stable pool's measured
  success and the allowed success ratio; and its latency against the stable pool's by a
  one-sided Mann-Whitney U test at each step's end.

Where a step ends without a verdict the rollout keeps measuring (up to ``max_hold_s``). Their
step log (target and actual weights, each measurement with its interval and the rule that
decided) is what the scenarios check and what the dashboard's rollout panel shows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from swarm_tui.engine.agents import Agent
from swarm_tui.engine.controllers.analysis import ACCEPT, CONTINUE, REJECT, SequentialErrorTest, latency_test
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

    def safe_pool(self) -> str:
        """Where a retried request goes: the fallback pool while it has agents; once it is retired
        (blue after a completed shift), the pool that now takes all the traffic."""
        if self.swarm.members(pool=self.fallback):
            return self.fallback
        return max(self.split.weights.items(), key=lambda kv: (kv[1], kv[0]))[0]

    def choose_pool(self, task: Any, retry: bool) -> str:
        """Where a request goes: by weight; a retried request goes to the safe pool."""
        if retry:
            return self.safe_pool()
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
    """Shift traffic from blue to green in steps behind a health gate; roll back on errors.

    The gate is a sequential test on green's error rate over every green request of the
    rollout (limit ``max_error_rate``; at least ``min_requests`` before any verdict). A rejection
    rolls back at once; the shift completes when the last step has its requests and the test
    has accepted green, or, still undecided after ``max_hold_s`` at 100 %, by the point
    estimate against the limit.
    """

    kind = "blue-green"

    def __init__(
        self,
        swarm: Swarm,
        *,
        steps: tuple[float, ...] = (0, 25, 50, 75, 100),
        requests_per_step: int = 100,
        max_error_rate: float = 0.10,
        min_requests: int = 20,
        eval_period_s: float = 0.5,
        warm_delay_s: float = 5.0,
        max_hold_s: float = 30.0,
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
        self.max_hold_s = max_hold_s
        self.rollback_enabled = rollback
        self.gradual = gradual
        self.remove_pool = remove_pool
        self.gate = SequentialErrorTest(limit=max_error_rate, min_n=min_requests)
        self.rollback_at: float | None = None
        self.rollback_analysis: dict[str, Any] = {}
        self.completed_at: float | None = None
        self.blue_removed_at: float | None = None
        self.blue_warm_ok = True

    def on_attempt(self, agent: Agent, ok: bool, latency_ms: float, started: float) -> None:
        super().on_attempt(agent, ok, latency_ms, started)
        if agent.pool == "green":
            self.gate.add(not ok)

    def _gate(self) -> dict[str, Any]:
        gate = self.gate
        return {
            "measurements": [gate.measurement("green error rate")],
            "rule": gate.rule(),
            "verdict": gate.verdict,
            "green_requests": gate.n,
            "live_green": len(self.swarm.live(pool="green")),
        }

    def _set_green(self, weight: float) -> None:
        self.split.set({"blue": 100.0 - weight, "green": weight})

    def _failing(self) -> bool:
        return self.gate.verdict == REJECT and self.rollback_enabled

    async def run(self) -> None:
        self.status = "shifting"
        n = self.steps_total = len(self.steps)
        self.plan = [float(x) for x in self.steps]
        for i, target in enumerate(self.steps, start=1):
            self.step = i
            weight = target if self.gradual or i == 1 else 100.0
            self._set_green(weight)
            self._reset_step()
            self.analysis = self._gate()
            self.publish_state()
            manual = False
            while sum(s.requests for s in self.step_stats.values()) < self.requests_per_step:
                await self.clock.sleep(self.eval_period_s)
                self.analysis = gate = self._gate()
                self.publish_state()
                if self._manual_back:
                    await self._rollback(i, n, target, {**gate, "manual": True})
                    return
                if self._failing():
                    await self._rollback(i, n, target, gate)
                    return
                if self._manual_advance:
                    self._manual_advance, manual = False, True
                    break
            if i == n and not manual:
                # The last step: promote on a verdict, keep measuring while there is none.
                held = 0.0
                while self.gate.verdict == CONTINUE and held < self.max_hold_s and not self._manual_back:
                    await self.clock.sleep(self.eval_period_s)
                    held += self.eval_period_s
                    self.analysis = self._gate()
                    self.publish_state()
            gate = self._gate()
            if self._manual_back:
                await self._rollback(i, n, target, {**gate, "manual": True})
                return
            undecided_bad = i == n and self.gate.verdict == CONTINUE and self.gate.rate > self.max_error_rate
            if (self._failing() or (undecided_bad and self.rollback_enabled)) and not manual:
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


@dataclass
class Analysis:
    """A step's analysis: each measurement (with its interval and rule) and the verdict."""

    measurements: list[dict[str, Any]]

    @property
    def passed(self) -> bool:
        return all(m.get("passed", True) for m in self.measurements)

    def failing(self) -> list[dict[str, Any]]:
        return [m for m in self.measurements if not m.get("passed", True)]

    @staticmethod
    def describe(m: dict[str, Any]) -> str:
        value = m.get("value")
        shown = f"{value:.3f}" if isinstance(value, int | float) else "-"
        interval = f" [{m['low']:.3f}, {m['high']:.3f}]" if m.get("low") is not None else ""
        return f"{m['name']} {shown}{interval} {'ok' if m.get('passed') else 'FAILS'} {m['op']} {m['threshold']:g}"


class CanaryRollout(_Rollout):
    """Steps of canary traffic, each analysed against the stable pool.

    Errors: a sequential test on the canary's error rate over the whole rollout, its limit
    ``1 - min_success_ratio x`` the stable pool's measured success rate; a rejection aborts at
    once. Latency: at each step's end (at least ``min_samples`` canary requests in the step, or
    ``max_step_s``), a one-sided Mann-Whitney U test of the canary's latencies against the
    stable's scaled by ``max_latency_ratio`` (alpha 0.01, split over the steps). Promotion
    needs the error test to accept (it keeps measuring at 100 % for up to ``max_hold_s``).
    """

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
        max_hold_s: float = 30.0,
        abort: bool = True,
        analysis: bool = True,
        seed: int = 0,
        promote: Callable[[], Awaitable[bool]],
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
        self.max_hold_s = max_hold_s
        self.abort_enabled = abort
        self.analysis_enabled = analysis
        self.seed = seed
        self.promote = promote
        self.remove_canary = remove_canary
        self.canary_outcomes: list[bool] = []  # failed?
        self._error_test: SequentialErrorTest | None = None
        self.failed_analysis: Analysis | None = None
        self.promoted_at: float | None = None
        self.aborted_at: float | None = None

    def on_attempt(self, agent: Agent, ok: bool, latency_ms: float, started: float) -> None:
        super().on_attempt(agent, ok, latency_ms, started)
        if agent.pool == "canary":
            self.canary_outcomes.append(not ok)

    def _stable_total(self) -> PoolStats:
        return self.total_stats.get("stable") or PoolStats()

    def error_test(self) -> SequentialErrorTest:
        """The error test over every canary request so far, its limit from the stable's success."""
        stable = self._stable_total()
        stable_success = stable.success_rate if stable.requests >= self.min_samples else 1.0
        limit = min(0.99, max(0.005, 1.0 - self.min_success_ratio * stable_success))
        # The test is sequential: while its limit stays, the one of the last call goes on from
        # where it stopped (the same as starting over); a new limit starts it over.
        test = self._error_test
        if test is None or test.limit != limit or test.n > len(self.canary_outcomes):
            test = self._error_test = SequentialErrorTest(limit=limit, min_n=self.min_samples)
        for failed in self.canary_outcomes[test.n :]:
            test.add(failed)
        return test

    def _analysis(self, *, with_latency: bool) -> Analysis:
        errors = self.error_test().measurement("canary error rate")
        measurements = [errors]
        if with_latency:
            canary = self.total_stats.get("canary") or PoolStats()
            measurements.append(
                latency_test(
                    canary.latencies_ms,
                    self._stable_total().latencies_ms,
                    ratio=self.max_latency_ratio,
                    alpha=0.01 / max(1, len(self.steps)),
                    floor_ms=self.latency_floor_ms,
                    seed=self.seed * 1000 + self.step,
                    min_n=min(self.min_samples, 10),
                )
            )
        return Analysis(measurements)

    def _analysis_dict(self, analysis: Analysis) -> dict[str, Any]:
        canary, stable = self._stats("canary"), self._stats("stable")
        return {
            "passed": analysis.passed,
            "measurements": analysis.measurements,
            "canary_requests": canary.requests,
            "stable_requests": stable.requests,
            "canary_p95_ms": round(canary.p95(), 3),
            "stable_p95_ms": round(stable.p95(), 3),
        }

    async def _step_sample(self, started: float) -> bool:
        """Measure until the step has its sample; True when a hand or an error verdict ended it."""
        while True:
            await self.clock.sleep(0.25)
            if self.analysis_enabled:
                self.analysis = self._analysis_dict(self._analysis(with_latency=False))
            else:
                self.analysis = {"canary_requests": self._stats("canary").requests}
            self.publish_state()
            if self._manual_back or self._manual_advance:
                return True
            if self.analysis_enabled and self.abort_enabled and self.error_test().verdict == REJECT:
                return True
            waited = self.clock.now() - started
            if waited >= self.max_step_s:
                return False
            if waited >= self.min_step_s and self._stats("canary").requests >= self.min_samples:
                return False

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
            await self._step_sample(self.clock.now())
            if self._manual_back:
                await self._abort(i, n, target, {"manual": True})
                return
            manual = self._manual_advance
            self._manual_advance = False
            if i == n and self.analysis_enabled and not manual:
                held = 0.0
                while self.error_test().verdict == CONTINUE and held < self.max_hold_s and not self._manual_back:
                    await self.clock.sleep(0.25)
                    held += 0.25
            analysis_dict: dict[str, Any] = {}
            passed = True
            if self.analysis_enabled:
                analysis = self._analysis(with_latency=True)
                errors = self.error_test()
                if i == n and errors.verdict == CONTINUE and errors.rate > errors.limit:
                    analysis.measurements[0]["passed"] = False  # undecided at the cap: the estimate decides
                analysis_dict = self._analysis_dict(analysis)
                passed = analysis.passed or manual
                if not analysis.passed:
                    self.failed_analysis = analysis
            if manual:
                analysis_dict["manual"] = True
            if not passed and self.abort_enabled:
                await self._abort(i, n, target, analysis_dict)
                return
            self.analysis = analysis_dict
            self._log(i, n, target, "canary", analysis_dict, "promote" if i == n else "advance")
        self.status = "promoting"
        self.decided_at = self.clock.now()
        self.publish_state()
        if await self.promote():
            self.status = "promoted"
            self.promoted_at = self.clock.now()
        else:
            self.status = "full traffic, not promoted"  # promotion switched off: the old stay
        self.publish_state()

    async def _abort(self, step: int, steps: int, target: float, analysis: dict[str, Any]) -> None:
        self.split.set({"stable": 100.0})
        self.status = "aborted"
        self.aborted_at = self.decided_at = self.clock.now()
        self.analysis = analysis
        self._log(step, steps, target, "canary", analysis, "abort")
        self.publish_state()
        await self.remove_canary()


__all__ = ["ACCEPT", "CONTINUE", "REJECT", "Analysis", "BlueGreenRollout", "CanaryRollout", "PoolStats"]
