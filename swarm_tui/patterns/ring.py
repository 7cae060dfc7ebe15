"""Ring: stage i feeds stage i+1; data flows one way round the ring.

Each hop is a request from the previous stage to the next through the router (so the edge
stage i -> stage i+1 carries the traffic). The circuit-breaker scenario guards the calls into
stage 2 with a breaker; while it is open, upstream buffers ticks (and sheds the oldest when the
buffer is full) instead of calling the failing stage.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from swarm_tui.agent.strategies import BUY, SELL
from swarm_tui.engine.agents import Agent
from swarm_tui.engine.controllers.breaker import BreakerState, CircuitBreaker
from swarm_tui.engine.params import AgentEntry, Model, ScenarioParams, agents_default, param, threshold
from swarm_tui.engine.router import CTL
from swarm_tui.engine.scenario import (
    Check,
    Scenario,
    ScenarioContext,
    ScenarioError,
    at_least,
    is_true,
)
from swarm_tui.engine.swarm import AgentError, RequestFailed, Swarm
from swarm_tui.patterns.common import (
    WINDOW,
    Ctx,
    Trader,
    agents_param,
    launch,
    need,
    p,
)

FOUR_STAGES = [
    {"kind": "collector", "role": "stage", "symbol": "SPY", "name": "collector"},
    {"kind": "analyzer", "role": "stage", "symbol": "SPY", "name": "analyzer"},
    {"kind": "risk", "role": "stage", "name": "risk"},
    {"kind": "executor", "role": "stage", "name": "executor"},
]


def stage_request(
    ctx: Ctx, stage: Agent, payload: dict[str, Any], *, src: str, timeout: float, cost: float = 0.0
) -> asyncio.Future[Any]:
    """What each kind of stage is asked to do with a tick on its way round the ring."""
    kind = stage.kind
    symbol = payload["symbol"]
    if kind == "collector":
        op, data = "collect", {"symbol": symbol, "price": payload["price"], "t": payload["t"]}
    elif kind in ("analyzer", "momentum"):
        op, data = "signal", {"strategy": "momentum", "prices": ctx.market.window(symbol, WINDOW)}
    elif kind == "risk":
        side = payload.get("action") if payload.get("action") in (BUY, SELL) else BUY
        op, data = (
            "risk_check",
            {
                "order": {"symbol": symbol, "side": side, "qty": 10, "price": payload["price"]},
                "positions": {},
                "limits": {"max_position": 1000},
            },
        )
    elif kind == "executor":
        side = payload.get("action") if payload.get("action") in (BUY, SELL) else BUY
        op, data = "fill", {"side": side, "qty": 10, "price": payload["price"]}
    else:
        op, data = "work", {"prices": ctx.market.window(symbol, WINDOW)}
    return ctx.swarm.request(stage, op, data, src=src, cost=cost, timeout=timeout)


def _merge(payload: dict[str, Any], stage: Agent, value: Any) -> None:
    if stage.kind in ("analyzer", "momentum") and isinstance(value, dict):
        payload["action"] = value.get("action", "hold")
    if stage.kind == "risk" and isinstance(value, dict):
        payload["approved"] = bool(value.get("approved"))
    if stage.kind == "executor" and isinstance(value, dict):
        payload["fill"] = value


async def _stages(ctx: Ctx, least: int, **launch_options: Any) -> tuple[Swarm, list[Agent]]:
    """Deploy the ring's stages (at least ``least``) with the usual scenario start."""
    specs = agents_param(ctx)
    if len(specs) < least:
        raise ScenarioError(f"{ctx.scenario.id}: needs at least {least} stages, got {len(specs)}")
    return await launch(ctx, specs=specs, **launch_options)


def _live_order(swarm: Swarm) -> list[Agent]:
    """The stages in ring order (a replacement takes its predecessor's place)."""
    return [swarm.agents[n] for n in swarm.topology.nodes]


@dataclass
class PipelineState:
    traces: list[dict[str, Any]] = field(default_factory=list)


class PipelineParams(ScenarioParams):
    agents: list[AgentEntry] = agents_default(*FOUR_STAGES)
    ticks: int = param(50, "ticks sent round the ring", ge=1, le=100000)
    interval_s: float = param(0.2, "time between ticks (s)", gt=0.0, le=60.0)
    timeout_s: float = param(2.0, "a stage call's timeout (s)", gt=0.0, le=600.0)
    tick_s: float = param(0.2, "market tick interval (s)", gt=0.0, le=60.0)


class Pipeline(Scenario[PipelineParams, PipelineState]):
    id = "ring.pipeline"
    pattern = "ring"
    topology = "ring"
    title = "Pipeline"
    summary = "Ticks flow collector -> analyzer -> risk -> executor; each visits every stage once, in order."
    Params = PipelineParams
    mechanism_help = {"ring_order": "each stage hands its output to the next (off: all stages called at once)"}

    def new_state(self) -> PipelineState:
        return PipelineState()

    async def run(self, ctx: ScenarioContext[PipelineParams, PipelineState]) -> None:
        prm = ctx.params
        swarm, _ = await _stages(ctx, 2, tick_s=prm.tick_s)
        trader = Trader(ctx)
        traces = ctx.state.traces
        timeout = prm.timeout_s

        async def one(i: int) -> None:
            stages = _live_order(swarm)
            symbol = stages[0].spec.symbols[0] if stages[0].spec.symbols else "SPY"
            payload: dict[str, Any] = {
                "tick": i,
                "symbol": symbol,
                "price": ctx.market.last.prices[symbol],
                "t": ctx.clock.now(),
            }
            submitted = ctx.clock.now()
            visits: list[tuple[float, str, float]] = []
            ok = True
            try:
                if ctx.on("ring_order"):
                    src = CTL
                    for stage in stages:
                        t0 = ctx.clock.now()
                        value = await stage_request(ctx, stage, payload, src=src, timeout=timeout)
                        _merge(payload, stage, value)
                        visits.append((ctx.clock.now(), stage.id, ctx.clock.now() - t0))
                        src = stage.id
                else:

                    async def call(stage: Agent) -> None:
                        t0 = ctx.clock.now()
                        value = await stage_request(ctx, stage, payload, src=CTL, timeout=timeout)
                        _merge(payload, stage, value)
                        visits.append((ctx.clock.now(), stage.id, ctx.clock.now() - t0))

                    await asyncio.gather(*(call(s) for s in stages))
            except (RequestFailed, AgentError) as exc:
                ok = False
                ctx.record_decision("tick", ok=False, submitted=submitted, error=str(exc))
            if ok:
                ctx.record_decision("tick", ok=True, submitted=submitted, agent=stages[-1].id)
                if payload.get("approved") and payload.get("action") in (BUY, SELL):
                    trader.target("pipeline", stages[-1].id, symbol, payload["action"], 10, payload["price"])
            traces.append(
                {
                    "tick": i,
                    "expected": [s.id for s in stages],
                    "visits": [v[1] for v in sorted(visits)],
                    "stage_s": {v[1]: v[2] for v in visits},
                    "e2e_s": ctx.clock.now() - submitted,
                    "ok": ok,
                }
            )

        spawned = []
        for i in range(prm.ticks):
            spawned.append(swarm.spawn(one(i)))
            await ctx.clock.sleep(prm.interval_s)
        await asyncio.gather(*spawned)
        ctx.observe(pnl=trader.summary())

    def checks(self, ctx: ScenarioContext[PipelineParams, PipelineState]) -> list[Check]:
        swarm = ctx.swarm
        traces = ctx.state.traces
        skipped = sum(1 for t in traces if len(t["visits"]) < len(t["expected"]))
        disorder = sum(1 for t in traces if len(t["visits"]) == len(t["expected"]) and t["visits"] != t["expected"])
        links = [swarm.topology.degree(a.id) for a in swarm.live()]
        e2e = [t["e2e_s"] * 1000.0 for t in traces if t["ok"]]
        per_stage: dict[str, list[float]] = {}
        for t in traces:
            for stage, s in t["stage_s"].items():
                per_stage.setdefault(stage, []).append(s * 1000.0)
        ctx.observe(
            end_to_end_ms={"p50": p(e2e, 50), "p95": p(e2e, 95)},
            stage_latency_ms={k: {"p50": p(v, 50), "p95": p(v, 95)} for k, v in per_stage.items()},
        )
        # A tick went round once every stage answered it (a trace is kept for failed ticks too).
        around = sum(1 for t in traces if t["ok"])
        return [
            is_true(
                "every tick went round the ring",
                around == ctx.params.ticks,
                f"{ctx.params.ticks} ticks",
                around,
                final_only=True,
            ),
            Check("ticks that skipped a stage", skipped == 0, "== 0", skipped),
            Check("ticks that visited stages out of order", disorder == 0, "== 0", disorder),
            is_true(
                "each stage linked to two neighbours",
                bool(links) and all(x == 2 for x in links),
                "2 links each",
                f"{min(links, default=0)}..{max(links, default=0)}",
            ),
        ]


@dataclass
class DataFlowState:
    throughput: float | None = None
    sequential_rate: float = 0.0
    items: int = 0
    expected: int = 0


class DataFlowParams(ScenarioParams):
    agents: list[AgentEntry] = agents_default(
        {"kind": "collector", "role": "stage", "symbol": "QQQ", "name": "collector"},
        {"kind": "analyzer", "role": "stage", "symbol": "QQQ", "name": "analyzer"},
        {"kind": "executor", "role": "stage", "name": "executor"},
    )
    iterations: int = param(10, "iterations", ge=1, le=10000)
    batch: int = param(5, "items per iteration", ge=1, le=10000)
    stage_cost_s: float = param(0.05, "work per item at each stage (s)", ge=0.0, le=60.0)
    timeout_s: float = param(5.0, "a stage call's timeout (s)", gt=0.0, le=600.0)
    min_speedup: float = threshold(2.0, "throughput over the sequential rate must reach this factor", ge=0.0)


class DataFlow(Scenario[DataFlowParams, DataFlowState]):
    id = "ring.data-flow"
    pattern = "ring"
    topology = "ring"
    title = "Data flow"
    summary = "3 stages work on 10 batches at once (pipelining); throughput must beat sequential by 2x."
    Params = DataFlowParams
    mechanism_help = {"pipelining": "stages work on different items at once (off: one item at a time)"}

    def new_state(self) -> DataFlowState:
        return DataFlowState()

    async def run(self, ctx: ScenarioContext[DataFlowParams, DataFlowState]) -> None:
        prm = ctx.params
        swarm, stages = await _stages(ctx, 2, feed=False)
        cost = prm.stage_cost_s
        timeout = prm.timeout_s
        stage_lat: list[list[float]] = [[] for _ in stages]
        finished: list[tuple[int, float]] = []  # (iteration, time the item left the last stage)
        symbol = stages[0].spec.symbols[0] if stages[0].spec.symbols else "QQQ"
        items = [it for it in range(prm.iterations) for _ in range(prm.batch)]
        ctx.state.expected = len(items)

        async def stage_call(i: int, payload: dict[str, Any]) -> None:
            t0 = ctx.clock.now()
            value = await stage_request(
                ctx, stages[i], payload, src=stages[i - 1].id if i else CTL, timeout=timeout, cost=cost
            )
            _merge(payload, stages[i], value)
            stage_lat[i].append(ctx.clock.now() - t0)

        def new_payload() -> dict[str, Any]:
            return {"symbol": symbol, "price": ctx.market.last.prices[symbol], "t": ctx.clock.now()}

        start = ctx.clock.now()
        if ctx.on("pipelining"):
            # One worker per stage, connected by queues: stage i works on item k while stage i+1
            # works on item k-1.
            queues: list[asyncio.Queue[tuple[int, dict[str, Any]]]] = [asyncio.Queue() for _ in range(len(stages) + 1)]

            async def worker(i: int) -> None:
                while True:
                    it, payload = await queues[i].get()
                    if "failed" not in payload:
                        try:
                            await stage_call(i, payload)
                        except (RequestFailed, AgentError) as exc:
                            # The item is lost here; it goes on marked, so the run ends and the
                            # count of items through every stage shows it (rather than a hang).
                            payload["failed"] = str(exc)
                    await queues[i + 1].put((it, payload))

            for i in range(len(stages)):
                swarm.spawn(worker(i), name=f"stage {i}")
            for it in items:
                await queues[0].put((it, new_payload()))
            for _ in items:
                it, payload = await queues[-1].get()
                if "failed" in payload:
                    ctx.record_decision("batch-item", ok=False, submitted=payload["t"], error=payload["failed"])
                    continue
                finished.append((it, ctx.clock.now()))
                ctx.record_decision("batch-item", ok=True, submitted=payload["t"], agent=stages[-1].id)
        else:
            for it in items:
                payload = new_payload()
                try:
                    for i in range(len(stages)):
                        await stage_call(i, payload)
                except (RequestFailed, AgentError) as exc:
                    ctx.record_decision("batch-item", ok=False, submitted=payload["t"], error=str(exc))
                    continue
                finished.append((it, ctx.clock.now()))
                ctx.record_decision("batch-item", ok=True, submitted=payload["t"], agent=stages[-1].id)
        elapsed = ctx.clock.now() - start
        mean_stage = [sum(v) / len(v) for v in stage_lat if v]
        sequential_rate = 1.0 / sum(mean_stage) if mean_stage else 0.0
        throughput = len(finished) / elapsed if elapsed > 0 else 0.0
        last_of: dict[int, float] = {}
        for it, t in finished:
            last_of[it] = t
        spans, previous = [], start
        for it in sorted(last_of):
            spans.append(last_of[it] - previous)
            previous = last_of[it]
        st = ctx.state
        st.throughput, st.sequential_rate, st.items = throughput, sequential_rate, len(finished)
        ctx.observe(
            items_per_s=round(throughput, 3),
            sequential_items_per_s=round(sequential_rate, 3),
            speedup=round(throughput / sequential_rate, 3) if sequential_rate else 0.0,
            mean_iteration_s=round(sum(spans) / len(spans), 4) if spans else None,
            stage_mean_ms=[round(m * 1000.0, 3) for m in mean_stage],
        )

    def checks(self, ctx: ScenarioContext[DataFlowParams, DataFlowState]) -> list[Check]:
        st = ctx.state
        if st.throughput is None:
            name = "throughput over the sequential rate (x)"
            return [ctx.not_yet(name, f">= {ctx.params.min_speedup:g}", "still measuring", "not measured")]
        speedup = st.throughput / st.sequential_rate if st.sequential_rate else 0.0
        return [
            at_least("throughput over the sequential rate (x)", speedup, ctx.params.min_speedup),
            is_true("every item passed every stage", st.items == st.expected, f"{st.expected}", st.items),
        ]


class BreakerSettings(Model):
    """The circuit breaker's settings."""

    window: int = param(10, "calls in the sliding window", ge=1, le=100000)
    min_calls: int = param(5, "calls needed before it may open", ge=1, le=100000)
    failure_rate: float = param(0.5, "failure rate that opens it", gt=0.0, le=1.0)
    open_s: float = param(5.0, "time open before half-open probes (s)", gt=0.0, le=3600.0)
    probes: int = param(3, "good probes in a row that close it", ge=1, le=1000)


@dataclass
class BreakerRun:
    breaker: CircuitBreaker | None = None
    guarded: str = ""
    counts: dict[str, int] = field(default_factory=dict)


class CircuitBreakerParams(ScenarioParams):
    agents: list[AgentEntry] = agents_default(*FOUR_STAGES)
    duration_s: float = param(40.0, "how long ticks are sent (s)", gt=0.0, le=86400.0)
    interval_s: float = param(0.2, "time between ticks (s)", gt=0.0, le=60.0)
    timeout_s: float = param(2.0, "a stage call's timeout (s)", gt=0.0, le=600.0)
    tick_s: float = param(0.2, "market tick interval (s)", gt=0.0, le=60.0)
    buffer: int = param(20, "ticks upstream keeps while the breaker is open", ge=0, le=100000)
    breaker: BreakerSettings = param(BreakerSettings(), "the breaker's settings")
    guarded_stage: int = param(2, "the stage the breaker guards (1 is the first)", ge=2, le=1000)
    # The fault takes the guarded stage down: nothing can be answered in time through it, by
    # design. The outage bound is the recovery bound (the breaker closed again in time).
    min_availability: float | None = threshold(None, "no availability bound (see the recovery bound)", gt=0.0, le=1.0)


class CircuitBreakerScenario(Scenario[CircuitBreakerParams, BreakerRun]):
    id = "ring.circuit-breaker"
    pattern = "ring"
    topology = "ring"
    title = "Circuit breaker"
    summary = "Stage 2 fails from t=10 s to t=25 s; a breaker opens, probes and closes; upstream buffers."
    Params = CircuitBreakerParams
    default_faults = [{"kind": "error-rate", "target": "#2", "at": 10.0, "duration": 15.0, "rate": 1.0}]
    mechanism_help = {"breaker": "a circuit breaker guards the calls into the failing stage"}

    def new_state(self) -> BreakerRun:
        return BreakerRun()

    async def run(self, ctx: ScenarioContext[CircuitBreakerParams, BreakerRun]) -> None:
        prm = ctx.params
        swarm, stages = await _stages(ctx, 2, tick_s=prm.tick_s, faults=False)
        guarded_index = prm.guarded_stage - 1
        if not 0 < guarded_index < len(stages):
            raise ScenarioError(f"{self.id}: guarded_stage must be 2..{len(stages)}")
        guarded = stages[guarded_index]
        cfg = prm.breaker
        breaker = CircuitBreaker(
            f"{stages[guarded_index - 1].id}->{guarded.id}",
            ctx.clock,
            window=cfg.window,
            min_calls=cfg.min_calls,
            failure_rate=cfg.failure_rate,
            open_s=cfg.open_s,
            probes=cfg.probes,
            publish=swarm.publish,
            enabled=ctx.on("breaker"),
        )
        swarm.router.watch[guarded.id] = []
        buffer: deque[dict[str, Any]] = deque()
        counts = {"completed": 0, "failed": 0, "shed": 0, "buffered": 0, "ticks": 0}
        st = ctx.state
        st.breaker, st.guarded, st.counts = breaker, guarded.id, counts
        timeout = prm.timeout_s
        ctx.schedule_faults(self.faults())

        async def downstream(payload: dict[str, Any]) -> None:
            """From the guarded stage on; the breaker decides whether the call is made."""
            submitted = payload["submitted"]
            if not breaker.allow():
                if len(buffer) >= prm.buffer:
                    buffer.popleft()
                    counts["shed"] += 1
                    ctx.record_decision("tick", ok=False, submitted=submitted, outcome="shed", error="shed")
                buffer.append(payload)
                counts["buffered"] += 1
                return
            src = stages[guarded_index - 1].id
            passed_guard = False
            try:
                for stage in stages[guarded_index:]:
                    value = await stage_request(ctx, stage, payload, src=src, timeout=timeout)
                    if stage is guarded:
                        breaker.record(True)
                        passed_guard = True
                    _merge(payload, stage, value)
                    src = stage.id
            except (RequestFailed, AgentError) as exc:
                if not passed_guard:
                    breaker.record(False)
                counts["failed"] += 1
                ctx.record_decision("tick", ok=False, submitted=submitted, error=str(exc))
                return
            counts["completed"] += 1
            ctx.record_decision("tick", ok=True, submitted=submitted, agent=stages[-1].id)

        async def one(i: int) -> None:
            symbol = stages[0].spec.symbols[0] if stages[0].spec.symbols else "SPY"
            payload: dict[str, Any] = {
                "tick": i,
                "symbol": symbol,
                "price": ctx.market.last.prices[symbol],
                "t": ctx.clock.now(),
                "submitted": ctx.clock.now(),
            }
            src = CTL
            try:
                for stage in stages[:guarded_index]:
                    value = await stage_request(ctx, stage, payload, src=src, timeout=timeout)
                    _merge(payload, stage, value)
                    src = stage.id
            except (RequestFailed, AgentError) as exc:
                counts["failed"] += 1
                ctx.record_decision("tick", ok=False, submitted=payload["submitted"], error=str(exc))
                return
            await downstream(payload)

        async def drain() -> None:
            """Replay buffered ticks whenever the breaker lets calls through."""
            while True:
                await ctx.clock.sleep(prm.interval_s)
                if buffer and breaker.state != BreakerState.OPEN:
                    await downstream(buffer.popleft())

        swarm.spawn(drain(), name="drain buffer")
        spawned = []
        start = ctx.clock.now()
        i = 0
        while ctx.clock.now() - start < prm.duration_s:
            counts["ticks"] += 1
            spawned.append(swarm.spawn(one(i)))
            i += 1
            await ctx.clock.sleep(prm.interval_s)
        await asyncio.gather(*spawned)
        while buffer and ctx.clock.now() - start < prm.duration_s + 10.0:
            await ctx.clock.sleep(prm.interval_s)
        counts["left_in_buffer"] = len(buffer)

    def checks(self, ctx: ScenarioContext[CircuitBreakerParams, BreakerRun]) -> list[Check]:
        st = ctx.state
        breaker = need(st.breaker, "the breaker")
        counts = st.counts
        end = ctx.clock.now()
        transitions = breaker.transitions
        cfg = ctx.params.breaker
        first_open = next((e for e in breaker.log if e["old"] == "CLOSED" and e["new"] == "OPEN"), None)
        spans = breaker.open_intervals(end)
        hits = ctx.swarm.router.watch.get(st.guarded, [])
        during_open = sum(1 for t in hits for a, b in spans if a < t < b)
        half_delays = []
        for (t_open, _o, new), nxt in itertools.pairwise(transitions):
            if new == "OPEN" and nxt[2] == "HALF_OPEN":
                half_delays.append(nxt[0] - t_open)
        sequence = [f"{o}->{n}@{t:.1f}" for t, o, n in transitions]
        wanted = [("CLOSED", "OPEN"), ("OPEN", "HALF_OPEN"), ("HALF_OPEN", "CLOSED")]
        it = iter((o, n) for _t, o, n in transitions)
        in_order = all(any(step == w for step in it) for w in wanted)
        accounted = counts["completed"] + counts["failed"] + counts["shed"] + counts.get("left_in_buffer", 0)
        ctx.observe(
            breaker_transitions=sequence,
            calls_refused=breaker.refused,
            buffered=counts["buffered"],
            shed=counts["shed"],
            completed=counts["completed"],
            failed=counts["failed"],
        )
        open_s = cfg.open_s
        checks: list[Check] = []
        name = f"breaker opened once >= {cfg.failure_rate:.0%} of the last {cfg.window} calls failed"
        expected = f">= {cfg.failure_rate:.0%} of >= {cfg.min_calls} calls"
        if first_open is None:
            checks.append(ctx.not_yet(name, expected, "not opened yet", "never opened"))
        else:
            rate, calls, when = float(first_open["failure_rate"]), int(first_open["calls"]), float(first_open["t"])
            checks.append(
                is_true(
                    name,
                    rate >= cfg.failure_rate and calls >= cfg.min_calls,
                    expected,
                    f"{rate:.0%} of {calls} at t={when:.1f}",
                )
            )
        name = "calls that reached the stage while the breaker was open"
        if not spans:
            checks.append(ctx.not_yet(name, "== 0 (with the breaker open)", "not opened yet", "never open"))
        else:
            checks.append(Check(name, during_open == 0, "== 0 (with the breaker open)", during_open))
        checks.append(
            is_true(
                "upstream buffered or shed while open",
                counts["buffered"] + counts["shed"] > 0 and accounted == counts["ticks"],
                "every tick completed, failed or shed",
                f"buffered {counts['buffered']}, shed {counts['shed']}, unaccounted {counts['ticks'] - accounted}",
                final_only=True,
            )
        )
        name = f"half-open after its wait ({open_s:g} s)"
        if not half_delays:
            checks.append(ctx.not_yet(name, f"{open_s:g}..{open_s + 1:g} s", "not half-open yet", "never"))
        else:
            checks.append(
                is_true(
                    name,
                    all(open_s <= d <= open_s + 1.0 for d in half_delays),
                    f"{open_s:g}..{open_s + 1:g} s",
                    ",".join(f"{d:.2f}" for d in half_delays),
                )
            )
        checks.append(
            is_true(
                f"closed after {cfg.probes} good probes, transitions recorded in order",
                in_order and breaker.state == BreakerState.CLOSED,
                "CLOSED->OPEN->HALF_OPEN->CLOSED",
                " ".join(sequence) or "none",
                final_only=True,
            )
        )
        return checks


SCENARIOS: tuple[type[Scenario[Any, Any]], ...] = (Pipeline, DataFlow, CircuitBreakerScenario)
