"""A recorded run played back: the dashboard's picture of a scenario, rebuilt from its journal.

:class:`ReplayRun` offers what the dashboard uses of :class:`~swarm_tui.engine.live.LiveRun`
(status, the latest :class:`~swarm_tui.engine.live.Snapshot`, event lines, pause, speed), plus
:meth:`ReplayRun.seek`. Nothing runs: a clock (wall time x speed, pausable) gives the scenario
time to show, and the state at that time is a pure function of the journal's events up to it
(agents from ``agent_state`` and ``task`` events, the topology by the same rules the engine
applies, series sampled once per second of scenario time as the live sampler does, rollout
steps, the log) and, at the end, the checks of the ``scenario_finished`` result.

Seeking is cheap: one pass over the journal at open builds the series and keeps a copy of the
state every ``checkpoint_every`` events; a seek restores the nearest copy before the target and
applies the events in between. Playing forward only applies the events since the last look.

What a journal does not hold is shown as the engine's best inference or left out: heartbeats
(an agent's heartbeat age is 0 while it is live, and the real silence before a detected
failure), CPU and memory (0), message dots, the VIX (only where a scaling decision recorded
it), P&L marked at the last traded price, and the so-far checks (the checks appear at the end).
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import dataclasses
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from swarm_tui.engine.events import (
    EVENT_TYPES,
    AgentStateChanged,
    BreakerTransition,
    Event,
    FailureDetected,
    LeaderChanged,
    PartitionChanged,
    RolloutStep,
    ScalingDecision,
    TaskFinished,
    TradeExecuted,
    event_from_dict,
)
from swarm_tui.engine.live import (
    SERIES,
    SERIES_LEN,
    SPEEDS,
    AgentRow,
    CheckRow,
    EventLine,
    RolloutView,
    Snapshot,
    TopologyView,
)
from swarm_tui.engine.metrics import percentile
from swarm_tui.engine.topology import TOPOLOGIES, Topology
from swarm_tui.engine.trading import PaperBroker

if TYPE_CHECKING:
    from swarm_tui.results.journal import Journal

READ_ONLY = "replay is read-only"
MEMBER_STATES = frozenset({"starting", "healthy", "degraded", "draining"})
LIVE_STATES = frozenset({"healthy", "degraded"})
ROWS_EVERY_S = 0.25  # agent rows are rebuilt at most this often (wall time) while playing
CHECKPOINT_EVERY = 2000
LATENCIES_KEPT = 200  # per agent, as the engine keeps them
EVENT_LIMIT = 2000  # event lines handed out at once (the events panel keeps as many)


class ReplayError(ValueError):
    """A journal that cannot be replayed: one line for the user."""


@dataclass(frozen=True)
class ReplaySnapshot(Snapshot):
    """A snapshot of a replay: also where it stands in the recording."""

    total: float = 0.0  # the recorded scenario time


@dataclass(slots=True)
class _Agent:
    id: str
    role: str
    kind: str
    strategy: str
    version: str
    pool: str
    state: str
    sandbox: str = ""
    created: float = 0.0
    stopped_at: float | None = None
    silent_from: float | None = None  # its last heartbeat, once a detector said how long it was silent
    last_seen: float = 0.0
    tasks: int = 0
    errors: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCIES_KEPT))

    def clone(self) -> _Agent:
        return _Agent(
            self.id,
            self.role,
            self.kind,
            self.strategy,
            self.version,
            self.pool,
            self.state,
            self.sandbox,
            self.created,
            self.stopped_at,
            self.silent_from,
            self.last_seen,
            self.tasks,
            self.errors,
            deque(self.latencies, maxlen=LATENCIES_KEPT),
        )


@dataclass(slots=True)
class _State:
    """Everything a snapshot shows, after the first ``index`` events of the scenario."""

    topology: Topology
    index: int = 0
    agents: dict[str, _Agent] = field(default_factory=dict)
    members: int = 0
    breakers: dict[str, str] = field(default_factory=dict)
    groups: tuple[tuple[str, ...], ...] = ()
    broker: PaperBroker = field(default_factory=PaperBroker)
    marks: dict[str, float] = field(default_factory=dict)
    scaling: ScalingDecision | None = None
    rollout_n: int = 0  # rollout steps logged so far
    step_pools: dict[str, int] = field(default_factory=dict)  # tasks per pool in the current rollout step
    view_version: int = 0  # bumped whenever the topology view would change
    rows_version: int = 0  # bumped whenever an agent row would change

    def clone(self) -> _State:
        topo = Topology(self.topology.kind, list(self.topology.nodes), dict(self.topology.roles))
        topo.version = self.topology.version
        return _State(
            topo,
            self.index,
            {k: a.clone() for k, a in self.agents.items()},
            self.members,
            dict(self.breakers),
            self.groups,
            copy.deepcopy(self.broker),
            dict(self.marks),
            self.scaling,
            self.rollout_n,
            dict(self.step_pools),
            self.view_version,
            self.rows_version,
        )


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


_FIELDS: dict[type[Event], frozenset[str]] = {}


def _event(record: dict[str, Any]) -> Event:
    """:func:`event_from_dict`, with each event type's field names looked up once (a journal has many)."""
    cls = EVENT_TYPES.get(record.get("kind")) if isinstance(record.get("kind"), str) else None
    if cls is None:
        return event_from_dict(record)  # says what is wrong with it
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = frozenset(f.name for f in dataclasses.fields(cls))
    return cls(**{k: v for k, v in record.items() if k in names})


def _pick(journal: Journal, scenario: str | None) -> tuple[str, list[dict[str, Any]]]:
    runs = list(journal.by_scenario())
    if not runs:
        raise ReplayError(f"{journal.path}: no scenario in this journal (the run ended before one started)")
    if scenario is None:
        return runs[0]
    for name, records in runs:
        if name == scenario:
            return name, records
    names = ", ".join(dict.fromkeys(name for name, _ in runs))
    raise ReplayError(f"{journal.path}: no scenario {scenario!r} in this journal (it holds: {names})")


def _topology_kind(started: dict[str, Any], finished: dict[str, Any] | None) -> str:
    """The recorded swarm's topology: from the journal if it says, else the scenario's declared one."""
    declared = started.get("topology")
    if isinstance(declared, str) and declared in TOPOLOGIES:
        return declared
    pattern = str(started.get("pattern", ""))
    kind = pattern if pattern in TOPOLOGIES else "mesh"
    try:
        from swarm_tui.patterns import REGISTRY

        cls = REGISTRY.get(str(started.get("scenario", "")))
    except Exception:  # pragma: no cover - the catalogue failed to import: fall back on the pattern
        cls = None
    if cls is not None and getattr(cls, "topology", None) in TOPOLOGIES:
        kind = cls.topology
    mechanisms = (finished or {}).get("mechanisms")
    if kind == "hierarchical" and isinstance(mechanisms, dict) and mechanisms.get("hierarchy") is False:
        kind = "mesh"  # the hierarchical scenarios run flat with --off hierarchy
    return kind


def _agent_kinds(params: Any) -> dict[str, tuple[str, str]]:
    """Agent id prefix -> (kind, strategy), from the scenario's recorded agent parameters."""
    from swarm_tui.agent.kinds import DEFAULT_STRATEGY

    out: dict[str, tuple[str, str]] = {}
    entries = params.get("agents") if isinstance(params, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str):
            continue
        kind = entry["kind"]
        prefix = str(entry.get("name") or kind)
        strategy = entry.get("strategy") or DEFAULT_STRATEGY.get(kind, "compute")
        out.setdefault(prefix, (kind, str(strategy)))
    return out


def _log_entry(ev: RolloutStep) -> dict[str, Any]:
    """A rollout step as the rollout panel shows it, with the fields it reads made safe."""
    analysis = ev.analysis if isinstance(ev.analysis, dict) else {}
    measurements = []
    for m in analysis.get("measurements", []) if isinstance(analysis.get("measurements"), list) else []:
        if (
            isinstance(m, dict)
            and _finite(m.get("value")) is not None
            and _finite(m.get("threshold")) is not None
            and isinstance(m.get("op"), str)
        ):
            measurements.append({**m, "name": str(m.get("name", "")), "passed": bool(m.get("passed"))})
    analysis = {k: v for k, v in analysis.items() if k not in ("measurements", "green_error_rate")}
    if measurements:
        analysis["measurements"] = measurements
    raw = ev.analysis if isinstance(ev.analysis, dict) else {}
    gate = (_finite(raw.get("green_error_rate")), _finite(raw.get("max_error_rate")))
    if gate[0] is not None and gate[1] is not None:
        analysis["green_error_rate"], analysis["max_error_rate"] = gate
        analysis["green_requests"] = raw.get("green_requests", 0)
    return {
        "step": int(_finite(ev.step) or 0),
        "target": _finite(ev.target_weight) or 0.0,
        "actual": _finite(ev.actual_weight) or 0.0,
        "analysis": analysis,
        "decision": str(ev.decision),
        "t": round(ev.t, 4),
    }


class ReplayRun:
    """One recorded scenario, played back for the dashboard (read-only)."""

    virtual = True  # its clock is ours to pace: pause, speed and seek all work

    def __init__(
        self,
        journal: Journal,
        scenario: str | None = None,
        *,
        speed: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        checkpoint_every: int = CHECKPOINT_EVERY,
    ) -> None:
        if not math.isfinite(speed) or speed <= 0:
            raise ReplayError(f"speed must be a positive number, got {speed!r}")
        self.journal = journal
        name, records = _pick(journal, scenario)
        self.scenario_id = name
        started = records[0]
        self.title = str(started.get("title", ""))
        self.pattern = str(started.get("pattern", ""))
        self.backend_name = str(started.get("backend") or journal.header.get("backend") or "")
        seed = started.get("seed", journal.header.get("seed"))
        self.seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else None
        self.run_id = journal.run_id
        self.params = started.get("params") if isinstance(started.get("params"), dict) else {}
        self.notes: list[str] = list(journal.notes)
        self._kinds = _agent_kinds(self.params)
        self._events, self._times, skipped = self._parse(records)
        if skipped:
            self.notes.append(f"{name}: {skipped} event line(s) with bad fields were ignored")
        last = self._events[-1] if self._events else None
        finished = last if last is not None and last.kind == "scenario_finished" else None
        self.result: dict[str, Any] | None = None
        if finished is not None and isinstance(getattr(finished, "result", None), dict):
            self.result = finished.result  # type: ignore[union-attr]
        self.finished = finished is not None
        self.recorded_status = str(getattr(finished, "status", "")) if finished is not None else "incomplete"
        self.total = self._times[-1] if self._times else 0.0
        self.kind = _topology_kind(started, self.result)
        self.checkpoint_every = max(1, checkpoint_every)
        self._clock = clock
        self.speed = float(speed)
        self._paused = False
        self._started = False  # the clock stands at 0 until start() (the dashboard starts it once it is up)
        self._base_t = 0.0
        self._base_wall = clock()
        self.status = "running"
        self.error: str | None = None
        self.latest: Snapshot | None = None
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._snap_seq = 0
        self._snap_key: tuple[Any, ...] | None = None
        self._rows: tuple[AgentRow, ...] = ()
        self._rows_key: tuple[Any, ...] | None = None
        self._rows_at = -1e9
        self._view: TopologyView | None = None
        self._view_key: tuple[Any, ...] | None = None
        self._force_rows = True
        self.seeks = 0  # how many times it jumped (a view of the log starts over after each)
        self._lookahead()
        self._lines, self._line_at = self._event_lines()
        self._checkpoints: list[_State] = []
        self._series: dict[str, list[float]] = {k: [] for k in SERIES}
        self._index()
        self._state = self._checkpoints[0].clone()
        self._checks = self._final_checks()
        self.request_snapshot()

    # -- reading the journal --------------------------------------------------------------------
    @staticmethod
    def _parse(records: list[dict[str, Any]]) -> tuple[list[Event], list[float], int]:
        events: list[Event] = []
        times: list[float] = []
        skipped = 0
        latest = 0.0
        for record in records:
            t = _finite(record.get("t"))
            if t is None or t < 0:
                skipped += 1
                continue
            try:
                event = _event(record)
            except (TypeError, ValueError, KeyError):
                skipped += 1
                continue
            latest = max(latest, t)  # time never runs backwards, even in a damaged journal
            event.t = latest
            events.append(event)
            times.append(latest)
        return events, times, skipped

    def _lookahead(self) -> None:
        """Facts of the recording that hold for the whole run: sandboxes, silences, the plans."""
        self._sandbox: dict[str, str] = {}
        self._silent: dict[str, float] = {}
        self._plan: dict[int, float] = {}
        self._rollout_kind = ""
        self._rollout_steps = 0
        self._scaler: tuple[str, float] | None = None
        self._rollout_log: list[dict[str, Any]] = []
        for ev in self._events:
            if isinstance(ev, AgentStateChanged) and ev.sandbox and isinstance(ev.sandbox, str):
                self._sandbox.setdefault(str(ev.agent), ev.sandbox)
            elif isinstance(ev, FailureDetected):
                silent = _finite(ev.silent_s)
                if silent is not None:
                    self._silent.setdefault(str(ev.agent), max(0.0, ev.t - silent))
            elif isinstance(ev, RolloutStep):
                try:
                    entry = _log_entry(ev)
                except (TypeError, ValueError):
                    continue
                self._rollout_log.append(entry)
                self._rollout_kind = self._rollout_kind or str(ev.rollout)
                self._rollout_steps = self._rollout_steps or int(_finite(ev.steps) or 0)
                self._plan.setdefault(entry["step"], entry["target"])
            elif isinstance(ev, ScalingDecision) and self._scaler is None:
                target = _finite(ev.target)
                if target is not None:
                    self._scaler = (str(ev.metric), target)
        steps = self.params.get("steps")
        if self._rollout_kind and isinstance(steps, list):
            for i, target in enumerate(steps, start=1):
                value = _finite(target)
                if value is not None:
                    self._plan.setdefault(i, value)
            self._rollout_steps = self._rollout_steps or len(steps)

    def _event_lines(self) -> tuple[list[EventLine], list[int]]:
        """Every line of the log (routine successful tasks are not lines), and the event it follows."""
        lines: list[EventLine] = []
        at: list[int] = []
        for i, ev in enumerate(self._events):
            if isinstance(ev, TaskFinished) and ev.ok and ev.outcome == "ok":
                continue
            try:
                text = ev.describe()
            except (TypeError, ValueError, AttributeError, KeyError, IndexError):
                text = ev.kind
            lines.append(EventLine(len(lines) + 1, ev.t, ev.kind, text))
            at.append(i)
        end = len(self._events)
        if not self.finished:
            for note in [f"incomplete: the recording ends at t={self.total:.2f} s", *self.notes]:
                lines.append(EventLine(len(lines) + 1, self.total, "note", note))
                at.append(end - 1 if end else 0)
        return lines, at

    def _index(self) -> None:
        """One pass over the events: the per-second series and a checkpoint every so many events."""
        state = _State(Topology(self.kind))
        self._checkpoints.append(state.clone())
        recent: deque[tuple[float, float, bool]] = deque()
        series = self._series
        second = 1
        for i, ev in enumerate(self._events):
            while ev.t > second:
                self._sample(state, recent, second, series)
                second += 1
            self._apply(state, ev)
            state.index = i + 1
            if isinstance(ev, TaskFinished):
                latency = _finite(ev.latency_ms)
                recent.append((ev.t, latency if latency is not None else 0.0, bool(ev.ok)))
            if state.index % self.checkpoint_every == 0:
                self._checkpoints.append(state.clone())
        while second <= self.total:
            self._sample(state, recent, second, series)
            second += 1

    def _sample(
        self, state: _State, recent: deque[tuple[float, float, bool]], now: float, series: dict[str, list[float]]
    ) -> None:
        """What the live sampler records each second of scenario time."""
        while recent and recent[0][0] < now - 1.0:
            recent.popleft()
        members = state.members
        scaler = self._scaler
        target = scaler[1] * members if scaler is not None and scaler[0].startswith("tasks") else 0.0
        vix = 0.0
        if state.scaling is not None and isinstance(state.scaling.inputs, dict):
            vix = _finite(state.scaling.inputs.get("vix")) or 0.0
        ok = [ms for _t, ms, good in recent if good]
        values = {
            "agents": float(members),
            "load": float(len(recent)),
            "target": float(target),
            "vix": vix,
            "p95_ms": percentile(ok, 95) if ok else 0.0,
            "error_rate": (sum(1 for *_x, good in recent if not good) / len(recent)) if recent else 0.0,
            "pnl": self._pnl(state),
        }
        for key, value in values.items():
            series[key].append(value if math.isfinite(value) else 0.0)

    @staticmethod
    def _pnl(state: _State, agent: str | None = None) -> float:
        books = state.broker.books
        if agent is not None:
            book = books.get(agent)
            return book.pnl(state.marks) if book is not None else 0.0
        return float(sum(b.pnl(state.marks) for b in books.values()))

    # -- the events' effect ------------------------------------------------------------------------
    def _apply(self, s: _State, ev: Event) -> None:
        # A damaged line changes nothing (it still shows in the log).
        with contextlib.suppress(TypeError, ValueError, AttributeError, KeyError, ZeroDivisionError):
            self._apply_one(s, ev)

    def _apply_one(self, s: _State, ev: Event) -> None:
        if isinstance(ev, TaskFinished):
            agent = s.agents.get(ev.agent) if ev.agent else None
            if agent is not None:
                agent.tasks += 1
                agent.last_seen = ev.t
                if ev.ok:
                    latency = _finite(ev.latency_ms)
                    if latency is not None:
                        agent.latencies.append(latency)
                else:
                    agent.errors += 1
                s.rows_version += 1
            pool = ev.pool or (agent.pool if agent is not None else "")
            if pool:
                s.step_pools[pool] = s.step_pools.get(pool, 0) + 1
        elif isinstance(ev, AgentStateChanged):
            self._agent_state(s, ev)
        elif isinstance(ev, FailureDetected):
            agent = s.agents.get(ev.agent)
            silent = _finite(ev.silent_s)
            if agent is not None and silent is not None:
                agent.silent_from = max(0.0, ev.t - silent)
                s.rows_version += 1
        elif isinstance(ev, LeaderChanged):
            topo = s.topology
            if ev.new and ev.new in topo and ev.role:
                topo.set_role(ev.new, str(ev.role))
            if ev.old and ev.old != ev.new and ev.old in topo and ev.role == "hub":
                topo.set_role(ev.old, "standby")  # fenced: a lease handover demotes the old holder
            s.view_version += 1
        elif isinstance(ev, BreakerTransition):
            s.breakers[str(ev.breaker)] = str(ev.new)
            s.view_version += 1
        elif isinstance(ev, PartitionChanged):
            groups = ev.groups if isinstance(ev.groups, list) else []
            s.groups = tuple(tuple(str(x) for x in g) for g in groups if isinstance(g, list) and g)
            s.view_version += 1
        elif isinstance(ev, TradeExecuted):
            qty, price, fee = _finite(ev.qty), _finite(ev.price), _finite(ev.fee)
            if qty is not None and price is not None and ev.symbol:
                s.broker.book(str(ev.agent)).apply_fill(str(ev.symbol), str(ev.side), qty, price, fee or 0.0)
                s.marks[str(ev.symbol)] = price
                s.rows_version += 1
        elif isinstance(ev, ScalingDecision):
            s.scaling = ev
        elif isinstance(ev, RolloutStep):
            s.rollout_n += 1
            s.step_pools = {}

    def _agent_state(self, s: _State, ev: AgentStateChanged) -> None:
        topo = s.topology
        agent_id, new = str(ev.agent), str(ev.new)
        agent = s.agents.get(agent_id)
        if agent is None:
            prefix = agent_id.rsplit("-", 1)[0]
            kind, strategy = self._kinds.get(prefix, (prefix, ""))
            if not strategy:
                from swarm_tui.agent.kinds import DEFAULT_STRATEGY

                strategy = DEFAULT_STRATEGY.get(kind, "compute")
            agent = _Agent(
                agent_id,
                str(ev.role or "worker"),
                kind,
                strategy,
                str(ev.version or "v1"),
                str(ev.pool or "stable"),
                "",
                created=ev.t,
                last_seen=ev.t,
            )
            s.agents[agent_id] = agent
            reason = str(ev.reason)
            replaced = reason[len("replaces ") :] if reason.startswith("replaces ") else ""
            if replaced and replaced in topo:
                topo.replace(replaced, agent_id)  # the newcomer takes the failed agent's place
            else:
                topo.add(agent_id, agent.role)
        old = agent.state
        agent.state = new
        agent.last_seen = ev.t
        for name in ("role", "version", "pool"):
            value = getattr(ev, name)
            if value and isinstance(value, str):
                setattr(agent, name, value)
        s.members += (new in MEMBER_STATES) - (old in MEMBER_STATES)
        if new == "stopped":
            agent.stopped_at = ev.t
            topo.remove(agent_id)
        s.view_version += 1
        s.rows_version += 1

    # -- the clock -------------------------------------------------------------------------------------
    def start(self) -> ReplayRun:
        """Set the clock going (from where it stands)."""
        with self._lock:
            if not self._started:
                self._started = True
                self._base_wall = self._clock()
        return self

    @property
    def position(self) -> float:
        """The scenario time shown now."""
        if self._paused or not self._started:
            return self._base_t
        return min(self.total, self._base_t + (self._clock() - self._base_wall) * self.speed)

    @property
    def paused(self) -> bool:
        return self._paused

    def _rebase(self, t: float) -> None:
        self._base_t = t
        self._base_wall = self._clock()

    def pause(self) -> bool:
        with self._lock:
            if not self._paused:
                self._rebase(self.position)
                self._paused = True
        return True

    def resume(self) -> bool:
        with self._lock:
            if self._paused or not self._started:
                self._base_wall = self._clock()
                self._paused = False
                self._started = True
        return True

    def toggle_pause(self) -> str:
        if self._paused:
            if self.position >= self.total:
                self.seek(0.0)
                self.resume()
                return "replaying from the start"
            self.resume()
            return "resumed"
        self.pause()
        return "paused"

    def set_speed(self, speed: float) -> bool:
        if not math.isfinite(speed) or speed <= 0:
            return False
        with self._lock:
            self._rebase(self.position)
            self.speed = float(speed)
        return True

    def next_speed(self) -> float:
        """Cycle 1x -> 5x -> 20x -> 1x; returns the new speed."""
        i = SPEEDS.index(self.speed) if self.speed in SPEEDS else -1
        self.set_speed(SPEEDS[(i + 1) % len(SPEEDS)])
        return self.speed

    def seek(self, t: float) -> float:
        """Go to scenario time ``t`` (clamped to the recording); returns where it went."""
        if not math.isfinite(t):
            t = 0.0
        t = min(max(0.0, t), self.total)
        with self._lock:
            self._rebase(t)
            self._sync(t)
            self._force_rows = True
            self.seeks += 1
        if t < self.total:
            self.done.clear()
        self.request_snapshot()
        return t

    def seek_by(self, delta: float) -> float:
        return self.seek(self.position + delta)

    def stop(self, wait: float = 0.0) -> None:
        """Nothing runs in a replay: stopping only stops the clock."""
        self.pause()

    # -- read-only: what would change a live run is refused ------------------------------------------
    def inject(self, agent_id: str, kind: str, **params: Any) -> str:
        return READ_ONLY

    def partition(self, seconds: float = 10.0) -> str:
        return READ_ONLY

    def promote(self) -> str:
        return READ_ONLY

    def rollback(self) -> str:
        return READ_ONLY

    def scale(self, delta: int) -> str:
        return READ_ONLY

    # -- state at a time ---------------------------------------------------------------------------------
    def _sync(self, t: float) -> None:
        """Bring the state to scenario time ``t``: forward from here, or from the nearest checkpoint."""
        target = bisect.bisect_right(self._times, t)
        state = self._state
        checkpoint = self._checkpoints[min(target // self.checkpoint_every, len(self._checkpoints) - 1)]
        if target < state.index or checkpoint.index > state.index:
            state = checkpoint.clone()
        for i in range(state.index, target):
            self._apply(state, self._events[i])
        state.index = target
        self._state = state

    def state_at(self, t: float) -> Snapshot:
        """A snapshot at scenario time ``t`` without moving the replay (for tests and tools)."""
        t = min(max(0.0, t), self.total)
        with self._lock:
            saved = (self._state, self._rows, self._rows_key, self._rows_at, self._view, self._view_key, self.status)
            self._state = self._state.clone()
            try:
                self._sync(t)
                self.status = self._end_status() if t >= self.total else "paused"
                return self._build(t, rows=True)
            finally:
                (self._state, self._rows, self._rows_key, self._rows_at, self._view, self._view_key, self.status) = (
                    saved
                )

    def request_snapshot(self) -> None:
        """Bring ``latest`` up to the clock (cheap when nothing moved)."""
        with self._lock:
            t = self.position
            if not self._paused and self._started and t >= self.total:
                self._rebase(self.total)
                self._paused = True  # played to the end: the clock stops there
            self._sync(t)
            at_end = t >= self.total
            if at_end:
                self.done.set()
                self.status = self._end_status()
            else:
                self.status = "paused" if self._paused or not self._started else "running"
            key = (t, self.status, self.speed, self._state.index, self._force_rows)
            if key == self._snap_key and self.latest is not None:
                return
            wall = self._clock()
            rows = self._force_rows or self._paused or at_end or wall - self._rows_at >= ROWS_EVERY_S
            self.latest = self._build(t, rows=rows)
            self._snap_key = (t, self.status, self.speed, self._state.index, False)
            self._force_rows = False

    def _end_status(self) -> str:
        if not self.finished:
            return "incomplete"
        return "error" if self.recorded_status == "error" else "done"

    def _build(self, t: float, *, rows: bool) -> Snapshot:
        s = self._state
        at_end = t >= self.total
        self._snap_seq += 1
        if rows or not self._rows:
            key = (s.index, s.rows_version, t)
            if key != self._rows_key:
                self._rows = self._agent_rows(s, t)
                self._rows_key = key
            self._rows_at = self._clock()
        error = None
        if at_end:
            if self.finished and self.result is not None and self.result.get("error"):
                error = str(self.result["error"])
            elif not self.finished:
                error = f"incomplete recording: it ends at t={self.total:.2f} s"
        checks, final = (self._checks, True) if at_end and self.finished else ((), False)
        return ReplaySnapshot(
            seq=self._snap_seq,
            t=t,
            status=self.status,
            speed=self.speed,
            scenario=self.scenario_id,
            title=self.title,
            pattern=self.pattern,
            backend=self.backend_name,
            run_id=self.run_id,
            agents=self._rows,
            topology=self._topology_view(s, t),
            series=self._series_at(t),
            rollout=self._rollout_view(s),
            checks=checks,
            checks_final=final,
            events_total=self._visible_lines(s.index),
            error=error,
            autoscaler=self._autoscaler_view(s),
            total=self.total,
        )

    def _heartbeat(self, a: _Agent, t: float) -> float:
        silent = a.silent_from if a.silent_from is not None else self._silent.get(a.id)
        if a.state in LIVE_STATES or a.state in ("starting", "draining"):
            return t if silent is None or t < silent else silent
        return silent if silent is not None else a.last_seen

    def _agent_rows(self, s: _State, t: float) -> tuple[AgentRow, ...]:
        rows = []
        for a in s.agents.values():
            if a.state == "stopped" and (a.stopped_at is None or t - a.stopped_at > 10.0):
                continue
            p95 = percentile(list(a.latencies), 95) if a.latencies else 0.0
            sandbox = self._sandbox.get(a.id, "")  # one sandbox per agent, named wherever the journal did
            rows.append(
                AgentRow(
                    id=a.id,
                    role=a.role,
                    kind=a.kind,
                    strategy=a.strategy,
                    version=a.version,
                    pool=a.pool,
                    state=a.state,
                    sandbox=sandbox,
                    last_heartbeat=self._heartbeat(a, t),
                    tasks=a.tasks,
                    errors=a.errors,
                    p95_ms=round(p95, 1),
                    cpu_pct=0.0,
                    mem_mb=0.0,
                    pnl=round(self._pnl(s, a.id), 2),
                )
            )
        return tuple(rows)

    def _topology_view(self, s: _State, t: float) -> TopologyView:
        key = (s.view_version, s.topology.version)
        if key == self._view_key and self._view is not None:
            return self._view
        topo = s.topology
        nodes = tuple(topo.nodes)
        agents = s.agents
        broken = set()
        for name, state in s.breakers.items():
            if state.upper() != "CLOSED" and "->" in name:
                a, b = name.split("->", 1)
                broken.add((a, b))
        self._view = TopologyView(
            kind=topo.kind,
            nodes=nodes,
            roles=tuple(topo.roles.get(n, "agent") for n in nodes),
            states=tuple(agents[n].state if n in agents else "stopped" for n in nodes),
            pools=tuple(agents[n].pool if n in agents else "stable" for n in nodes),
            broken=frozenset(broken),
            groups=s.groups,
            messages=(),
            version=topo.version,
        )
        self._view_key = key
        return self._view

    def _series_at(self, t: float) -> dict[str, tuple[float, ...]]:
        n = min(len(self._series["agents"]), math.floor(t))
        return {k: tuple(v[max(0, n - SERIES_LEN) : n]) for k, v in self._series.items()}

    def _rollout_view(self, s: _State) -> RolloutView | None:
        if not self._rollout_kind:
            return None
        kind, steps = self._rollout_kind, self._rollout_steps
        log = tuple(dict(x) for x in self._rollout_log[: s.rollout_n])
        last = log[-1]["decision"] if log else ""
        ended = {"rollback": "rolled-back", "abort": "aborted"}.get(last)
        if last == "promote":
            ended = "complete" if kind == "blue-green" else "promoted"
        if ended:
            step = log[-1]["step"]
        else:
            step = min(len(log) + 1, steps) if steps else len(log) + 1
        status = ended or ("shifting" if kind == "blue-green" else "analysing")
        weight = self._plan.get(step, log[-1]["target"] if log else 0.0)
        if kind == "blue-green":
            weights = {"blue": 100.0} if ended == "rolled-back" else {"blue": 100.0 - weight, "green": weight}
        else:
            weights = {"stable": 100.0} if ended == "aborted" else {"canary": weight, "stable": 100.0 - weight}
        weights = {k: float(v) for k, v in weights.items() if v > 0}  # as the traffic split keeps them
        total = sum(s.step_pools.values())
        actual = {k: round(100.0 * v / total, 1) for k, v in s.step_pools.items()} if total else {}
        return RolloutView(kind=kind, status=status, step=step, steps=steps, weights=weights, actual=actual, log=log)

    def _autoscaler_view(self, s: _State) -> dict[str, Any] | None:
        if self._scaler is None:
            return None
        last = s.scaling
        try:
            text = last.describe() if last is not None else ""
        except (TypeError, ValueError):
            text = ""
        return {
            "metric": self._scaler[0],
            "target": self._scaler[1],
            "min": self.params.get("min_replicas"),
            "max": self.params.get("max_replicas"),
            "last": text,
        }

    def _final_checks(self) -> tuple[CheckRow, ...]:
        checks = self.result.get("checks") if self.result is not None else None
        rows = []
        for c in checks if isinstance(checks, list) else []:
            if isinstance(c, dict):
                rows.append(
                    CheckRow(
                        str(c.get("name", "")),
                        str(c.get("expected", "")),
                        str(c.get("observed", "")),
                        bool(c.get("passed")),
                    )
                )
        return tuple(rows)

    # -- the log ---------------------------------------------------------------------------------------
    def _visible_lines(self, index: int) -> int:
        """How many log lines belong to the first ``index`` events (the notes come with the end)."""
        if index >= len(self._events):
            return len(self._lines)
        return bisect.bisect_left(self._line_at, index)

    def events_since(self, seq: int) -> list[EventLine]:
        """Log lines newer than ``seq`` up to the current time (the last EVENT_LIMIT at most)."""
        with self._lock:
            m = self._visible_lines(self._state.index)
        start = max(seq, m - EVENT_LIMIT, 0)
        return self._lines[start:m] if start < m else []

    @property
    def lines(self) -> list[EventLine]:
        """Every line of the recording's log."""
        return list(self._lines)

    def agents_at(self, t: float) -> dict[str, str]:
        """Agent id -> state at scenario time ``t`` (every agent the recording has seen so far)."""
        with self._lock:
            saved = self._state
            self._state = saved.clone()
            try:
                self._sync(min(max(0.0, t), self.total))
                return {a.id: a.state for a in self._state.agents.values()}
            finally:
                self._state = saved
