"""The mock backend: sandboxes simulated in-process.

Each simulated sandbox runs the real :class:`~swarm_tui.agent.core.AgentCore` (the same code
the agent program runs in real sandboxes), so answers are computed, not invented. What is
simulated is the machine around it, drawn from a seeded model:

* start latency (lognormal), response latency (lognormal base plus the task's cost), a fixed
  number of concurrent slots per sandbox (tasks queue for a free slot);
* heartbeats at the agent's interval;
* resource faults: ``crash`` silences the sandbox at once (no exit notice, as when a host
  vanishes: only the heartbeat detector can tell); ``cpu-spike`` multiplies service time and
  pins the CPU metric; ``memory-leak`` grows the memory metric until the sandbox's limit, where
  the simulated OOM killer ends it (the exit is reported, as a supervisor would);
* the agent's own faults (error rate, byzantine answers, slowness) are applied by the core.

Every random draw comes from a per-sandbox generator seeded from the run seed and the agent id,
so a run is reproducible for a seed.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass
from typing import Any

from swarm_tui.agent.core import AgentCore
from swarm_tui.engine.faults import AGENT_FAULTS, Fault
from swarm_tui.engine.sandbox import (
    Backend,
    BackendCapabilities,
    BackendError,
    OwnedSandbox,
    SandboxHandle,
    SandboxMetrics,
    SandboxSpec,
)

BASE_MEMORY_MB = 42.0
BUILTIN_ONLY = "the mock backend runs the built-in agent only: run agents' own programs with --backend local or e2b"


@dataclass(frozen=True)
class MockModel:
    """The seeded performance model of a simulated sandbox."""

    start_s: float = 0.4  # median start latency
    start_sigma: float = 0.3
    response_ms: float = 5.0  # median base response latency
    response_sigma: float = 0.25
    cost_sigma: float = 0.2  # jitter of a task's cost
    slots: int = 4  # tasks a sandbox works on at once
    error_rate: float = 0.0  # background transient errors


class MockSandbox:
    """One simulated sandbox around a real agent core."""

    __slots__ = (
        "_backend",
        "_busy_until",
        "_cpu_until",
        "_factor",
        "_hb",
        "_leak",
        "_rng",
        "alive",
        "busy_s",
        "core",
        "created",
        "handle",
        "inflight",
        "mem_mb",
        "spec",
    )

    def __init__(self, backend: MockBackend, handle: SandboxHandle, spec: SandboxSpec) -> None:
        self._backend = backend
        self.handle = handle
        self.spec = spec
        clock = backend.clock
        self._rng = random.Random(f"mock:{spec.seed}:{spec.agent_id}:{handle.id}")
        self.core = AgentCore(spec.agent_config(), clock.now, random.Random(f"core:{spec.seed}:{handle.id}"))
        self.alive = True
        self.created = clock.now()
        self._busy_until = [0.0] * max(1, backend.model.slots)
        self.inflight = 0
        self.busy_s = 0.0
        self._factor = 1.0
        self._cpu_until = 0.0
        self.mem_mb = BASE_MEMORY_MB
        self._leak: tuple[float, float, float] | None = None  # (since, rate MB/s, limit MB)
        self._hb: Any = None

    # -- lifecycle ---------------------------------------------------------------------------
    def boot(self) -> None:
        self._emit(self.core.hello())
        self._schedule_heartbeat(0)

    def _schedule_heartbeat(self, seq: int) -> None:
        self._hb = self._backend.clock.call_later(self.spec.heartbeat_s, self._heartbeat, seq + 1)

    def _heartbeat(self, seq: int) -> None:
        if not self.alive:
            return
        self._emit({"type": "heartbeat", "seq": seq})
        self._schedule_heartbeat(seq)

    def stop(self) -> None:
        self.alive = False
        if self._hb is not None:
            self._hb.cancel()

    # -- traffic -----------------------------------------------------------------------------
    def receive(self, msg: dict[str, Any]) -> None:
        if not self.alive:
            return  # a dead sandbox swallows everything, like a vanished host
        if msg.get("type") != "task":
            reply = self.core.handle(msg)
            if reply is not None:
                self._emit(reply)
            return
        reply = self.core.handle(msg)
        model = self._backend.model
        rng = self._rng
        if reply is not None and reply.get("ok") and model.error_rate and rng.random() < model.error_rate:
            reply = {"type": "result", "id": msg.get("id"), "ok": False, "error": "transient error"}
        service = rng.lognormvariate(0.0, model.response_sigma) * model.response_ms / 1000.0
        cost = float(msg.get("cost") or 0.0)
        if cost:
            service += cost * rng.lognormvariate(0.0, model.cost_sigma)
        now = self._backend.clock.now()
        factor = self.core.latency_factor()
        if now < self._cpu_until:
            factor *= self._factor
        service *= factor
        slots = self._busy_until
        start = max(now, slots[0])
        done = start + service
        heapq.heapreplace(slots, done)
        self.inflight += 1
        self.busy_s += service
        self._backend.clock.call_later(done - now, self._complete, reply)

    def _complete(self, reply: dict[str, Any] | None) -> None:
        self.inflight -= 1
        if self.alive and reply is not None:
            self._emit(reply)

    def _emit(self, msg: dict[str, Any]) -> None:
        self._backend._on_message(self.handle, msg)

    # -- faults ------------------------------------------------------------------------------
    def inject(self, fault: Fault) -> None:
        clock = self._backend.clock
        now = clock.now()
        if fault.kind == "crash":
            self.stop()
        elif fault.kind == "cpu-spike":
            self._factor = float(fault.params.get("factor", 6.0))
            self._cpu_until = now + (fault.duration if fault.duration is not None else 1e12)
        elif fault.kind == "memory-leak":
            rate = float(fault.params.get("rate_mb_s", 40.0))
            limit = float(fault.params.get("limit_mb", self.spec.memory_limit_mb))
            self._leak = (now, rate, limit)
            if rate > 0:
                clock.call_later(max(0.0, (limit - self.mem_mb) / rate), self._oom)
        else:
            self.core.apply_fault(fault.command())

    def _oom(self) -> None:
        if not self.alive or self._leak is None:
            return
        limit = self._leak[2]
        self.mem_mb = limit
        self.stop()
        self._backend._on_exit(self.handle, f"oom-killed at {limit:.0f} MB")

    def metrics(self) -> SandboxMetrics:
        now = self._backend.clock.now()
        mem = self.mem_mb
        if self._leak is not None and self.alive:
            since, rate, limit = self._leak
            mem = min(limit, BASE_MEMORY_MB + rate * (now - since))
            self.mem_mb = mem
        if not self.alive:
            cpu = 0.0
        elif now < self._cpu_until:
            cpu = 97.0
        else:
            slots = len(self._busy_until)
            busy = sum(1 for t in self._busy_until if t > now)
            cpu = 3.0 + 90.0 * busy / slots
        return SandboxMetrics(
            cpu_pct=round(cpu, 1), mem_mb=round(mem, 1), mem_limit_mb=self.spec.memory_limit_mb, alive=self.alive
        )


class MockBackend(Backend):
    """Sandboxes simulated in-process (the default backend)."""

    name = "mock"
    capabilities = BackendCapabilities(
        name="mock",
        real=False,
        latency_budget_ms=50.0,
        recovery_budget_s=5.0,
        heartbeat_s=1.0,
        faults=frozenset(AGENT_FAULTS),
    )

    def __init__(self, seed: int = 0, model: MockModel | None = None) -> None:
        super().__init__()
        self.seed = seed
        self.model = model or MockModel()
        self._rng = random.Random(f"mock-backend:{seed}")
        self._sandboxes: dict[str, MockSandbox] = {}
        self._counter = 0

    async def create(self, spec: SandboxSpec) -> SandboxHandle:
        if spec.program is not None:  # it simulates the built-in agent; a user's program needs a real backend
            raise BackendError(BUILTIN_ONLY)
        self._counter += 1
        sandbox_id = f"mock-{self._counter:04d}"
        delay = self._rng.lognormvariate(0.0, self.model.start_sigma) * self.model.start_s
        await self.clock.sleep(delay)
        handle = SandboxHandle(id=sandbox_id, agent_id=spec.agent_id, backend=self.name, created_at=self.clock.now())
        sandbox = MockSandbox(self, handle, spec)
        self._sandboxes[sandbox_id] = sandbox
        sandbox.boot()
        return handle

    def send(self, handle: SandboxHandle, message: dict[str, Any]) -> None:
        sandbox = self._sandboxes.get(handle.id)
        if sandbox is not None:
            sandbox.receive(message)

    async def metrics(self, handle: SandboxHandle) -> SandboxMetrics:
        return self.metrics_now(handle)

    def metrics_now(self, handle: SandboxHandle) -> SandboxMetrics:
        sandbox = self._sandboxes.get(handle.id)
        if sandbox is None:
            return SandboxMetrics(alive=False)
        return sandbox.metrics()

    async def inject(self, handle: SandboxHandle, fault: Fault) -> None:
        sandbox = self._sandboxes.get(handle.id)
        if sandbox is not None and sandbox.alive:
            sandbox.inject(fault)

    async def kill(self, handle: SandboxHandle, reason: str = "") -> None:
        sandbox = self._sandboxes.pop(handle.id, None)
        if sandbox is not None:
            sandbox.stop()

    async def list_owned(self) -> list[OwnedSandbox]:
        now = self.clock.now() if self._clock else 0.0
        return [
            OwnedSandbox(
                id=s.handle.id, backend=self.name, agent_id=s.spec.agent_id, run_id=s.spec.run_id, age_s=now - s.created
            )
            for s in self._sandboxes.values()
            if s.alive
        ]

    async def close(self) -> None:
        for sandbox in self._sandboxes.values():
            sandbox.stop()
        self._sandboxes.clear()

    def alive_count(self) -> int:
        return sum(1 for s in self._sandboxes.values() if s.alive)
