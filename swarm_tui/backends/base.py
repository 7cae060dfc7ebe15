"""The sandbox backend protocol: one interface, three implementations (mock, local, e2b).

The engine talks to agents only through this interface:

* ``bind(clock, on_message, on_exit)`` once, before anything is created;
* ``create(spec) -> SandboxHandle``: start a sandbox running the agent; returns once the agent
  program runs (its ``hello`` arrives through ``on_message``);
* ``send(handle, message)``: queue a message for the agent; never blocks;
* ``on_message(handle, message)`` is called for every message the agent sends (hello,
  heartbeat, result, pong, error); output that is not a message (garbage, an endless line, a
  flood: see :mod:`swarm_tui.engine.protocol`) comes as ``{"type": "invalid", "error": why}``,
  after which the backend ignores the agent's output; ``on_exit(handle, reason)`` when the
  sandbox is seen to die;
* ``metrics(handle)``, ``inject(handle, fault)``, ``kill(handle)``;
* ``list_owned()``: sandboxes this backend's owner tagged (for cleanup);
* ``close()``: kill everything this backend created. Called whatever ends a run.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from swarm_tui.engine.clock import Clock
from swarm_tui.engine.faults import Fault

MessageCallback = Callable[["SandboxHandle", dict[str, Any]], None]
ExitCallback = Callable[["SandboxHandle", str], None]


class BackendError(Exception):
    """A backend cannot do what was asked (start, create, kill). The message is for users."""


@dataclass
class SandboxSpec:
    """What to run in a sandbox: the agent's identity, kind, strategy and settings."""

    agent_id: str
    kind: str
    strategy: str = ""
    symbols: list[str] = field(default_factory=list)
    version: str = "v1"
    capabilities: list[str] | None = None
    heartbeat_s: float = 1.0
    memory_limit_mb: float = 512.0
    params: dict[str, Any] = field(default_factory=dict)
    defect: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    run_id: str = ""
    pattern: str = ""

    def agent_config(self) -> dict[str, Any]:
        """The configuration the agent program starts with."""
        return {
            "agent_id": self.agent_id,
            "kind": self.kind,
            "strategy": self.strategy,
            "symbols": list(self.symbols),
            "version": self.version,
            "capabilities": list(self.capabilities) if self.capabilities else None,
            "heartbeat_s": self.heartbeat_s,
            "memory_limit_mb": self.memory_limit_mb,
            "params": dict(self.params),
            "defect": dict(self.defect),
            "seed": self.seed,
        }


@dataclass
class SandboxHandle:
    """A running sandbox, as the backend knows it."""

    id: str
    agent_id: str
    backend: str
    created_at: float = 0.0
    pid: int | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class SandboxMetrics:
    cpu_pct: float = 0.0
    mem_mb: float = 0.0
    mem_limit_mb: float = 0.0
    alive: bool = True


@dataclass
class OwnedSandbox:
    """A sandbox found by ``list_owned`` (for ``swarm-tui cleanup``)."""

    id: str
    backend: str
    agent_id: str = ""
    run_id: str = ""
    age_s: float = 0.0
    detail: str = ""


@dataclass(frozen=True)
class BackendCapabilities:
    """What a backend is and what the engine may expect of it."""

    name: str
    real: bool  # real processes or cloud sandboxes (wall clock), as opposed to simulated
    latency_budget_ms: float  # the p95 decision latency checks hold a backend to
    recovery_budget_s: float  # time to replace a failed agent
    heartbeat_s: float  # default heartbeat interval
    faults: frozenset[str] = frozenset()


class Backend(abc.ABC):
    """Base class of the three sandbox backends."""

    name: str = "backend"
    capabilities: BackendCapabilities

    def __init__(self) -> None:
        self._clock: Clock | None = None
        self._on_message: MessageCallback = lambda h, m: None
        self._on_exit: ExitCallback = lambda h, r: None

    def bind(self, clock: Clock, on_message: MessageCallback, on_exit: ExitCallback) -> None:
        """Connect the backend to the engine: its clock and where agent messages go."""
        self._clock = clock
        self._on_message = on_message
        self._on_exit = on_exit

    @property
    def clock(self) -> Clock:
        if self._clock is None:
            raise BackendError(f"{self.name} backend used before bind()")
        return self._clock

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Check the backend can work (credentials, binaries) before a run starts."""

    @abc.abstractmethod
    async def create(self, spec: SandboxSpec) -> SandboxHandle: ...

    @abc.abstractmethod
    def send(self, handle: SandboxHandle, message: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    async def metrics(self, handle: SandboxHandle) -> SandboxMetrics: ...

    @abc.abstractmethod
    async def inject(self, handle: SandboxHandle, fault: Fault) -> None: ...

    @abc.abstractmethod
    async def kill(self, handle: SandboxHandle, reason: str = "") -> None: ...

    @abc.abstractmethod
    async def list_owned(self) -> list[OwnedSandbox]: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def alive_count(self) -> int:
        """How many sandboxes this backend has running now."""
