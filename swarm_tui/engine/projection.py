"""One projection of a swarm: what the dashboard shows, computed from the event stream alone.

:class:`SwarmProjection` is an event subscriber. Fed by the bus it follows a live run; fed the
events of a journal it rebuilds the same run, field for field, at any moment (the replay). It
holds the agents (state, sandbox, heartbeat age, tasks, errors, p95, CPU, memory, P&L), the
topology (links, roles, partitions, breakers), the rollout (step, weights, analysis, log), the
autoscaler, the checks so far, the charts' series (sampled once a second, when the engine's
``sample`` event arrives) and the event log. :meth:`SwarmProjection.view` freezes it into a
:class:`SwarmView` for a moment ``t``.

Nothing here reads engine objects: a view is a pure function of the events up to ``t``, which is
what lets a replay show exactly what the live run showed (a test compares them for every
scenario). Only the dots of messages in flight are a live overlay (the router's own record):
they are not events, and a replay shows none.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from swarm_tui.engine.events import (
    STATE_EVENTS,
    AgentStateChanged,
    AutoscalerStarted,
    BreakerTransition,
    ChecksEvaluated,
    Event,
    FailureDetected,
    LeaderChanged,
    PartitionChanged,
    RolloutState,
    RolloutStep,
    Sampled,
    ScalingDecision,
    ScenarioFinished,
    ScenarioStarted,
    SwarmCreated,
    TaskFinished,
    TaskRetried,
    TradeExecuted,
)
from swarm_tui.engine.metrics import percentile
from swarm_tui.engine.topology import TOPOLOGIES, Topology
from swarm_tui.engine.trading import PaperBroker

SERIES = ("agents", "load", "target", "vix", "p95_ms", "error_rate", "pnl")
SERIES_LEN = 120  # seconds of history the charts keep
EVENT_LINES = 2000  # lines of the log kept
LATENCIES_KEPT = 200  # per agent, for its p95
STOPPED_SHOWN_S = 10.0  # a stopped agent stays in the table this long
MEMBER_STATES = frozenset({"starting", "healthy", "degraded", "draining"})
LIVE_STATES = frozenset({"healthy", "degraded"})


# -- what a view holds ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AgentRow:
    """One agent as the table shows it. ``None`` where nothing was measured (the column hides)."""

    id: str
    role: str
    kind: str
    strategy: str
    version: str
    pool: str
    state: str
    sandbox: str
    last_heartbeat: float  # scenario time; the age is the view's t minus this
    tasks: int
    errors: int
    p95_ms: float | None
    cpu_pct: float | None
    mem_mb: float | None
    pnl: float | None
    program: str = "built-in"  # what the agent runs: "built-in" or a user's program ("node agent.js")


@dataclass(frozen=True, slots=True)
class TopologyView:
    kind: str
    nodes: tuple[str, ...]
    roles: tuple[str, ...]
    states: tuple[str, ...]
    pools: tuple[str, ...]
    broken: frozenset[tuple[str, str]] = frozenset()
    groups: tuple[tuple[str, ...], ...] = ()
    messages: tuple[tuple[str, str, float], ...] = ()  # (src, dst, age in s): a live overlay
    version: int = 0


@dataclass(frozen=True, slots=True)
class RolloutView:
    kind: str
    status: str
    step: int
    steps: int
    weights: dict[str, float]
    actual: dict[str, float]
    log: tuple[dict[str, Any], ...]
    plan: tuple[float, ...] = ()
    analysis: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CheckRow:
    name: str
    expected: str
    observed: str
    state: str  # pending | holding | failed while the run goes on; passed | failed at its end

    @property
    def passed(self) -> bool:
        return self.state in ("holding", "passed")


@dataclass(frozen=True, slots=True)
class EventLine:
    seq: int
    t: float
    kind: str
    text: str


@dataclass(frozen=True)
class SwarmView:
    """The projection frozen at a moment."""

    t: float
    agents: tuple[AgentRow, ...] = ()
    topology: TopologyView | None = None
    series: dict[str, tuple[float, ...]] = field(default_factory=dict)
    rollout: RolloutView | None = None
    checks: tuple[CheckRow, ...] = ()
    checks_final: bool = False
    events_total: int = 0
    autoscaler: dict[str, Any] | None = None
    heartbeat_s: float = 1.0
    error: str | None = None


@dataclass(frozen=True)
class Snapshot(SwarmView):
    """A view with the run around it: what the dashboard draws."""

    seq: int = 0
    status: str = "starting"  # starting | running | paused | done | error | stopped | incomplete
    speed: float = 1.0
    scenario: str = ""
    title: str = ""
    pattern: str = ""
    backend: str = ""
    run_id: str = ""
    total: float | None = None  # a replay: the recorded scenario time

    @classmethod
    def of(cls, view: SwarmView, **run: Any) -> Snapshot:
        fields = {name: getattr(view, name) for name in SwarmView.__dataclass_fields__}
        if run.get("error") is None:
            run.pop("error", None)
        return cls(**{**fields, **run})


# -- the projection ------------------------------------------------------------------------------------
def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _plain(value: Any) -> Any:
    """JSON's shape of a value (tuples as lists, keys as strings), so live and replay agree."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(slots=True)
class _Agent:
    id: str
    role: str
    kind: str
    strategy: str
    version: str
    pool: str
    state: str = ""
    sandbox: str = ""
    stopped_at: float | None = None
    last_heartbeat: float = 0.0
    tasks: int = 0
    errors: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCIES_KEPT))
    cpu: float | None = None
    mem: float | None = None
    program: str = "built-in"


@dataclass(slots=True)
class _Rollout:
    kind: str = ""
    status: str = ""
    step: int = 0
    steps: int = 0
    plan: tuple[float, ...] = ()
    weights: dict[str, float] = field(default_factory=dict)
    analysis: dict[str, Any] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)
    step_pools: dict[str, int] = field(default_factory=dict)  # requests per pool in the current step


class SwarmProjection:
    """Everything the dashboard shows of one scenario, kept up to date from its events."""

    def __init__(self, topology: str = "mesh") -> None:
        self.topology = Topology(topology if topology in TOPOLOGIES else "mesh")
        self.heartbeat_s = 1.0
        self.agents: dict[str, _Agent] = {}
        self.members = 0
        self.breakers: dict[str, str] = {}
        self.groups: tuple[tuple[str, ...], ...] = ()
        self.books = PaperBroker()  # per trading book (strategy)
        self.agent_books = PaperBroker()  # the same fills per agent
        self.marks: dict[str, float] = {}
        self.vix: float | None = None
        self.scaling: ScalingDecision | None = None
        self.scaler: dict[str, Any] | None = None
        self.rollout: _Rollout | None = None
        self.checks: tuple[CheckRow, ...] = ()
        self.checks_final = False
        self.error: str | None = None
        self.series: dict[str, deque[float]] = {k: deque(maxlen=SERIES_LEN) for k in SERIES}
        self.recent: deque[tuple[float, float, bool]] = deque()  # (t, latency ms, ok) of the last second
        self.lines: deque[EventLine] = deque(maxlen=EVENT_LINES)
        self.line_seq = 0
        self.t = 0.0
        self.index = 0  # events applied
        self._view_version = 0
        self._rows_version = 0
        self._rows_cache: tuple[tuple[int, float], tuple[AgentRow, ...]] | None = None
        self._view_cache: tuple[tuple[int, int], TopologyView] | None = None

    # -- feeding it -------------------------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        self.index += 1
        self.t = max(self.t, event.t)
        handler = self._HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)
        self._line(event)

    def _line(self, event: Event) -> None:
        if event.kind in STATE_EVENTS or (isinstance(event, TaskFinished) and event.ok and event.outcome == "ok"):
            return  # routine: counted in the charts and the table, not a line in the log
        try:
            text = event.describe()
            if isinstance(event, BreakerTransition) and str(event.new).upper() == "CLOSED":
                # The failure figures describe the window that opened the breaker: stale here.
                text = f"breaker {event.breaker}: {event.old} -> {event.new} (the probes succeeded)"
        except (TypeError, ValueError, AttributeError, KeyError, IndexError):
            text = event.kind  # a damaged line from a journal still shows
        self.line_seq += 1
        self.lines.append(EventLine(self.line_seq, event.t, event.kind, text))

    def _started(self, ev: ScenarioStarted) -> None:
        if not self.agents and isinstance(ev.topology, str) and ev.topology in TOPOLOGIES:
            self.topology = Topology(ev.topology)
            self._view_version += 1

    def _swarm(self, ev: SwarmCreated) -> None:
        if not self.agents and isinstance(ev.topology, str) and ev.topology in TOPOLOGIES:
            self.topology = Topology(ev.topology)
            self._view_version += 1
        hb = _num(ev.heartbeat_s)
        if hb is not None and hb > 0:
            self.heartbeat_s = hb

    def _agent_state(self, ev: AgentStateChanged) -> None:
        topo = self.topology
        agent_id, new = str(ev.agent), str(ev.new)
        agent = self.agents.get(agent_id)
        if agent is None:
            kind = str(ev.agent_kind or agent_id.rsplit("-", 1)[0])
            agent = _Agent(
                agent_id,
                str(ev.role or "worker"),
                kind,
                str(ev.strategy or ""),
                str(ev.version or "v1"),
                str(ev.pool or "stable"),
                last_heartbeat=ev.t,
            )
            self.agents[agent_id] = agent
            reason = str(ev.reason)
            replaced = reason[len("replaces ") :] if reason.startswith("replaces ") else ""
            if replaced and replaced in topo:
                topo.replace(replaced, agent_id)  # the newcomer takes the failed agent's place
            else:
                topo.add(agent_id, agent.role)
        old = agent.state
        agent.state = new
        for name in ("role", "version", "pool", "sandbox", "program"):
            value = getattr(ev, name, "")
            if value and isinstance(value, str):
                setattr(agent, name, value)
        if old == "starting" and new in LIVE_STATES:
            agent.last_heartbeat = ev.t  # its hello
        self.members += (new in MEMBER_STATES) - (old in MEMBER_STATES)
        if new == "stopped":
            agent.stopped_at = ev.t
            topo.remove(agent_id)
        self._view_version += 1
        self._rows_version += 1

    def _task(self, ev: TaskFinished) -> None:
        agent = self.agents.get(ev.agent) if ev.agent else None
        latency = _num(ev.latency_ms)
        if agent is not None:
            agent.tasks += 1
            if ev.ok:
                service = _num(ev.service_ms)
                value = service if service is not None else latency
                if value is not None:
                    agent.latencies.append(value)
            else:
                agent.errors += 1
            self._rows_version += 1
        self.recent.append((ev.t, latency if latency is not None else 0.0, bool(ev.ok)))
        rollout = self.rollout
        pool = ev.pool or (agent.pool if agent is not None else "")
        if rollout is not None and pool:
            rollout.step_pools[pool] = rollout.step_pools.get(pool, 0) + 1

    def _retried(self, ev: TaskRetried) -> None:
        agent = self.agents.get(ev.agent)
        if agent is not None:
            agent.errors += 1  # the attempt failed there; the task went on elsewhere
            self._rows_version += 1

    def _failure(self, ev: FailureDetected) -> None:
        agent = self.agents.get(ev.agent)
        silent = _num(ev.silent_s)
        if agent is not None and silent is not None:
            agent.last_heartbeat = max(0.0, ev.t - silent)
            self._rows_version += 1

    def _leader(self, ev: LeaderChanged) -> None:
        topo = self.topology
        if ev.new and ev.new in topo and ev.role:
            topo.set_role(ev.new, str(ev.role))
        if ev.old and ev.old != ev.new and ev.old in topo and ev.role == "hub":
            topo.set_role(ev.old, "standby")  # fenced: a lease handover demotes the old holder
        self._view_version += 1

    def _breaker(self, ev: BreakerTransition) -> None:
        self.breakers[str(ev.breaker)] = str(ev.new)
        self._view_version += 1

    def _partition(self, ev: PartitionChanged) -> None:
        groups = ev.groups if isinstance(ev.groups, list | tuple) else []
        self.groups = tuple(tuple(str(x) for x in g) for g in groups if isinstance(g, list | tuple) and g)
        self._view_version += 1

    def _trade(self, ev: TradeExecuted) -> None:
        qty, price, fee = _num(ev.qty), _num(ev.price), _num(ev.fee)
        if qty is None or price is None or not ev.symbol:
            return
        symbol, side = str(ev.symbol), str(ev.side)
        self.books.book(str(ev.strategy or ev.agent)).apply_fill(symbol, side, qty, price, fee or 0.0)
        self.agent_books.book(str(ev.agent)).apply_fill(symbol, side, qty, price, fee or 0.0)
        self.marks[symbol] = price
        self._rows_version += 1

    def _scaling(self, ev: ScalingDecision) -> None:
        self.scaling = ev

    def _scaler_started(self, ev: AutoscalerStarted) -> None:
        self.scaler = {
            "metric": str(ev.metric),
            "target": _num(ev.target) or 0.0,
            "min": int(ev.min_replicas),
            "max": int(ev.max_replicas),
        }

    def _rollout_state(self, ev: RolloutState) -> None:
        r = self.rollout
        if r is None:
            r = self.rollout = _Rollout(kind=str(ev.rollout))
        if int(ev.step) != r.step:
            r.step_pools = {}
        r.kind = str(ev.rollout) or r.kind
        r.status = str(ev.status)
        r.step = int(ev.step)
        r.steps = int(ev.steps)
        r.plan = tuple(float(x) for x in ev.plan if _num(x) is not None)
        r.weights = {str(k): float(v) for k, v in ev.weights.items() if _num(v) is not None}
        r.analysis = _plain(ev.analysis) if isinstance(ev.analysis, dict) else {}

    def _rollout_step(self, ev: RolloutStep) -> None:
        r = self.rollout
        if r is None:
            r = self.rollout = _Rollout(kind=str(ev.rollout), steps=int(ev.steps))
        analysis = _plain(ev.analysis) if isinstance(ev.analysis, dict) else {}
        r.log.append(
            {
                "step": int(_num(ev.step) or 0),
                "target": _num(ev.target_weight) or 0.0,
                "actual": _num(ev.actual_weight) or 0.0,
                "analysis": analysis,
                "decision": str(ev.decision),
                "t": round(ev.t, 4),
            }
        )

    def _checks(self, ev: ChecksEvaluated) -> None:
        if self.checks_final:
            return
        self.checks = tuple(
            CheckRow(
                str(c.get("name", "")),
                str(c.get("expected", "")),
                str(c.get("observed", "")),
                str(c.get("state", "failed")),
            )
            for c in ev.checks
            if isinstance(c, dict)
        )

    def _finished(self, ev: ScenarioFinished) -> None:
        result = ev.result if isinstance(ev.result, dict) else {}
        checks = result.get("checks")
        self.checks = tuple(
            CheckRow(
                str(c.get("name", "")),
                str(c.get("expected", "")),
                str(c.get("observed", "")),
                "passed" if c.get("passed") else "failed",
            )
            for c in (checks if isinstance(checks, list) else [])
            if isinstance(c, dict)
        )
        self.checks_final = True
        error = result.get("error")
        self.error = str(error) if error else None

    def _sampled(self, ev: Sampled) -> None:
        for agent_id, reading in ev.agents.items() if isinstance(ev.agents, dict) else ():
            agent = self.agents.get(agent_id)
            if agent is not None and isinstance(reading, list | tuple) and len(reading) == 2:
                agent.cpu, agent.mem = _num(reading[0]), _num(reading[1])
        late = ev.late if isinstance(ev.late, dict) else {}
        for agent in self.agents.values():
            if agent.state in MEMBER_STATES and agent.state != "starting":
                silent = _num(late.get(agent.id))
                agent.last_heartbeat = ev.t - silent if silent is not None else max(agent.last_heartbeat, ev.t)
        vix = _num(ev.vix)
        if vix is not None:
            self.vix = vix
        for symbol, price in ev.prices.items() if isinstance(ev.prices, dict) else ():
            value = _num(price)
            if value is not None:
                self.marks[str(symbol)] = value
        self._rows_version += 1
        self._sample_series(ev.t)

    def _sample_series(self, now: float) -> None:
        recent = self.recent
        while recent and recent[0][0] < now - 1.0:
            recent.popleft()
        scaler = self.scaler
        target = float(scaler["target"]) * self.members if scaler and str(scaler["metric"]).startswith("tasks") else 0.0
        ok = [ms for _t, ms, good in recent if good]
        values = {
            "agents": float(self.members),
            "load": float(len(recent)),
            "target": target,
            "vix": self.vix if self.vix is not None else 0.0,
            "p95_ms": percentile(ok, 95) if ok else 0.0,
            "error_rate": (sum(1 for *_x, good in recent if not good) / len(recent)) if recent else 0.0,
            "pnl": self.total_pnl(),
        }
        for key, value in values.items():
            self.series[key].append(value if math.isfinite(value) else 0.0)

    _HANDLERS: dict[type, Any] = {
        ScenarioStarted: _started,
        SwarmCreated: _swarm,
        AgentStateChanged: _agent_state,
        TaskFinished: _task,
        TaskRetried: _retried,
        FailureDetected: _failure,
        LeaderChanged: _leader,
        BreakerTransition: _breaker,
        PartitionChanged: _partition,
        TradeExecuted: _trade,
        ScalingDecision: _scaling,
        AutoscalerStarted: _scaler_started,
        RolloutState: _rollout_state,
        RolloutStep: _rollout_step,
        ChecksEvaluated: _checks,
        ScenarioFinished: _finished,
        Sampled: _sampled,
    }

    # -- reading it --------------------------------------------------------------------------------
    def total_pnl(self) -> float:
        return float(sum(b.pnl(self.marks) for b in self.books.books.values()))

    def lines_since(self, seq: int) -> list[EventLine]:
        """Log lines newer than ``seq`` (the last EVENT_LINES at most)."""
        if not self.lines or self.lines[-1].seq <= seq:
            return []
        return [line for line in self.lines if line.seq > seq]

    def rows(self, t: float) -> tuple[AgentRow, ...]:
        key = (self._rows_version, t)
        if self._rows_cache is not None and self._rows_cache[0] == key:
            return self._rows_cache[1]
        books = self.agent_books.books
        out = []
        for a in self.agents.values():
            if a.state == "stopped" and (a.stopped_at is None or t - a.stopped_at > STOPPED_SHOWN_S):
                continue
            book = books.get(a.id)
            out.append(
                AgentRow(
                    id=a.id,
                    role=a.role,
                    kind=a.kind,
                    strategy=a.strategy,
                    version=a.version,
                    pool=a.pool,
                    state=a.state,
                    sandbox=a.sandbox,
                    last_heartbeat=a.last_heartbeat,
                    tasks=a.tasks,
                    errors=a.errors,
                    p95_ms=round(percentile(list(a.latencies), 95), 1) if a.latencies else None,
                    cpu_pct=a.cpu,
                    mem_mb=a.mem,
                    pnl=round(book.pnl(self.marks), 2) if book is not None else None,
                    program=a.program,
                )
            )
        rows = tuple(out)
        self._rows_cache = (key, rows)
        return rows

    def topology_view(self) -> TopologyView:
        topo = self.topology
        key = (self._view_version, topo.version)
        if self._view_cache is not None and self._view_cache[0] == key:
            return self._view_cache[1]
        nodes = tuple(topo.nodes)
        agents = self.agents
        broken = set()
        for name, state in self.breakers.items():
            if state.upper() != "CLOSED" and "->" in name:
                a, b = name.split("->", 1)
                broken.add((a, b))
        view = TopologyView(
            kind=topo.kind,
            nodes=nodes,
            roles=tuple(topo.roles.get(n, "agent") for n in nodes),
            states=tuple(agents[n].state if n in agents else "stopped" for n in nodes),
            pools=tuple(agents[n].pool if n in agents else "stable" for n in nodes),
            broken=frozenset(broken),
            groups=self.groups,
            version=topo.version,
        )
        self._view_cache = (key, view)
        return view

    def rollout_view(self) -> RolloutView | None:
        r = self.rollout
        if r is None:
            return None
        total = sum(r.step_pools.values())
        actual = {k: round(100.0 * v / total, 1) for k, v in sorted(r.step_pools.items())} if total else {}
        return RolloutView(
            kind=r.kind,
            status=r.status,
            step=r.step,
            steps=r.steps,
            weights=dict(r.weights),
            actual=actual,
            log=tuple(copy.deepcopy(x) for x in r.log),
            plan=r.plan,
            analysis=copy.deepcopy(r.analysis),
        )

    def autoscaler_view(self) -> dict[str, Any] | None:
        if self.scaler is None:
            return None
        last = self.scaling
        try:
            text = last.describe() if last is not None else ""
        except (TypeError, ValueError):
            text = ""
        return {**self.scaler, "last": text, "desired": int(last.desired) if last is not None else None}

    def view(self, t: float | None = None, *, rows: tuple[AgentRow, ...] | None = None) -> SwarmView:
        """The projection at scenario time ``t`` (default: its last event). ``rows`` reuses rows
        built earlier (a dashboard refreshing the table less often than the rest)."""
        t = self.t if t is None else t
        return SwarmView(
            t=t,
            agents=rows if rows is not None else self.rows(t),
            topology=self.topology_view(),
            series={k: tuple(v) for k, v in self.series.items()},
            rollout=self.rollout_view(),
            checks=self.checks,
            checks_final=self.checks_final,
            events_total=self.line_seq,
            autoscaler=self.autoscaler_view(),
            heartbeat_s=self.heartbeat_s,
            error=self.error,
        )

    def clone(self) -> SwarmProjection:
        """An independent copy (a replay keeps one every so many events, to seek quickly)."""
        other = copy.copy(self)
        topo = Topology(self.topology.kind, list(self.topology.nodes), dict(self.topology.roles))
        topo.version = self.topology.version
        other.topology = topo
        other.agents = {
            k: replace(a, latencies=deque(a.latencies, maxlen=LATENCIES_KEPT)) for k, a in self.agents.items()
        }
        other.breakers = dict(self.breakers)
        other.books = copy.deepcopy(self.books)
        other.agent_books = copy.deepcopy(self.agent_books)
        other.marks = dict(self.marks)
        other.scaler = dict(self.scaler) if self.scaler is not None else None
        other.rollout = copy.deepcopy(self.rollout)
        other.series = {k: deque(v, maxlen=SERIES_LEN) for k, v in self.series.items()}
        other.recent = deque(self.recent)
        other.lines = deque(self.lines, maxlen=EVENT_LINES)
        other._rows_cache = None
        other._view_cache = None
        return other


def with_messages(view: TopologyView, messages: tuple[tuple[str, str, float], ...]) -> TopologyView:
    """The topology with the live overlay of messages in flight."""
    return replace(view, messages=messages)
