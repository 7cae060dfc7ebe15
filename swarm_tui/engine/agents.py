"""The engine's view of an agent: identity, role, version, state and running figures."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from swarm_tui.agent.kinds import DEFAULT_STRATEGY, capabilities_of
from swarm_tui.engine.metrics import percentile
from swarm_tui.engine.sandbox import AgentProgram, SandboxHandle


class AgentState(StrEnum):
    STARTING = "starting"
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    DRAINING = "draining"
    FAILED = "failed"
    STOPPED = "stopped"


LIVE_STATES = frozenset({AgentState.HEALTHY, AgentState.DEGRADED})


@dataclass
class AgentSpec:
    """What to deploy: the recipe for an agent (the engine turns it into a SandboxSpec)."""

    kind: str
    role: str = "worker"
    strategy: str = ""
    symbols: tuple[str, ...] = ()
    version: str = "v1"
    pool: str = "stable"  # stable | blue | green | canary
    defect: dict[str, float] = field(default_factory=dict)
    params: dict[str, float] = field(default_factory=dict)
    capabilities: tuple[str, ...] | None = None
    name: str = ""  # preferred id prefix
    program: AgentProgram | None = None  # a user's program instead of the built-in agent

    @property
    def caps(self) -> tuple[str, ...]:
        return self.capabilities if self.capabilities is not None else capabilities_of(self.kind)

    @property
    def resolved_strategy(self) -> str:
        return self.strategy or DEFAULT_STRATEGY.get(self.kind, "compute")


@dataclass(eq=False)
class Agent:
    """One agent of the swarm and what the engine measured about it."""

    id: str
    spec: AgentSpec
    state: AgentState = AgentState.STARTING
    reason: str = ""  # why it is in its state (the last change's reason)
    sandbox: SandboxHandle | None = None
    created_at: float = 0.0
    ready_at: float | None = None
    failed_at: float | None = None
    stopped_at: float | None = None
    last_heartbeat: float = 0.0
    replaces: str | None = None
    inflight: int = 0
    tasks: int = 0
    errors: int = 0
    pnl: float = 0.0
    cpu_pct: float = 0.0
    mem_mb: float = 0.0
    ewma_ms: float = 0.0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=200))

    @property
    def role(self) -> str:
        return self.spec.role

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def pool(self) -> str:
        return self.spec.pool

    @property
    def capabilities(self) -> tuple[str, ...]:
        return self.spec.caps

    @property
    def live(self) -> bool:
        """Healthy or degraded: can be given work."""
        return self.state in LIVE_STATES

    def p95_ms(self) -> float:
        return percentile(list(self.latencies_ms), 95) if self.latencies_ms else 0.0

    def record(self, ok: bool, latency_ms: float) -> None:
        self.tasks += 1
        if ok:
            self.latencies_ms.append(latency_ms)
            self.ewma_ms = latency_ms if self.ewma_ms == 0 else 0.3 * latency_ms + 0.7 * self.ewma_ms
        else:
            self.errors += 1
