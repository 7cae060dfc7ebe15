"""Workloads: one trading workload, run through any topology, for controlled comparisons.

A :class:`Workload` is the experiment held fixed while the topology changes: the same agents
(traders with their strategies and symbols, a risk specialist, an executor), the same seeded
market, the same open-loop load, the same fault schedule and the same saturation ramp. The
topology decides only the *path* a decision takes (see :class:`DecisionPath`):

* **mesh**: the engine asks a trader for its signal; the trader asks the risk agent, the risk
  agent asks the executor, directly (every agent is linked to every other); the trader then
  gossips the decision to ``fanout`` peers so the mesh shares one view.
* **star**: one hub relays every hop: engine -> hub -> trader, trader -> hub -> risk,
  risk -> hub -> executor. The hub's ``forward`` is a real request it serves.
* **hierarchical**: a coordinator for every ``team_size`` traders commands the decision: the
  engine hands it to the trader's coordinator, which asks the trader, then the risk agent, then
  the executor itself.
* **ring**: the decision enters at the trader and travels one way round the ring: every agent
  between the trader and the risk agent relays it (``forward``), then the risk agent hands it
  to the executor.

Every message passes the router (so it is counted, delayed, dropped or partitioned like any
other), every request is served by a sandbox of the backend, and every decision ends in one
``TaskFinished`` event. A decision is *correct* when every step answered without error and the
trader's signal equals what the engine computes itself from the same prices (so a byzantine
fault is caught, not counted as a success).

The run has two phases, marked by ``Note`` events (``text == PHASE_NOTE``): the **fault phase**
(``rate`` decisions per second for ``duration_s`` with the fault schedule) and the **ramp** (load
steps of ``ramp_step_s`` each, stopped at the first step whose p95 decision latency exceeds the
budget; a decision that failed counts as slower than any budget).

:func:`rollout_scenario` builds the rollout comparison on the same footing: all at once,
blue-green and canary, each with the same sound and the same defective new version.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from swarm_tui.agent.core import AgentCore
from swarm_tui.agent.kinds import STRATEGY_CAPABILITY
from swarm_tui.agent.strategies import BUY, SELL
from swarm_tui.engine.agents import Agent, AgentSpec
from swarm_tui.engine.controllers.routing import LeastLoaded
from swarm_tui.engine.dispatch import Dispatcher, Task
from swarm_tui.engine.events import Event, TaskFinished
from swarm_tui.engine.metrics import percentile
from swarm_tui.engine.params import (
    AgentEntry,
    Defect,
    FaultEntry,
    Model,
    ScenarioParams,
    agent_specs,
    param,
    validation_message,
)
from swarm_tui.engine.router import CTL
from swarm_tui.engine.scenario import Check, Scenario, ScenarioContext, ScenarioError, at_least, is_true
from swarm_tui.engine.swarm import AgentError, RequestFailed, Swarm
from swarm_tui.engine.topology import TOPOLOGIES
from swarm_tui.patterns import rollouts
from swarm_tui.patterns.common import latency_budget_ms, launch, open_loop, signal_data

PHASE_NOTE = "workload phase"
ROLES = ("trader", "risk", "executor")
ROLLOUT_STRATEGIES = ("all-at-once", "blue-green", "canary")
VERSIONS = ("sound", "defective")
Topo = Literal["mesh", "hierarchical", "ring", "star"]


# -- the workload ------------------------------------------------------------------------------------
class WorkloadParams(ScenarioParams):
    """The load, timing and shape of a workload (``[params]`` of a workload file)."""

    topology: Topo = param("mesh", "the topology the workload runs through")
    rate: float = param(10.0, "decisions per second during the fault phase", gt=0.0, le=100000.0)
    duration_s: float = param(15.0, "length of the fault phase (s)", gt=0.0, le=86400.0)
    deadline_ms: float | None = param(
        None, "a decision answered later than this is not available (ms); default: twice the p95 budget", gt=0.0
    )
    timeout_s: float = param(2.0, "a request's timeout (s)", gt=0.0, le=600.0)
    retries: int = param(2, "a decision whose agent failed is retried this many times", ge=0, le=20)
    tick_s: float = param(0.5, "market tick interval (s)", gt=0.0, le=60.0)
    fanout: int = param(2, "mesh: peers each decision is gossiped to", ge=0, le=1000)
    team_size: int = param(4, "hierarchical: traders per coordinator", ge=1, le=10000)
    settle_s: float = param(3.0, "pause between the fault phase and the ramp (s)", ge=0.0, le=3600.0)
    ramp: list[float] = param(
        [20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 1280.0, 2560.0],
        "loads of the saturation ramp (decisions/s), ascending; [] skips the ramp",
    )
    ramp_step_decisions: int = param(40, "decisions in each ramp step (Poisson arrivals at its load)", ge=5, le=100000)

    @field_validator("ramp")
    @classmethod
    def _ascending(cls, value: list[float]) -> list[float]:
        if any(x <= 0 for x in value) or any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError("expected positive loads in ascending order")
        return value


class RolloutSettings(Model):
    """The rollout comparison's versions and load (``[rollout]`` of a workload file)."""

    kind: str = Field("momentum", description="agent kind of both versions")
    symbol: str = Field("SPY", min_length=1, max_length=12)
    count: int = Field(4, ge=1, le=1000, description="agents per version")
    rate: float = Field(40.0, gt=0.0, le=100000.0, description="requests per second")
    defect: Defect = Field(
        Defect(error_rate=0.25, latency_factor=2.0), description="what is wrong with the defective version"
    )

    @field_validator("kind")
    @classmethod
    def _known(cls, value: str) -> str:
        return AgentEntry(kind=value).kind


class Workload(Model):
    """A named workload: agents, load, fault schedule and ramp; and the rollout comparison's versions."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    title: str = Field("", max_length=120)
    description: str = Field("", max_length=2000)
    agents: list[AgentEntry] = Field(min_length=1)
    faults: list[FaultEntry] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    rollout: RolloutSettings = Field(default_factory=RolloutSettings)

    @model_validator(mode="after")
    def _check(self) -> Workload:
        for i, entry in enumerate(self.agents):
            if entry.role not in ROLES:
                raise ValueError(f"agents[{i}].role: expected one of {', '.join(ROLES)}, got {entry.role!r}")
            if entry.role == "trader" and STRATEGY_CAPABILITY.get(entry.resolved_strategy) is None:
                raise ValueError(f"agents[{i}]: a trader needs a trading strategy, {entry.kind} has none")
        if not any(e.role == "trader" for e in self.agents):
            raise ValueError("agents: at least one agent needs role 'trader'")
        reserved = set(WorkloadParams.COMMON) - {"heartbeat_s", "detector_threshold", "p95_budget_ms"}
        reserved |= {"topology"}
        for key in self.params:
            if key in reserved:
                raise ValueError(f"params.{key}: set by the workload itself, not in [params]")
        try:
            WorkloadParams.build(self.params)
        except ValueError as exc:
            raise ValueError(f"params.{exc}") from None
        return self

    def run_params(self, topology: str) -> WorkloadParams:
        """The parameters of this workload's run through one topology."""
        return WorkloadParams.build({**self.params, "topology": topology, "agents": self.agents})

    @property
    def size(self) -> int:
        return sum(e.count for e in self.agents)


def parse_workload(data: dict[str, Any], where: str = "workload") -> Workload:
    """A workload from plain tables (a TOML file's). Raises ValueError with one line."""
    try:
        return Workload.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"{where}: {validation_message(exc)}") from None


def _trader(kind: str, symbol: str, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "role": "trader", "symbol": symbol, "name": f"{kind.replace('_', '-')}", **extra}


DESK_AGENTS = (
    _trader("momentum", "SPY"),
    _trader("momentum", "QQQ"),
    _trader("mean_reversion", "AAPL"),
    _trader("mean_reversion", "TSLA"),
    _trader("forecaster", "SPY"),
    _trader("momentum", "TSLA"),
    {"kind": "risk", "role": "risk", "name": "risk"},
    {"kind": "executor", "role": "executor", "name": "executor"},
)

# The named workloads (docs/workloads.md describes each; `swarm-tui compare --workload NAME`).
WORKLOADS: dict[str, dict[str, Any]] = {
    "desk": {
        "name": "desk",
        "title": "A trading desk under steady load, one trader crashes",
        "description": (
            "Six traders (momentum on SPY, QQQ and TSLA, mean reversion on AAPL and TSLA, a forecaster "
            "on SPY), one risk specialist and one executor. 10 decisions per second for 15 s; the "
            "second trader crashes at t=5 s and is detected and replaced. Then the saturation ramp: "
            "steps of 40 decisions at 20, 40, 80, ... 2560 decisions per second."
        ),
        "agents": list(DESK_AGENTS),
        "faults": [{"kind": "crash", "target": "#2", "at": 5.0}],
    },
    "hft": {
        "name": "hft",
        "title": "High-frequency: many small decisions against a tight budget",
        "description": (
            "Eight momentum traders over four symbols, one risk specialist and one executor. 50 "
            "decisions per second for 10 s against a 30 ms p95 budget (and deadline); the third "
            "trader's network is slowed by 40 ms from t=3 s for 4 s. Ramp: steps of 60 decisions at 50 .. 6400 "
            "per second."
        ),
        "agents": [
            *(_trader("momentum", s) for s in ("SPY", "QQQ", "AAPL", "TSLA", "SPY", "QQQ", "AAPL", "TSLA")),
            {"kind": "risk", "role": "risk", "name": "risk"},
            {"kind": "executor", "role": "executor", "name": "executor"},
        ],
        "faults": [{"kind": "net-delay", "target": "#3", "at": 3.0, "duration": 4.0, "delay_ms": 40.0}],
        "params": {
            "rate": 50.0,
            "duration_s": 10.0,
            "p95_budget_ms": 30.0,
            "deadline_ms": 30.0,
            "ramp": [50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 6400.0],
            "ramp_step_decisions": 60,
        },
    },
}
DEFAULT_WORKLOAD = "desk"


def named_workload(name: str) -> Workload:
    """A built-in workload by name. Raises ValueError naming the ones there are."""
    data = WORKLOADS.get(name)
    if data is None:
        raise ValueError(f"unknown workload {name!r} (choose from {', '.join(WORKLOADS)} or give a .toml file)")
    return parse_workload(data, name)


def scaled(workload: Workload, agents: int) -> Workload:
    """The same workload with ``agents`` agents in all: traders cycle through the workload's
    traders; the risk and executor agents stay. For cost curves (the benchmark)."""
    traders = [e for e in workload.agents if e.role == "trader"]
    others = [e for e in workload.agents if e.role != "trader"]
    n = max(1, agents - sum(e.count for e in others))
    picked = [traders[i % len(traders)].model_copy(update={"count": 1}) for i in range(n)]
    data = workload.model_dump()
    data["agents"] = [e.model_dump(exclude_none=True) for e in (*picked, *others)]
    return parse_workload(data, workload.name)


# -- the decision path of each topology --------------------------------------------------------------------
class DecisionPath:
    """How a decision's three steps (signal, risk check, fill) travel in one topology."""

    def __init__(self, ctx: ScenarioContext[WorkloadParams, Any], swarm: Swarm) -> None:
        self.ctx = ctx
        self.swarm = swarm
        self.kind = ctx.params.topology
        self.timeout = ctx.params.timeout_s

    def _live(self, agent_id: str) -> Agent:
        agent = self.swarm.agents.get(agent_id)
        if agent is None or not agent.live:
            raise RequestFailed("relay down", agent_id)
        return agent

    def _hub(self) -> Agent:
        hubs = self.swarm.live(role="hub")
        if not hubs:
            raise RequestFailed("no live hub")
        return hubs[0]

    def _coordinator(self, trader: Agent) -> Agent:
        nodes = self.swarm.topology.nodes
        traders = [n for n in nodes if self.swarm.topology.roles.get(n) == "trader"]
        coords = [n for n in nodes if self.swarm.topology.roles.get(n) == "coordinator"]
        if not coords:
            raise RequestFailed("no coordinator")
        team = traders.index(trader.id) // self.ctx.params.team_size if trader.id in traders else 0
        return self._live(coords[team % len(coords)])

    async def _forward(self, relay: Agent, to: Agent, src: str) -> None:
        await self.swarm.request(relay, "forward", {"to": to.id}, src=src, timeout=self.timeout)

    async def enter(self, trader: Agent) -> str:
        """Bring the decision to the trader; returns who asks the trader (the request's source)."""
        if self.kind == "star":
            hub = self._hub()
            await self._forward(hub, trader, CTL)
            return hub.id
        if self.kind == "hierarchical":
            coord = self._coordinator(trader)
            await self._forward(coord, trader, CTL)
            return coord.id
        return CTL

    async def hop(self, src: Agent, dst: Agent, asker: str) -> str:
        """Carry the decision from ``src`` (which holds it) to ``dst``; returns who asks ``dst``."""
        if self.kind == "mesh":
            return src.id
        if self.kind == "star":
            hub = self._hub()
            await self._forward(hub, dst, src.id)
            return hub.id
        if self.kind == "hierarchical":
            return asker  # the coordinator commands every step itself
        # ring: one way round, every agent in between relays
        topology = self.swarm.topology
        current = src.id
        for _ in range(len(topology)):
            nxt = topology.successor(current)
            if nxt is None:
                break
            if nxt == dst.id:
                return current
            relay = self._live(nxt)
            await self._forward(relay, dst, current)
            current = nxt
        raise RequestFailed("no way round the ring", dst.id)

    def gossip(self, trader: Agent, action: str) -> None:
        """Mesh: the decision is shared with the next ``fanout`` peers (one-way messages)."""
        if self.kind != "mesh" or not self.ctx.params.fanout:
            return
        peers = [n for n in self.swarm.topology.links(trader.id)]
        if not peers:
            return
        start = (sum(map(ord, trader.id)) + self.ctx.params.fanout) % len(peers)
        note = {"type": "tick", "prices": {}, "decision": action}
        for k in range(min(self.ctx.params.fanout, len(peers))):
            self.swarm.router.send(trader.id, peers[(start + k) % len(peers)], note)


@dataclass
class WorkloadState:
    """The run state of a workload run."""

    dispatcher: Dispatcher | None = None
    phase_tasks: dict[str, int] = field(default_factory=dict)
    phase_messages: dict[str, int] = field(default_factory=dict)
    ramp_p95: list[tuple[float, float]] = field(default_factory=list)
    saturation: float | None = None
    wrong: int = 0
    control_messages: int = 0


def _infrastructure(topology: str, traders: int, team_size: int) -> list[AgentSpec]:
    """The agents a topology adds to the workload's: a star's hub, a hierarchy's coordinators."""
    if topology == "star":
        return [AgentSpec(kind="hub", role="hub", name="hub")]
    if topology == "hierarchical":
        return [
            AgentSpec(kind="coordinator", role="coordinator", name="coord")
            for _ in range(math.ceil(traders / team_size))
        ]
    return []


class _StepP95:
    """p95 decision latency of the decisions submitted in a window (failures count as infinite)."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.end = math.inf
        self.latencies: list[float] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, TaskFinished) and self.start <= event.submitted < self.end:
            self.latencies.append(event.latency_ms if event.ok else math.inf)

    def p95(self) -> float:
        return percentile(self.latencies, 95) if self.latencies else math.inf


class WorkloadRun(Scenario[WorkloadParams, WorkloadState]):
    """One workload through one topology: the fault phase, then the saturation ramp."""

    id = "workload.run"
    pattern = "workload"
    title = "Workload"
    summary = "One workload through one topology: decisions under a fault schedule, then a load ramp."
    Params = WorkloadParams
    max_sim_s = 3600.0

    def __init__(self, params: Any = None, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self.topology = self.params.topology  # type: ignore[misc]

    def new_state(self) -> WorkloadState:
        return WorkloadState()

    def time_limit_s(self) -> float:
        prm = self.params
        return (
            120.0
            + prm.duration_s
            + prm.settle_s
            + sum(prm.ramp_step_decisions / x + prm.timeout_s * 4 for x in prm.ramp)
        )

    async def run(self, ctx: ScenarioContext[WorkloadParams, WorkloadState]) -> None:
        prm = ctx.params
        specs = agent_specs(prm.agents)
        traders = sum(1 for s in specs if s.role == "trader")
        specs += _infrastructure(prm.topology, traders, prm.team_size)
        swarm, _ = await launch(ctx, prm.topology, specs=specs, tick_s=prm.tick_s)
        st = ctx.state

        def count_control(agent: Agent, msg: dict[str, Any]) -> None:
            st.control_messages += 1

        swarm.on_agent_message(count_control)
        dispatcher = Dispatcher(
            swarm,
            LeastLoaded(),
            role="trader",
            capacity=4,
            timeout=prm.timeout_s,
            retries=prm.retries,
            send=self._sender(ctx, swarm),
            keep_records=False,
        )
        st.dispatcher = dispatcher
        await self._phase(ctx, swarm, dispatcher, "fault", prm.rate, prm.duration_s)
        await ctx.clock.sleep(prm.settle_s)
        budget = latency_budget_ms(ctx)
        for step, load in enumerate(prm.ramp, start=1):
            probe = _StepP95(ctx.clock.now())
            unsubscribe = ctx.bus.subscribe(probe)
            try:
                await self._phase(ctx, swarm, dispatcher, f"ramp-{step}", load, count=prm.ramp_step_decisions)
            finally:
                unsubscribe()
            p95 = probe.p95()
            st.ramp_p95.append((load, p95))
            if p95 > budget:
                st.saturation = load
                break
        ctx.observe(
            ramp_p95_ms=[[load, round(p, 3) if math.isfinite(p) else None] for load, p in st.ramp_p95],
            saturation_per_s=st.saturation,
            phase_tasks=dict(st.phase_tasks),
            phase_messages=dict(st.phase_messages),
            wrong_answers=st.wrong,
            budget_ms=budget,
            deadline_ms=prm.deadline_ms or 2 * budget,
        )

    async def _phase(
        self,
        ctx: ScenarioContext[WorkloadParams, WorkloadState],
        swarm: Swarm,
        dispatcher: Dispatcher,
        name: str,
        rate: float,
        duration: float | None = None,
        *,
        count: int = 0,
    ) -> None:
        """Open-loop (Poisson) decisions at ``rate``, for ``duration`` seconds or ``count`` decisions;
        waits for all of them to finish; counts the messages they took."""
        st = ctx.state
        start = ctx.clock.now()
        messages0 = swarm.router.total - st.control_messages
        ctx.note(PHASE_NOTE, phase=name, start=round(start, 6), rate=rate, duration=duration, count=count)
        spawned: list[asyncio.Task[Any]] = []
        if duration is not None:
            spawned = await open_loop(ctx, dispatcher, lambda t: rate, duration, lambda i: Task(op="decision"))
        else:
            for _ in range(count):
                await ctx.clock.sleep(ctx.rng.expovariate(rate))
                spawned.append(dispatcher.spawn(Task(op="decision")))
        await asyncio.gather(*spawned)
        st.phase_tasks[name] = len(spawned)
        st.phase_messages[name] = swarm.router.total - st.control_messages - messages0

    def _sender(
        self, ctx: ScenarioContext[WorkloadParams, WorkloadState], swarm: Swarm
    ) -> Callable[[Agent, Task], Any]:
        path = DecisionPath(ctx, swarm)
        timeout = ctx.params.timeout_s
        oracles: dict[str, AgentCore] = {}

        def honest(trader: Agent, data: dict[str, Any]) -> Any:
            key = repr((trader.kind, trader.spec.resolved_strategy, sorted(trader.spec.params.items())))
            oracle = oracles.get(key)
            if oracle is None:
                config = {"kind": trader.kind, "strategy": trader.spec.resolved_strategy, "params": trader.spec.params}
                oracle = oracles[key] = AgentCore(config, ctx.clock.now)
            reply = oracle.handle({"type": "task", "id": 0, "op": "signal", "data": data})
            return (reply or {}).get("value", {}).get("action")

        def pick(role: str) -> Agent | None:
            live = swarm.live(role=role)
            return min(live, key=lambda a: (a.inflight, a.tasks)) if live else None

        async def decide(trader: Agent, task: Task) -> Any:
            symbols = list(trader.spec.symbols) or ["SPY"]
            strategy = trader.spec.resolved_strategy
            data = signal_data(ctx, strategy, symbols)
            asker = await path.enter(trader)
            signal = await swarm.request(
                trader, "signal", data, cap=STRATEGY_CAPABILITY.get(strategy), src=asker, timeout=timeout
            )
            action = signal.get("action") if isinstance(signal, dict) else None
            if action != honest(trader, data):
                ctx.state.wrong += 1
                raise AgentError(f"wrong answer: {action!r}", trader.id)
            holder = trader
            side = action if action in (BUY, SELL) else BUY
            price = ctx.market.last.prices.get(symbols[0], 0.0) or 1.0
            risk = pick("risk")
            if risk is not None:
                asker = await path.hop(holder, risk, asker)
                order = {"symbol": symbols[0], "side": side, "qty": 10, "price": price}
                await swarm.request(
                    risk,
                    "risk_check",
                    {"order": order, "positions": {}, "limits": {"max_position": 1000}},
                    src=asker,
                    timeout=timeout,
                )
                holder = risk
            executor = pick("executor")
            if executor is not None:
                asker = await path.hop(holder, executor, asker)
                await swarm.request(
                    executor, "fill", {"side": side, "qty": 10, "price": price}, src=asker, timeout=timeout
                )
            path.gossip(trader, str(action))
            return signal

        return decide

    def checks(self, ctx: ScenarioContext[WorkloadParams, WorkloadState]) -> list[Check]:
        st = ctx.state
        summary = ctx.metrics.summary(ctx.clock.now())
        fault_tasks = st.phase_tasks.get("fault", 0)
        return [
            at_least("decisions made", summary["decisions"], 1, final_only=True),
            is_true(
                "every decision of the fault phase finished",
                fault_tasks > 0,
                "> 0 decisions",
                fault_tasks,
                final_only=True,
            ),
            is_true(
                "the ramp measured at least one step",
                bool(st.ramp_p95) or not ctx.params.ramp,
                ">= 1 step",
                len(st.ramp_p95),
                final_only=True,
            ),
        ]


def topology_scenario(workload: Workload, topology: str) -> WorkloadRun:
    """The scenario that runs ``workload`` through ``topology``."""
    if topology not in TOPOLOGIES:
        raise ScenarioError(f"unknown topology {topology!r}")
    scenario = WorkloadRun(
        workload.run_params(topology),
        faults=list(workload.faults),
        scenario_id=f"workload.{workload.name}.{topology}",
        title=f"{workload.title or workload.name} ({topology})",
    )
    scenario.topology = topology  # type: ignore[misc]
    return scenario


# -- the rollout comparison ------------------------------------------------------------------------------------
def _versions(settings: RolloutSettings, version: str, new_pool: str, old_pool: str, new_count: int) -> list[Any]:
    defect = settings.defect.model_dump() if version == "defective" else None
    base = {"kind": settings.kind, "symbol": settings.symbol, "role": "worker"}
    new: dict[str, Any] = {**base, "version": "v2", "pool": new_pool, "name": new_pool, "count": new_count}
    if defect is not None:
        new["defect"] = defect
    return [{**base, "version": "v1", "pool": old_pool, "name": old_pool, "count": settings.count}, new]


def rollout_scenario(workload: Workload, strategy: str, version: str) -> Scenario[Any, Any]:
    """A rollout of the new version (``sound`` or ``defective``) by ``strategy``.

    * all-at-once: every request moves to the new version in one step (the old version is kept
      warm behind the same health gate, so a bad version can be rolled back);
    * blue-green: traffic shifts 0 -> 25 -> 50 -> 75 -> 100 % with the health gate at each step;
    * canary: one canary agent at 5 -> 25 -> 50 -> 100 %, analysed against the stable pool at
      each step, then promoted (each stable agent replaced) or aborted.

    Same agents per version, same load, same defect. The scenarios are the catalogue's own
    blue-green and canary experiments with these agents.
    """
    if strategy not in ROLLOUT_STRATEGIES or version not in VERSIONS:
        raise ScenarioError(f"unknown rollout {strategy!r}/{version!r}")
    settings = workload.rollout
    sid = f"rollout.{workload.name}.{strategy}.{version}"
    common = {"rate": settings.rate, "tail_s": 1.0}
    if strategy == "canary":
        agents = _versions(settings, version, "canary", "stable", 1)
        return rollouts.CanaryRolloutScenario(
            {**common, "agents": agents}, scenario_id=sid, title=f"canary, {version} version"
        )
    agents = _versions(settings, version, "green", "blue", settings.count)
    steps = [100.0] if strategy == "all-at-once" else [0.0, 25.0, 50.0, 75.0, 100.0]
    return rollouts.TrafficShift(
        {**common, "agents": agents, "steps": steps, "warm_delay_s": 1.0},
        scenario_id=sid,
        title=f"{strategy}, {version} version",
    )


__all__ = [
    "DEFAULT_WORKLOAD",
    "PHASE_NOTE",
    "ROLLOUT_STRATEGIES",
    "VERSIONS",
    "WORKLOADS",
    "DecisionPath",
    "RolloutSettings",
    "Workload",
    "WorkloadParams",
    "WorkloadRun",
    "named_workload",
    "parse_workload",
    "rollout_scenario",
    "scaled",
    "topology_scenario",
]
