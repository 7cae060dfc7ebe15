"""Typed events and the bus that fans them out.

Everything that happens in a run is an event: agents changing state, tasks completing, faults
injected and detected, scaling decisions with the numbers behind them, rollout steps with their
analysis, breaker transitions, trades. Subscribers (the metrics aggregator, the journal writer,
the dashboard) receive them synchronously in the order they were published; a subscriber must
be quick and must not raise.

Events are plain dataclasses; ``to_dict``/``event_from_dict`` round-trip them through JSON so a
journal can be read back into the same objects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(slots=True)
class Event:
    """Base event: ``t`` is scenario time in seconds, ``scenario`` the scenario id."""

    kind: ClassVar[str] = "event"
    t: float
    scenario: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):
            out[f.name] = getattr(self, f.name)
        return out

    def describe(self) -> str:
        """One human line (used by the dashboard and the Markdown report)."""
        return self.kind


@dataclass(slots=True)
class ScenarioStarted(Event):
    kind: ClassVar[str] = "scenario_started"
    pattern: str = ""
    title: str = ""
    seed: int | None = None
    backend: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    topology: str = ""  # mesh | ring | star | hierarchical (a replay lays the swarm out by it; optional)

    def describe(self) -> str:
        return f"scenario {self.scenario} started (seed {self.seed}, backend {self.backend})"


@dataclass(slots=True)
class ScenarioFinished(Event):
    kind: ClassVar[str] = "scenario_finished"
    status: str = ""
    result: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return f"scenario {self.scenario} {self.status}"


@dataclass(slots=True)
class AgentStateChanged(Event):
    kind: ClassVar[str] = "agent_state"
    agent: str = ""
    old: str = ""
    new: str = ""
    reason: str = ""
    role: str = ""
    version: str = ""
    pool: str = ""
    sandbox: str = ""
    agent_kind: str = ""  # momentum, hub, ...: given when the agent is deployed
    strategy: str = ""
    program: str = ""  # what it runs ("built-in", "node agent.js"): given when it is deployed

    def describe(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return f"{self.agent}: {self.old or '-'} -> {self.new}{why}"


@dataclass(slots=True)
class TaskFinished(Event):
    """A task's final outcome as the client saw it (after any retries)."""

    kind: ClassVar[str] = "task"
    task: int = 0
    op: str = ""
    agent: str = ""
    ok: bool = True
    outcome: str = "ok"  # ok | error | lost | rejected | shed
    latency_ms: float = 0.0
    wait_ms: float = 0.0
    attempts: int = 1
    submitted: float = 0.0
    pool: str = ""
    error: str = ""
    service_ms: float | None = None  # the last attempt, on the agent that answered (None: not measured)

    def describe(self) -> str:
        where = f" on {self.agent}" if self.agent else ""
        why = f": {self.error}" if self.error else ""
        return f"{self.op} {self.task} {self.outcome}{where} after {self.latency_ms:.1f} ms{why}"


@dataclass(slots=True)
class TaskRetried(Event):
    kind: ClassVar[str] = "task_retried"
    task: int = 0
    agent: str = ""
    reason: str = ""

    def describe(self) -> str:
        return f"task {self.task} retried after {self.agent}: {self.reason}"


@dataclass(slots=True)
class FaultInjected(Event):
    kind: ClassVar[str] = "fault_injected"
    fault: str = ""
    target: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    duration: float | None = None  # None: it lasts (or, for a crash or a leak, it kills)

    def describe(self) -> str:
        return f"fault {self.fault} injected into {self.target}"


@dataclass(slots=True)
class FaultCleared(Event):
    kind: ClassVar[str] = "fault_cleared"
    fault: str = ""
    target: str = ""

    def describe(self) -> str:
        return f"fault {self.fault} on {self.target} cleared"


@dataclass(slots=True)
class FailureDetected(Event):
    kind: ClassVar[str] = "failure_detected"
    agent: str = ""
    detector: str = ""  # heartbeat | exit | health | lease | protocol (what the agent sent broke it)
    reason: str = ""
    silent_s: float = 0.0

    def describe(self) -> str:
        return f"{self.agent} failed: {self.reason} (by {self.detector})"


@dataclass(slots=True)
class Failover(Event):
    """A failed agent's place was taken: a replacement, or a standby promoted."""

    kind: ClassVar[str] = "failover"
    failed: str = ""
    replacement: str = ""
    recovery_s: float = 0.0
    how: str = "replace"  # replace | promote

    def describe(self) -> str:
        return f"{self.replacement} replaced {self.failed} ({self.how}) after {self.recovery_s:.2f} s"


@dataclass(slots=True)
class ScalingDecision(Event):
    kind: ClassVar[str] = "scaling"
    metric: str = ""
    observed: float = 0.0
    target: float = 0.0
    current: int = 0
    formula: int = 0
    desired: int = 0
    direction: str = ""  # up | down | none
    reason: str = ""
    inputs: dict[str, float] = field(default_factory=dict)  # raw figures behind the metric (e.g. vix)

    def describe(self) -> str:
        extra = "".join(f" {k}={v:g}" for k, v in self.inputs.items())
        return (
            f"scale {self.direction} {self.current} -> {self.desired}: {self.metric}="
            f"{self.observed:.2f} target {self.target:g}, ceil({self.current}x"
            f"{self.observed:.2f}/{self.target:g})={self.formula};{extra} {self.reason}"
        )


@dataclass(slots=True)
class RolloutStep(Event):
    kind: ClassVar[str] = "rollout_step"
    rollout: str = ""  # blue-green | canary
    step: int = 0
    steps: int = 0
    target_weight: float = 0.0
    actual_weight: float = 0.0
    analysis: dict[str, Any] = field(default_factory=dict)
    decision: str = ""  # advance | promote | rollback | abort | hold

    def describe(self) -> str:
        return (
            f"{self.rollout} step {self.step}/{self.steps}: target {self.target_weight:.0f}% "
            f"actual {self.actual_weight:.1f}% -> {self.decision}"
        )


@dataclass(slots=True)
class BreakerTransition(Event):
    kind: ClassVar[str] = "breaker"
    breaker: str = ""
    old: str = ""
    new: str = ""
    failure_rate: float = 0.0
    calls: int = 0

    def describe(self) -> str:
        return (
            f"breaker {self.breaker}: {self.old} -> {self.new} ({self.failure_rate:.0%} of {self.calls} calls failed)"
        )


@dataclass(slots=True)
class TradeExecuted(Event):
    kind: ClassVar[str] = "trade"
    agent: str = ""
    strategy: str = ""
    symbol: str = ""
    side: str = ""
    qty: float = 0.0
    price: float = 0.0
    fee: float = 0.0

    def describe(self) -> str:
        return f"{self.agent} {self.side} {self.qty:g} {self.symbol} @ {self.price:.2f}"


@dataclass(slots=True)
class OrderVetoed(Event):
    kind: ClassVar[str] = "veto"
    agent: str = ""
    symbol: str = ""
    side: str = ""
    qty: float = 0.0
    reason: str = ""

    def describe(self) -> str:
        return f"order {self.side} {self.qty:g} {self.symbol} vetoed: {self.reason}"


@dataclass(slots=True)
class QuorumDecision(Event):
    kind: ClassVar[str] = "quorum"
    round: int = 0
    votes: dict[str, str] = field(default_factory=dict)
    decision: str = ""
    agreeing: int = 0
    quorum: int = 0
    reached: bool = False

    def describe(self) -> str:
        state = "reached" if self.reached else "NOT reached"
        return f"round {self.round}: {self.decision} ({self.agreeing}/{self.quorum} quorum {state})"


@dataclass(slots=True)
class LeaderChanged(Event):
    kind: ClassVar[str] = "leader"
    role: str = ""
    old: str = ""
    new: str = ""
    reason: str = ""

    def describe(self) -> str:
        return f"{self.role} leader {self.old or '-'} -> {self.new or '-'} ({self.reason})"


@dataclass(slots=True)
class PartitionChanged(Event):
    kind: ClassVar[str] = "partition"
    groups: list[list[str]] = field(default_factory=list)

    def describe(self) -> str:
        if not self.groups:
            return "partition healed"
        return "partition: " + " | ".join(",".join(g) for g in self.groups)


@dataclass(slots=True)
class SwarmCreated(Event):
    """A scenario built its swarm: the topology it wires and the heartbeat interval it expects."""

    kind: ClassVar[str] = "swarm"
    topology: str = "mesh"
    heartbeat_s: float = 1.0

    def describe(self) -> str:
        return f"{self.topology} swarm (heartbeat every {self.heartbeat_s:g} s)"


@dataclass(slots=True)
class Sampled(Event):
    """Once a second of scenario time: what the engine read of the sandboxes and the market.

    ``agents`` holds ``[cpu %, memory MB]`` of each agent whose reading changed since the last
    sample (half a point or half a MB); ``late`` the silence (s) of every agent whose last
    heartbeat is older than its interval; ``vix`` and ``prices`` the market's last tick.
    """

    kind: ClassVar[str] = "sample"
    agents: dict[str, list[float]] = field(default_factory=dict)
    late: dict[str, float] = field(default_factory=dict)
    vix: float | None = None
    prices: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        return f"sample: {len(self.agents)} readings, {len(self.late)} late"


@dataclass(slots=True)
class ChecksEvaluated(Event):
    """The scenario's checks judged so far, while the run goes on (on change).

    Each check is ``{name, expected, observed, passed, state}`` with state ``pending`` (cannot be
    judged yet), ``holding`` (passes so far) or ``failed``.
    """

    kind: ClassVar[str] = "checks"
    checks: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        holding = sum(1 for c in self.checks if c.get("state") == "holding")
        return f"checks: {holding} of {len(self.checks)} holding"


@dataclass(slots=True)
class RolloutState(Event):
    """A rollout's state whenever it changes: status, step, weights, and the analysis so far."""

    kind: ClassVar[str] = "rollout"
    rollout: str = ""  # blue-green | canary
    status: str = ""
    step: int = 0
    steps: int = 0
    plan: list[float] = field(default_factory=list)  # target weight of the new version at each step
    weights: dict[str, float] = field(default_factory=dict)
    analysis: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.rollout} {self.status}, step {self.step}/{self.steps}"


@dataclass(slots=True)
class AutoscalerStarted(Event):
    """An autoscaler began watching a metric: what it scales on and within which bounds."""

    kind: ClassVar[str] = "autoscaler"
    metric: str = ""
    target: float = 0.0
    min_replicas: int = 0
    max_replicas: int = 0

    def describe(self) -> str:
        return f"autoscaler on {self.metric} (target {self.target:g}, {self.min_replicas}..{self.max_replicas} agents)"


@dataclass(slots=True)
class Note(Event):
    """Anything else worth a line in the event log."""

    kind: ClassVar[str] = "note"
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return self.text


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        ScenarioStarted,
        ScenarioFinished,
        AgentStateChanged,
        TaskFinished,
        TaskRetried,
        FaultInjected,
        FaultCleared,
        FailureDetected,
        Failover,
        ScalingDecision,
        RolloutStep,
        BreakerTransition,
        TradeExecuted,
        OrderVetoed,
        QuorumDecision,
        LeaderChanged,
        PartitionChanged,
        SwarmCreated,
        Sampled,
        ChecksEvaluated,
        RolloutState,
        AutoscalerStarted,
        Note,
    )
}
# Events that carry state for the views, not happenings worth a line in the log.
STATE_EVENTS = frozenset({"sample", "checks", "rollout", "swarm"})


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from :meth:`Event.to_dict` output. Raises ValueError on bad input."""
    kind = data.get("kind")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown event kind {kind!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in data.items() if k in names}
    if "t" not in kwargs:
        raise ValueError("event has no time 't'")
    try:
        return cls(**kwargs)
    except TypeError as exc:  # pragma: no cover - dataclass signature mismatch
        raise ValueError(str(exc)) from None


Subscriber = Callable[[Event], None]


class EventBus:
    """Synchronous fan-out of events to subscribers, in publish order."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self.count = 0

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns a function that removes it."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, event: Event) -> None:
        self.count += 1
        for subscriber in self._subscribers:
            subscriber(event)
