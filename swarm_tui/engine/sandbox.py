"""The sandbox interface the engine owns, and the registry of backends that implement it.

Backends (mock, local, e2b, or a plug-in) implement :class:`Backend` and register by name as an
entry point of the group ``swarm_tui.backends`` (see pyproject.toml); the engine finds them with
:func:`backend_class` and never imports a backend module itself.

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
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from swarm_tui.agent.core import PROTOCOL_VERSION
from swarm_tui.agent.kinds import capabilities_of
from swarm_tui.engine.clock import Clock
from swarm_tui.engine.faults import AGENT_FAULTS, NETWORK_FAULTS, Fault

MessageCallback = Callable[["SandboxHandle", dict[str, Any]], None]
ExitCallback = Callable[["SandboxHandle", str], None]


class BackendError(Exception):
    """A backend cannot do what was asked (start, create, kill). The message is for users."""


BUILTIN_PROGRAM = "built-in"  # the label of the built-in agent program


@dataclass(frozen=True)
class AgentProgram:
    """A user's agent program, run instead of the built-in agent (docs/agent-protocol.md).

    ``command`` runs in ``workdir`` (local: the directory; e2b: uploaded into the sandbox) with
    ``env`` added to its environment; on e2b, ``setup`` runs once per sandbox before it (say,
    ``pip install -r requirements.txt``) and ``template`` names the E2B template to start from.
    """

    command: tuple[str, ...]
    workdir: str | None = None
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # secret: never printed
    setup: str | None = None
    template: str | None = None

    @property
    def label(self) -> str:
        """A short name for tables and events: the command with paths cut to their file names."""
        words = [self.command[0].rsplit("/", 1)[-1]]
        words += [w.rstrip("/").rsplit("/", 1)[-1] if "/" in w else w for w in self.command[1:4]]
        text = " ".join(words) + (" ..." if len(self.command) > 4 else "")
        return text if len(text) <= 48 else text[:45] + "..."

    @property
    def environment(self) -> dict[str, str]:
        return dict(self.env)


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
    program: AgentProgram | None = None  # None: the backend's default (the built-in agent unless told)

    def agent_config(self) -> dict[str, Any]:
        """The configuration the agent program starts with."""
        return {
            "agent_id": self.agent_id,
            "kind": self.kind,
            "strategy": self.strategy,
            "symbols": list(self.symbols),
            "version": self.version,
            "capabilities": list(self.capabilities) if self.capabilities else list(capabilities_of(self.kind)),
            "heartbeat_s": self.heartbeat_s,
            "memory_limit_mb": self.memory_limit_mb,
            "params": dict(self.params),
            "defect": dict(self.defect),
            "seed": self.seed,
            "protocols": [PROTOCOL_VERSION],
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
    in_use: bool = False  # it belongs to a run that is still going: cleanup leaves it alone


@dataclass
class Leftovers:
    """What runs of one backend left behind, and what could not be looked at (and why)."""

    items: list[OwnedSandbox] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BackendCapabilities:
    """What a backend is and what the engine may expect of it."""

    name: str
    real: bool  # real processes or cloud sandboxes (wall clock), as opposed to simulated
    latency_budget_ms: float  # the p95 decision latency checks hold a backend to
    recovery_budget_s: float  # time to replace a failed agent
    heartbeat_s: float  # default heartbeat interval
    faults: frozenset[str] = frozenset()
    metrics_every_s: float = 1.0  # how often the engine reads each sandbox's CPU and memory


class Backend(abc.ABC):
    """Base class of every sandbox backend (mock, local, e2b, plug-ins)."""

    name: str = "backend"
    capabilities: BackendCapabilities

    # The program every agent of a run runs unless its group names one (``--agent-command``).
    default_program: AgentProgram | None = None

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

    def program_for(self, spec: SandboxSpec) -> AgentProgram | None:
        """The user's program a sandbox of ``spec`` runs (None: the built-in agent)."""
        return spec.program or self.default_program

    def program_label(self, spec: SandboxSpec) -> str:
        """What the agent of ``spec`` runs, for tables, events and exports."""
        program = self.program_for(spec)
        return program.label if program is not None else BUILTIN_PROGRAM

    def fault_methods(self, claims: frozenset[str] | None) -> dict[str, str]:
        """How each fault is performed on an agent whose hello claims ``claims`` fault commands
        (None: the built-in agent, which claims them all): fault kind -> a few words."""
        out = {kind: "in the router (nothing asked of the agent)" for kind in NETWORK_FAULTS}
        for kind in AGENT_FAULTS:
            command = "error-rate" if kind == "bad-version" else kind
            if kind == "crash":
                out[kind] = "the sandbox is killed"
            elif claims is None or command in claims:
                out[kind] = "by the agent (its fault command)"
            else:
                out[kind] = "not possible on this backend for this agent"
        return out

    @abc.abstractmethod
    async def create(self, spec: SandboxSpec) -> SandboxHandle: ...

    @abc.abstractmethod
    def send(self, handle: SandboxHandle, message: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    async def metrics(self, handle: SandboxHandle) -> SandboxMetrics: ...

    def metrics_now(self, handle: SandboxHandle) -> SandboxMetrics | None:
        """CPU and memory at once, where the backend can tell without waiting (None: ask ``metrics``)."""
        return None

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

    @classmethod
    async def leftovers(cls) -> Leftovers:
        """Sandboxes or processes that killed runs of this backend left behind (``swarm-tui cleanup``).

        Raises BackendError (one line) when the backend cannot be asked (a rejected key)."""
        return Leftovers()

    @classmethod
    async def kill_leftover(cls, item: OwnedSandbox) -> bool:
        """Kill one leftover found by :meth:`leftovers`; True if it is gone."""
        return False


# -- the registry ------------------------------------------------------------------------------------
ENTRY_POINT_GROUP = "swarm_tui.backends"
BUILTIN_ORDER = ("mock", "local", "e2b")  # how they are listed; plug-ins follow, by name


@functools.cache
def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def backend_names() -> tuple[str, ...]:
    """The registered backends: the built-in ones first, then plug-ins by name."""
    names = set(_entry_points())
    return tuple(n for n in BUILTIN_ORDER if n in names) + tuple(sorted(names - set(BUILTIN_ORDER)))


def backend_class(name: str) -> type[Backend]:
    """The backend registered under ``name``. Raises BackendError (one line) if there is none."""
    entry = _entry_points().get(name)
    if entry is None:
        known = ", ".join(backend_names()) or "none: is swarm-tui installed (pip install -e .)?"
        raise BackendError(f"unknown backend {name!r} (registered: {known})")
    cls = entry.load()
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise BackendError(f"backend {name!r} ({entry.value}) does not implement the sandbox interface")
    return cls


def create_backend(name: str, *, seed: int = 0, **options: Any) -> Backend:
    """A new backend by name, with its options (for example the e2b template)."""
    factory: Callable[..., Backend] = backend_class(name)
    return factory(seed=seed, **options)
