"""Scenarios: small, honest experiments on a swarm, and the checks that judge them.

A :class:`Scenario` subclass declares its pattern, topology, parameters (a
:class:`~swarm_tui.engine.params.ScenarioParams` model), the faults it injects and the mechanisms
it relies on (each can be switched off, to show the scenario then fails). ``run(ctx)`` drives the
swarm; ``checks(ctx)`` evaluates what was measured, while the run goes on (so far) and at its end
(final). The runner (:mod:`swarm_tui.engine.runner`) gives each run a fresh
:class:`ScenarioContext` holding the scenario's typed run state (``ctx.state``).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast

from swarm_tui.engine.agents import Agent, AgentSpec
from swarm_tui.engine.clock import Clock
from swarm_tui.engine.events import (
    EventBus,
    FaultCleared,
    FaultInjected,
    Note,
    PartitionChanged,
    SwarmCreated,
    TaskFinished,
)
from swarm_tui.engine.faults import Fault
from swarm_tui.engine.market import CsvMarket, MarketSimulator
from swarm_tui.engine.metrics import MetricsAggregator
from swarm_tui.engine.params import FaultEntry, ScenarioParams, fault_entries
from swarm_tui.engine.sandbox import Backend
from swarm_tui.engine.swarm import Swarm
from swarm_tui.engine.topology import Topology


class ScenarioError(Exception):
    """A scenario cannot be built or run as configured (bad parameters, unknown target)."""


@dataclass
class Check:
    """One judged figure: what was expected, what was observed, and whether it passed.

    While a run goes on, a check can also be *pending*: its condition cannot be judged yet (the
    fault has not been injected, the count is still growing). ``final_only`` checks are pending
    until the end; ``pending`` ones until what they need has happened. At the end nothing is
    pending: a check still waiting then has failed.
    """

    name: str
    passed: bool
    expected: str
    observed: float | int | str
    pending: bool = False
    final_only: bool = False

    def state(self, final: bool) -> str:
        """``passed``/``failed`` at the end; ``pending``/``holding``/``failed`` while the run goes on."""
        if final:
            return "passed" if self.passed and not self.pending else "failed"
        if self.pending or self.final_only:
            return "pending"
        return "holding" if self.passed else "failed"

    def shown_observed(self) -> float | int | str:
        observed = self.observed
        if isinstance(observed, float):
            return round(observed, 6) if math.isfinite(observed) else str(observed)
        return observed

    def to_dict(self) -> dict[str, Any]:
        """The check as the results file has it (judged: never pending)."""
        return {
            "name": self.name,
            "passed": bool(self.passed and not self.pending),
            "expected": self.expected,
            "observed": self.shown_observed(),
        }

    def row(self, final: bool) -> dict[str, Any]:
        """The check as the live view shows it, with its state."""
        return {**self.to_dict(), "state": self.state(final)}


def at_least(name: str, observed: float, threshold: float, unit: str = "", *, final_only: bool = False) -> Check:
    return Check(name, observed >= threshold, f">= {threshold:g}{unit}", _num(observed), final_only=final_only)


def at_most(name: str, observed: float, threshold: float, unit: str = "", *, final_only: bool = False) -> Check:
    return Check(name, observed <= threshold, f"<= {threshold:g}{unit}", _num(observed), final_only=final_only)


def equals(name: str, observed: Any, expected: Any, *, final_only: bool = False) -> Check:
    shown = _num(observed) if isinstance(observed, int | float) else str(observed)
    return Check(name, observed == expected, f"== {expected}", shown, final_only=final_only)


def is_true(name: str, ok: bool, expected: str, observed: Any, *, final_only: bool = False) -> Check:
    shown = _num(observed) if isinstance(observed, int | float) else str(observed)
    return Check(name, bool(ok), expected, shown, final_only=final_only)


def _num(value: float | int) -> float | int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return round(value, 6)
    return value


class RolloutControl(Protocol):
    """What the dashboard may ask of a running rollout (promote now, go back)."""

    kind: str
    status: str
    step: int
    steps_total: int

    def request_advance(self) -> bool: ...

    def request_back(self) -> bool: ...


class ScalerControl(Protocol):
    """What the dashboard may ask of a running autoscaler (a manual change it then respects)."""

    metric: str
    min_replicas: int
    max_replicas: int


@dataclass
class Controls:
    """Controllers of a run that people steer from the dashboard."""

    rollout: RolloutControl | None = None
    autoscaler: ScalerControl | None = None


P = TypeVar("P", bound=ScenarioParams)
S = TypeVar("S")


@dataclass
class NoState:
    """The run state of a scenario that keeps none."""


@dataclass
class ScenarioContext(Generic[P, S]):
    """Everything a running scenario needs, fresh for each run."""

    scenario: Scenario[P, S]
    clock: Clock
    bus: EventBus
    backend: Backend
    seed: int
    run_id: str
    state: S
    market_csv: str | None = None
    metrics: MetricsAggregator = field(default_factory=MetricsAggregator)
    observed: dict[str, Any] = field(default_factory=dict)
    swarms: list[Swarm] = field(default_factory=list)
    # Faults injected so far: (time, fault, target id).
    injected: list[tuple[float, Fault, str]] = field(default_factory=list)
    controls: Controls = field(default_factory=Controls)
    # What the VIX was, when (one entry per market tick of the feed).
    vix_series: list[tuple[float, float]] = field(default_factory=list)
    # False while the run goes on (checks judged so far), True for the final judgement.
    final: bool = False
    _decisions: int = 0
    rng: random.Random = field(init=False)
    market: MarketSimulator | CsvMarket = field(init=False)

    def __post_init__(self) -> None:
        own = self.params.deadline_ms
        self.metrics.deadline_ms = float(own) if own else 10.0 * self.backend.capabilities.latency_budget_ms
        self.rng = random.Random(f"scenario:{self.seed}:{self.scenario.id}")
        if self.market_csv:
            self.market = CsvMarket(self.market_csv)
        else:
            self.market = MarketSimulator(seed=self.seed, vix_path=self.scenario.vix_path())

    @property
    def params(self) -> P:
        return self.scenario.params

    def on(self, mechanism: str) -> bool:
        """Is this mechanism switched on for the run?"""
        return self.scenario.mechanisms.get(mechanism, True)

    @property
    def swarm(self) -> Swarm:
        if not self.swarms:
            raise ScenarioError("the scenario has not built its swarm yet")
        return self.swarms[0]

    def make_swarm(self, topology: str, *, heartbeat_s: float | None = None, enforce_links: bool = True) -> Swarm:
        swarm = Swarm(
            self.backend,
            self.clock,
            self.bus,
            Topology(topology),
            scenario=self.scenario.id,
            pattern=self.scenario.pattern,
            run_id=self.run_id,
            seed=self.seed,
            heartbeat_s=heartbeat_s or self.params.heartbeat_s,
            enforce_links=enforce_links,
            memory_limit_mb=self.params.memory_limit_mb,
        )
        self.swarms.append(swarm)
        self.bus.publish(
            SwarmCreated(
                t=self.clock.now(), scenario=self.scenario.id, topology=topology, heartbeat_s=swarm.heartbeat_s
            )
        )
        return swarm

    def note(self, text: str, **data: Any) -> None:
        self.bus.publish(Note(t=self.clock.now(), scenario=self.scenario.id, text=text, data=data))

    def record_decision(
        self, op: str, *, ok: bool, submitted: float, agent: str = "", outcome: str | None = None, error: str = ""
    ) -> None:
        """Count a decision made outside a dispatcher (a quorum round, a pipeline tick)."""
        now = self.clock.now()
        self._decisions += 1
        self.bus.publish(
            TaskFinished(
                t=now,
                scenario=self.scenario.id,
                task=self._decisions,
                op=op,
                agent=agent,
                ok=ok,
                outcome=outcome or ("ok" if ok else "error"),
                latency_ms=round((now - submitted) * 1000.0, 4),
                submitted=submitted,
                error=error,
            )
        )

    def observe(self, **figures: Any) -> None:
        """Record scenario-specific measured figures (they appear in the result's metrics)."""
        self.observed.update(figures)

    def not_yet(self, name: str, expected: str, waiting: str = "not yet", never: str = "never") -> Check:
        """A check whose condition cannot be judged yet: pending while the run goes on (observed:
        ``waiting``), failed at the end (observed: ``never``: what it waited for did not happen)."""
        return Check(name, False, expected, never if self.final else waiting, pending=not self.final)

    # -- agents --------------------------------------------------------------------------------
    def agent_specs(self) -> list[AgentSpec]:
        """The scenario's agents as configured, one spec per agent."""
        return self.params.agent_specs()

    # -- faults ---------------------------------------------------------------------------------
    def resolve(self, target: str, swarm: Swarm | None = None) -> Agent:
        """An agent from a fault target: an id, '#N' (N-th deployed), 'role:NAME', 'random'."""
        swarm = swarm or self.swarm
        agents = list(swarm.agents.values())
        if target in swarm.agents:
            return swarm.agents[target]
        if target.startswith("#") and target[1:].isdigit():
            n = int(target[1:])
            if 1 <= n <= len(agents):
                return agents[n - 1]
        elif target.startswith("role:"):
            for agent in swarm.live(role=target[5:]):
                return agent
        elif target == "random":
            live = swarm.live()
            if live:
                return self.rng.choice(live)
        raise ScenarioError(f"fault target {target!r} matches no agent")

    def injection(self, kind: str) -> tuple[float, str] | None:
        """When and into whom the first fault of a kind was injected."""
        for t, fault, target in self.injected:
            if fault.kind == kind:
                return t, target
        return None

    def injections(self, kind: str) -> list[tuple[float, Fault, str]]:
        """Every fault of a kind injected so far: (time, fault, target id)."""
        return [(t, f, target) for t, f, target in self.injected if f.kind == kind]

    def schedule_faults(self, faults: Iterable[Fault], swarm: Swarm | None = None) -> None:
        """Inject each fault at its time (scenario seconds from now)."""
        swarm = swarm or self.swarm
        start = self.clock.now()
        for fault in faults:
            swarm.spawn(self._fault_at(fault, start + fault.at, swarm), name=f"fault {fault.kind}")

    async def _fault_at(self, fault: Fault, t: float, swarm: Swarm) -> None:
        await self.clock.sleep_until(t)
        await self.inject(fault, swarm)

    async def inject(self, fault: Fault, swarm: Swarm | None = None) -> str:
        """Inject a fault now, through the backend or the router. Returns the target's id."""
        swarm = swarm or self.swarm
        router = swarm.router
        now = self.clock.now()
        if fault.kind == "partition":
            groups = [[self.resolve(t, swarm).id for t in g] for g in fault.params.get("groups", [])]
            if len(groups) < 2:
                raise ScenarioError("a partition needs at least two groups of agents")
            router.set_partition(groups)
            self.bus.publish(PartitionChanged(t=now, scenario=self.scenario.id, groups=groups))
            target = "|".join(",".join(g) for g in groups)
        else:
            agent = self.resolve(fault.target, swarm)
            target = agent.id
            if fault.kind == "net-delay":
                router.set_delay(agent.id, float(fault.params["delay_ms"]) / 1000.0)
            elif fault.kind == "net-loss":
                router.set_loss(agent.id, float(fault.params["loss"]))
            else:
                await swarm.inject(agent, fault)
        self.injected.append((now, fault, target))
        self.bus.publish(
            FaultInjected(
                t=now,
                scenario=self.scenario.id,
                fault=fault.kind,
                target=target,
                params=dict(fault.params),
                duration=fault.duration,
            )
        )
        if fault.duration is not None:
            self.clock.call_later(fault.duration, self._clear, fault, target, swarm)
        return target

    def _clear(self, fault: Fault, target: str, swarm: Swarm) -> None:
        router = swarm.router
        if fault.kind == "partition":
            router.set_partition(None)
            self.bus.publish(PartitionChanged(t=self.clock.now(), scenario=self.scenario.id, groups=[]))
        elif fault.kind == "net-delay":
            router.set_delay(target, None)
        elif fault.kind == "net-loss":
            router.set_loss(target, None)
        self.bus.publish(FaultCleared(t=self.clock.now(), scenario=self.scenario.id, fault=fault.kind, target=target))


class Scenario(Generic[P, S]):
    """Base class of every scenario in the catalogue.

    A subclass sets ``Params`` (its parameter model) and implements ``new_state`` (its run state,
    fresh for each run), ``run`` and ``checks``.
    """

    id: ClassVar[str] = ""
    pattern: ClassVar[str] = ""
    title: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    topology: ClassVar[str] = "mesh"
    Params: ClassVar[type[ScenarioParams]] = ScenarioParams
    default_faults: ClassVar[list[dict[str, Any]]] = []
    mechanism_help: ClassVar[dict[str, str]] = {}
    # The duration (scenario seconds) after which a run is cut off as an error.
    max_sim_s: ClassVar[float] = 600.0
    # How often (scenario seconds) the checks are judged while the run goes on.
    live_checks_every_s: ClassVar[float] = 1.0

    def __init__(
        self,
        params: Any = None,
        *,
        mechanisms: dict[str, bool] | None = None,
        faults: list[dict[str, Any]] | list[FaultEntry] | None = None,
        scenario_id: str | None = None,
        title: str | None = None,
    ) -> None:
        try:
            self.params: P = cast(P, self.Params.build(params))
        except ValueError as exc:
            raise ScenarioError(f"{scenario_id or self.id}: params.{exc}") from None
        unknown = set(mechanisms or {}) - set(self.mechanism_help)
        if unknown:
            raise ScenarioError(
                f"{self.id}: unknown mechanism {sorted(unknown)[0]!r} "
                f"(this scenario has: {', '.join(self.mechanism_help) or 'none'})"
            )
        self.mechanisms: dict[str, bool] = {m: True for m in self.mechanism_help}
        self.mechanisms.update(mechanisms or {})
        try:
            self.fault_entries = fault_entries(self.default_faults if faults is None else faults)
        except ValueError as exc:
            raise ScenarioError(f"{scenario_id or self.id}: {exc}") from None
        if scenario_id:
            self.id = scenario_id  # type: ignore[misc]
        if title:
            self.title = title  # type: ignore[misc]
        self.source: str | None = None  # the scenario file it came from, if any

    def time_limit_s(self) -> float:
        """Scenario seconds after which a run is cut off as an error."""
        return self.max_sim_s

    def faults(self) -> list[Fault]:
        return [entry.fault() for entry in self.fault_entries]

    def workload(self, market_csv: str | None = None) -> str:
        """What this run was exposed to, as a short fingerprint: the scenario it is built on, its
        parameters (not the checks' thresholds, and never an agent's environment), its faults and
        its market. Two results are comparable side by side only when their workloads are equal."""
        params = {
            name: value
            for name, value in self.params.model_dump(mode="json").items()
            if not self.Params.is_threshold(name)
        }
        blob = json.dumps(
            _without_env(
                {
                    "base": type(self).id,
                    "params": params,
                    "faults": [f.model_dump(mode="json") for f in self.fault_entries],
                    "market": _digest(market_csv) if market_csv else None,
                }
            ),
            sort_keys=True,
            default=str,
        )
        return f"{type(self).id}@{hashlib.sha256(blob.encode()).hexdigest()[:10]}"

    def vix_path(self) -> Any:
        """A scripted VIX for the market (None: the market's own)."""
        return None

    def new_state(self) -> S:
        """This scenario's run state, fresh for each run."""
        return cast(S, NoState())

    async def run(self, ctx: ScenarioContext[P, S]) -> None:
        raise NotImplementedError

    def checks(self, ctx: ScenarioContext[P, S]) -> list[Check]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pattern": self.pattern,
            "title": self.title,
            "summary": self.summary,
            "topology": self.topology,
            "mechanisms": dict(self.mechanism_help),
        }


def _digest(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return path


def _without_env(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_env(v) for k, v in value.items() if k != "env"}
    if isinstance(value, list):
        return [_without_env(v) for v in value]
    return value


def by_id(agents: Iterable[Agent]) -> dict[str, Agent]:
    return {a.id: a for a in agents}
