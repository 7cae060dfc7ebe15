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
from typing import Any

from swarm_tui.agent.strategies import BUY, SELL
from swarm_tui.engine.agents import Agent
from swarm_tui.engine.controllers.breaker import BreakerState, CircuitBreaker
from swarm_tui.engine.router import CTL
from swarm_tui.engine.scenario import (
    Check,
    Scenario,
    ScenarioContext,
    ScenarioError,
    at_least,
    is_true,
    register,
)
from swarm_tui.engine.swarm import AgentError, RequestFailed, Swarm
from swarm_tui.patterns.common import (
    WINDOW,
    Trader,
    agents_param,
    launch,
    p,
)

FOUR_STAGES = [
    {"kind": "collector", "role": "stage", "symbol": "SPY", "name": "collector"},
    {"kind": "analyzer", "role": "stage", "symbol": "SPY", "name": "analyzer"},
    {"kind": "risk", "role": "stage", "name": "risk"},
    {"kind": "executor", "role": "stage", "name": "executor"},
]


def stage_request(
    ctx: ScenarioContext, stage: Agent, payload: dict[str, Any], *, src: str, timeout: float, cost: float = 0.0
):
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


async def _stages(ctx: ScenarioContext, need: int, **launch_options: Any) -> tuple[Swarm, list[Agent]]:
    """Deploy the ring's stages (at least ``need``) with the usual scenario start."""
    specs = agents_param(ctx)
    if len(specs) < need:
        raise ScenarioError(f"{ctx.scenario.id}: needs at least {need} stages, got {len(specs)}")
    return await launch(ctx, specs=specs, **launch_options)


def _live_order(swarm: Swarm) -> list[Agent]:
    """The stages in ring order (a replacement takes its predecessor's place)."""
    return [swarm.agents[n] for n in swarm.topology.nodes]


@register
class Pipeline(Scenario):
    id = "ring.pipeline"
    pattern = "ring"
    topology = "ring"
    title = "Pipeline"
    summary = "Ticks flow collector -> analyzer -> risk -> executor; each visits every stage once, in order."
    defaults = {"agents": FOUR_STAGES, "ticks": 50, "interval_s": 0.2, "timeout_s": 2.0, "tick_s": 0.2}
    mechanism_help = {"ring_order": "each stage hands its output to the next (off: all stages called at once)"}

    async def run(self, ctx: ScenarioContext) -> None:
        prm = ctx.params
        swarm, _ = await _stages(ctx, 2)
        trader = Trader(ctx)
        traces: list[dict[str, Any]] = []
        ctx.state["traces"] = traces
        timeout = float(prm["timeout_s"])

        async def one(i: int) -> None:
            stages = _live_order(swarm)
            symbol = stages[0].spec.symbols[0] if stages[0].spec.symbols else "SPY"
            payload = {"tick": i, "symbol": symbol, "price": ctx.market.last.prices[symbol], "t": ctx.clock.now()}
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
        for i in range(int(prm["ticks"])):
            spawned.append(swarm.spawn(one(i)))
            await ctx.clock.sleep(float(prm["interval_s"]))
        await asyncio.gather(*spawned)
        ctx.observe(pnl=trader.summary())

    def checks(self, ctx: ScenarioContext) -> list[Check]:
        swarm = ctx.swarm
        traces = ctx.state["traces"]
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
        return [
            is_true(
                "every tick went round the ring",
                len(traces) == int(ctx.params["ticks"]),
                f"{ctx.params['ticks']} ticks",
                len(traces),
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


@register
class DataFlow(Scenario):
    id = "ring.data-flow"
    pattern = "ring"
    topology = "ring"
    title = "Data flow"
    summary = "3 stages work on 10 batches at once (pipelining); throughput must beat sequential by 2x."
    defaults = {
        "agents": [
            {"kind": "collector", "role": "stage", "symbol": "QQQ", "name": "collector"},
            {"kind": "analyzer", "role": "stage", "symbol": "QQQ", "name": "analyzer"},
            {"kind": "executor", "role": "stage", "name": "executor"},
        ],
        "iterations": 10,
        "batch": 5,
        "stage_cost_s": 0.05,
        "min_speedup": 2.0,
        "timeout_s": 5.0,
    }
    mechanism_help = {"pipelining": "stages work on different items at once (off: one item at a time)"}

    async def run(self, ctx: ScenarioContext) -> None:
        prm = ctx.params
        swarm, stages = await _stages(ctx, 2, feed=False)
        cost = float(prm["stage_cost_s"])
        timeout = float(prm["timeout_s"])
        stage_lat: list[list[float]] = [[] for _ in stages]
        finished: list[tuple[int, float]] = []  # (iteration, time the item left the last stage)
        symbol = stages[0].spec.symbols[0] if stages[0].spec.symbols else "QQQ"
        items = [it for it in range(int(prm["iterations"])) for _ in range(int(prm["batch"]))]

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
                    await stage_call(i, payload)
                    await queues[i + 1].put((it, payload))

            for i in range(len(stages)):
                swarm.spawn(worker(i), name=f"stage {i}")
            for it in items:
                await queues[0].put((it, new_payload()))
            for _ in items:
                it, payload = await queues[-1].get()
                finished.append((it, ctx.clock.now()))
                ctx.record_decision("batch-item", ok=True, submitted=payload["t"], agent=stages[-1].id)
        else:
            for it in items:
                payload = new_payload()
                for i in range(len(stages)):
                    await stage_call(i, payload)
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
        ctx.state.update(
            throughput=throughput, sequential_rate=sequential_rate, items=len(finished), expected=len(items)
        )
        ctx.observe(
            items_per_s=round(throughput, 3),
            sequential_items_per_s=round(sequential_rate, 3),
            speedup=round(throughput / sequential_rate, 3) if sequential_rate else 0.0,
            mean_iteration_s=round(sum(spans) / len(spans), 4) if spans else None,
            stage_mean_ms=[round(m * 1000.0, 3) for m in mean_stage],
        )

    def checks(self, ctx: ScenarioContext) -> list[Check]:
        st = ctx.state
        speedup = st["throughput"] / st["sequential_rate"] if st["sequential_rate"] else 0.0
        return [
            at_least("throughput over the sequential rate (x)", speedup, float(ctx.params["min_speedup"])),
            is_true("every item passed every stage", st["items"] == st["expected"], f"{st['expected']}", st["items"]),
        ]


@register
class CircuitBreakerScenario(Scenario):
    id = "ring.circuit-breaker"
    pattern = "ring"
    topology = "ring"
    title = "Circuit breaker"
    summary = "Stage 2 fails from t=10 s to t=25 s; a breaker opens, probes and closes; upstream buffers."
    defaults = {
        "agents": FOUR_STAGES,
        "duration_s": 40.0,
        "interval_s": 0.2,
        "timeout_s": 2.0,
        "tick_s": 0.2,
        "buffer": 20,
        "breaker": {"window": 10, "min_calls": 5, "failure_rate": 0.5, "open_s": 5.0, "probes": 3},
        "guarded_stage": 2,
    }
    default_faults = [{"kind": "error-rate", "target": "#2", "at": 10.0, "duration": 15.0, "rate": 1.0}]
    mechanism_help = {"breaker": "a circuit breaker guards the calls into the failing stage"}

    async def run(self, ctx: ScenarioContext) -> None:
        prm = ctx.params
        swarm, stages = await _stages(ctx, 2, faults=False)
        guarded_index = int(prm["guarded_stage"]) - 1
        if not 0 < guarded_index < len(stages):
            raise ScenarioError(f"{self.id}: guarded_stage must be 2..{len(stages)}")
        guarded = stages[guarded_index]
        cfg = dict(prm["breaker"])
        breaker = CircuitBreaker(
            f"{stages[guarded_index - 1].id}->{guarded.id}",
            ctx.clock,
            window=int(cfg["window"]),
            min_calls=int(cfg["min_calls"]),
            failure_rate=float(cfg["failure_rate"]),
            open_s=float(cfg["open_s"]),
            probes=int(cfg["probes"]),
            publish=swarm.publish,
            enabled=ctx.on("breaker"),
        )
        swarm.router.watch[guarded.id] = []
        buffer: deque[dict[str, Any]] = deque()
        counts = {"completed": 0, "failed": 0, "shed": 0, "buffered": 0, "ticks": 0}
        ctx.state.update(breaker=breaker, guarded=guarded.id, counts=counts)
        timeout = float(prm["timeout_s"])
        ctx.schedule_faults(self.faults())

        async def downstream(payload: dict[str, Any]) -> None:
            """From the guarded stage on; the breaker decides whether the call is made."""
            submitted = payload["submitted"]
            if not breaker.allow():
                if len(buffer) >= int(prm["buffer"]):
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
            payload = {
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
                await ctx.clock.sleep(float(prm["interval_s"]))
                if buffer and breaker.state != BreakerState.OPEN:
                    await downstream(buffer.popleft())

        swarm.spawn(drain(), name="drain buffer")
        spawned = []
        start = ctx.clock.now()
        i = 0
        while ctx.clock.now() - start < float(prm["duration_s"]):
            counts["ticks"] += 1
            spawned.append(swarm.spawn(one(i)))
            i += 1
            await ctx.clock.sleep(float(prm["interval_s"]))
        await asyncio.gather(*spawned)
        while buffer and ctx.clock.now() - start < float(prm["duration_s"]) + 10.0:
            await ctx.clock.sleep(float(prm["interval_s"]))
        counts["left_in_buffer"] = len(buffer)

    def checks(self, ctx: ScenarioContext) -> list[Check]:
        breaker: CircuitBreaker = ctx.state["breaker"]
        counts = ctx.state["counts"]
        end = ctx.clock.now()
        transitions = breaker.transitions
        cfg = ctx.params["breaker"]
        first_open = next((e for e in breaker.log if e["old"] == "CLOSED" and e["new"] == "OPEN"), None)
        spans = breaker.open_intervals(end)
        hits = ctx.swarm.router.watch.get(ctx.state["guarded"], [])
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
        open_s = float(cfg["open_s"])
        return [
            is_true(
                f"breaker opened once >= {float(cfg['failure_rate']):.0%} of the last {cfg['window']} calls failed",
                first_open is not None
                and first_open["failure_rate"] >= float(cfg["failure_rate"])
                and first_open["calls"] >= int(cfg["min_calls"]),
                f">= {float(cfg['failure_rate']):.0%} of >= {cfg['min_calls']} calls",
                f"{first_open['failure_rate']:.0%} of {first_open['calls']} at t={first_open['t']:.1f}"
                if first_open
                else "never opened",
            ),
            Check(
                "calls that reached the stage while the breaker was open",
                during_open == 0 and bool(spans),
                "== 0 (with the breaker open)",
                during_open if spans else "never open",
            ),
            is_true(
                "upstream buffered or shed while open",
                counts["buffered"] + counts["shed"] > 0 and accounted == counts["ticks"],
                "every tick completed, failed or shed",
                f"buffered {counts['buffered']}, shed {counts['shed']}, unaccounted {counts['ticks'] - accounted}",
            ),
            is_true(
                f"half-open after its wait ({open_s:g} s)",
                bool(half_delays) and all(open_s <= d <= open_s + 1.0 for d in half_delays),
                f"{open_s:g}..{open_s + 1:g} s",
                ",".join(f"{d:.2f}" for d in half_delays) or "never",
            ),
            is_true(
                f"closed after {cfg['probes']} good probes, transitions recorded in order",
                in_order and breaker.state == BreakerState.CLOSED,
                "CLOSED->OPEN->HALF_OPEN->CLOSED",
                " ".join(sequence) or "none",
            ),
        ]
