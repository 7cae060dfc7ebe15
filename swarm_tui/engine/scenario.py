"""Scenarios: small, honest experiments on a swarm, and the checks that judge them.

A :class:`Scenario` subclass declares its pattern, topology, default parameters, the faults it
injects and the mechanisms it relies on (each can be switched off, to show the scenario then
fails). ``run(ctx)`` drives the swarm; ``checks(ctx)`` evaluates what was measured. The runner
(:mod:`swarm_tui.engine.runner`) gives each run a fresh :class:`ScenarioContext`.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from swarm_tui.backends.base import Backend
from swarm_tui.engine.agents import Agent, AgentSpec
from swarm_tui.engine.clock import Clock
from swarm_tui.engine.events import (
    EventBus,
    FaultCleared,
    FaultInjected,
    Note,
    PartitionChanged,
    TaskFinished,
)
from swarm_tui.engine.faults import Fault
from swarm_tui.engine.market import CsvMarket, MarketSimulator
from swarm_tui.engine.metrics import MetricsAggregator
from swarm_tui.engine.swarm import Swarm
from swarm_tui.engine.topology import Topology


class ScenarioError(Exception):
    """A scenario cannot be built or run as configured (bad parameters, unknown target)."""


@dataclass
class Check:
    """One judged figure: what was expected, what was observed, and whether it passed."""

    name: str
    passed: bool
    expected: str
    observed: float | int | str

    def to_dict(self) -> dict[str, Any]:
        observed = self.observed
        if isinstance(observed, float):
            observed = round(observed, 6) if math.isfinite(observed) else str(observed)
        return {"name": self.name, "passed": bool(self.passed), "expected": self.expected, "observed": observed}


def at_least(name: str, observed: float, threshold: float, unit: str = "") -> Check:
    return Check(name, observed >= threshold, f">= {threshold:g}{unit}", _num(observed))


def at_most(name: str, observed: float, threshold: float, unit: str = "") -> Check:
    return Check(name, observed <= threshold, f"<= {threshold:g}{unit}", _num(observed))


def equals(name: str, observed: Any, expected: Any) -> Check:
    shown = _num(observed) if isinstance(observed, int | float) else str(observed)
    return Check(name, observed == expected, f"== {expected}", shown)


def is_true(name: str, ok: bool, expected: str, observed: Any) -> Check:
    return Check(name, bool(ok), expected, _num(observed) if isinstance(observed, int | float) else str(observed))


def _num(value: float | int) -> float | int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return round(value, 6)
    return value


@dataclass
class ScenarioContext:
    """Everything a running scenario needs, fresh for each run."""

    scenario: Scenario
    clock: Clock
    bus: EventBus
    backend: Backend
    seed: int
    run_id: str
    market_csv: str | None = None
    metrics: MetricsAggregator = field(default_factory=MetricsAggregator)
    observed: dict[str, Any] = field(default_factory=dict)
    swarms: list[Swarm] = field(default_factory=list)
    # Faults injected so far: (time, fault, target id).
    injected: list[tuple[float, Fault, str]] = field(default_factory=list)
    # Scenario-private state of this run (dispatchers, controllers, measurements).
    state: dict[str, Any] = field(default_factory=dict)
    _decisions: int = 0
    rng: random.Random = field(init=False)
    market: MarketSimulator | CsvMarket = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"scenario:{self.seed}:{self.scenario.id}")
        if self.market_csv:
            self.market = CsvMarket(self.market_csv)
        else:
            self.market = MarketSimulator(seed=self.seed, vix_path=self.scenario.vix_path())

    @property
    def params(self) -> dict[str, Any]:
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
            heartbeat_s=heartbeat_s or self.params.get("heartbeat_s"),
            enforce_links=enforce_links,
        )
        self.swarms.append(swarm)
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

    # -- agents --------------------------------------------------------------------------------
    def agent_specs(self) -> list[AgentSpec]:
        """The scenario's agents as configured (``params['agents']``)."""
        return [spec_from_dict(d) for d in self.params.get("agents", [])]

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
            FaultInjected(t=now, scenario=self.scenario.id, fault=fault.kind, target=target, params=dict(fault.params))
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


def spec_from_dict(data: dict[str, Any]) -> AgentSpec:
    """An AgentSpec from a plain dict (scenario parameters and TOML files)."""
    symbols = data.get("symbols")
    if symbols is None and data.get("symbol"):
        symbols = [data["symbol"]]
    return AgentSpec(
        kind=str(data["kind"]),
        role=str(data.get("role", "worker")),
        strategy=str(data.get("strategy", "")),
        symbols=tuple(symbols or ()),
        version=str(data.get("version", "v1")),
        pool=str(data.get("pool", "stable")),
        defect=dict(data.get("defect", {})),
        params=dict(data.get("params", {})),
        name=str(data.get("name", "")),
    )


def expand_agents(entries: Iterable[dict[str, Any]]) -> list[AgentSpec]:
    """Agent entries may carry ``count``: expand them into one spec each."""
    out: list[AgentSpec] = []
    for entry in entries:
        for _ in range(int(entry.get("count", 1))):
            out.append(spec_from_dict(entry))
    return out


class Scenario:
    """Base class of every scenario in the catalogue."""

    id: ClassVar[str] = ""
    pattern: ClassVar[str] = ""
    title: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    topology: ClassVar[str] = "mesh"
    defaults: ClassVar[dict[str, Any]] = {}
    default_faults: ClassVar[list[dict[str, Any]]] = []
    mechanism_help: ClassVar[dict[str, str]] = {}
    # The duration (scenario seconds) after which a run is cut off as an error.
    max_sim_s: ClassVar[float] = 600.0

    def __init__(
        self,
        params: dict[str, Any] | None = None,
        *,
        mechanisms: dict[str, bool] | None = None,
        faults: list[dict[str, Any]] | None = None,
        scenario_id: str | None = None,
        title: str | None = None,
    ) -> None:
        self.params: dict[str, Any] = {**self.defaults, **(params or {})}
        self.params.setdefault("heartbeat_s", None)
        unknown = set(mechanisms or {}) - set(self.mechanism_help)
        if unknown:
            raise ScenarioError(
                f"{self.id}: unknown mechanism {sorted(unknown)[0]!r} "
                f"(this scenario has: {', '.join(self.mechanism_help) or 'none'})"
            )
        self.mechanisms: dict[str, bool] = {m: True for m in self.mechanism_help}
        self.mechanisms.update(mechanisms or {})
        self.fault_entries = list(self.default_faults if faults is None else faults)
        if scenario_id:
            self.id = scenario_id  # type: ignore[misc]
        if title:
            self.title = title  # type: ignore[misc]

    def faults(self) -> list[Fault]:
        out = []
        for entry in self.fault_entries:
            entry = dict(entry)
            kind = entry.pop("kind")
            target = str(entry.pop("target", ""))
            at = float(entry.pop("at", 0.0))
            duration = entry.pop("duration", None)
            params = entry.pop("params", {})
            params.update(entry)
            out.append(
                Fault(
                    kind,
                    target=target,
                    at=at,
                    duration=float(duration) if duration is not None else None,
                    params=params,
                )
            )
        return out

    def vix_path(self) -> Any:
        """A scripted VIX for the market (None: the market's own)."""
        return None

    async def run(self, ctx: ScenarioContext) -> None:
        raise NotImplementedError

    def checks(self, ctx: ScenarioContext) -> list[Check]:
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


REGISTRY: dict[str, type[Scenario]] = {}


def register(cls: type[Scenario]) -> type[Scenario]:
    """Class decorator: add a scenario to the catalogue."""
    if cls.id in REGISTRY:
        raise ValueError(f"scenario {cls.id} registered twice")
    REGISTRY[cls.id] = cls
    return cls


async def gather_all(aws: Iterable[asyncio.Future[Any] | asyncio.Task[Any]]) -> list[Any]:
    return list(await asyncio.gather(*aws))


def by_id(agents: Iterable[Agent]) -> dict[str, Agent]:
    return {a.id: a for a in agents}


Resolver = Callable[[str], Agent]
