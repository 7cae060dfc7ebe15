"""The mock backend: sandboxes simulated in-process.

Each simulated sandbox runs the real :class:`~swarm_tui.agent.core.AgentCore` (the same code
the agent program runs in real sandboxes), so answers are computed, not invented. What is
simulated is the machine around it, drawn from a seeded model:

* start latency (lognormal), response latency (lognormal base plus the task's cost), a fixed
  number of concurrent slots per sandbox (tasks queue for a free slot);
* heartbeats at the agent's interval;
* CPU and memory: each sandbox starts at its own resident size and drifts (a seeded random walk,
  a few tenths of a MB and a few CPU points a second), and CPU rises with the slots in use;
* resource faults: ``crash`` silences the sandbox at once (no exit notice, as when a host
  vanishes: only the heartbeat detector can tell); ``cpu-spike`` multiplies service time and
  pins the CPU metric; ``memory-leak`` allocates in uneven steps (``rate_mb_s`` on average) and
  the sandbox's OOM killer, which looks every ``oom_check_s`` like a cgroup's, ends it once
  memory passes the sandbox's memory limit (``memory_limit_mb``, or the fault's own lower
  ``limit_mb``, as the agent program does); the exit is reported, as a supervisor would;
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
    memory_mb: float = BASE_MEMORY_MB  # median resident size of an idle agent
    memory_spread_mb: float = 4.0  # how far sandboxes differ at start
    memory_walk_mb: float = 0.3  # how far an idle sandbox's memory drifts in a second
    idle_cpu_pct: float = 3.0  # CPU of an idle agent (its heartbeats, its runtime)
    cpu_walk_pct: float = 1.0  # how far idle CPU drifts in a second
    leak_step_s: float = 0.25  # a leaking agent allocates this often, in uneven steps
    oom_check_s: float = 0.25  # the OOM killer looks this often


class MockSandbox:
    """One simulated sandbox around a real agent core."""

    __slots__ = (
        "_backend",
        "_base",
        "_busy_until",
        "_cpu_until",
        "_drift",
        "_drift_at",
        "_factor",
        "_hb",
        "_idle_cpu",
        "_leak",
        "_leak_rng",
        "_leaked_mb",
        "_rest_mb",
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
        model = backend.model
        # The machine's own noise comes from a generator of its own: reading the metrics never
        # changes what the experiment draws (latencies, errors), so a seed gives the same run.
        self._drift = random.Random(f"drift:{spec.seed}:{handle.id}")
        self._drift_at = clock.now()
        # Each sandbox has its own steady size and idle CPU, and wanders around them.
        self._base = (
            max(8.0, self._drift.gauss(model.memory_mb, model.memory_spread_mb / 2)),
            max(0.5, self._drift.gauss(model.idle_cpu_pct, model.cpu_walk_pct)),
        )
        self._rest_mb, self._idle_cpu = self._base
        self._leak: tuple[float, float | None] | None = None  # (rate MB/s, the fault's own limit MB)
        self._leak_rng = random.Random(f"leak:{spec.seed}:{handle.id}")
        self._leaked_mb = 0.0
        self.mem_mb = self._rest_mb
        self._hb: Any = None

    # -- lifecycle ---------------------------------------------------------------------------
    def boot(self) -> None:
        self._emit(self.core.hello())
        self._schedule_heartbeat(0)
        self._check_memory()  # a limit below the agent's resident size kills it at start

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
            cap = fault.params.get("limit_mb")
            self._leak = (rate, float(cap) if cap is not None else None)
            if rate > 0:
                self._leak_step()
        else:
            self.core.apply_fault(fault.command())

    def _leak_step(self) -> None:
        """Allocate one uneven step of the leak (on average ``rate_mb_s``), then let the OOM
        killer look."""
        if not self.alive or self._leak is None:
            return
        step_s = self._backend.model.leak_step_s
        self._leaked_mb += self._leak[0] * step_s * self._leak_rng.uniform(0.2, 1.8)
        self.mem_mb = self._rest_mb + self._leaked_mb
        self._check_memory()
        if self.alive:
            self._backend.clock.call_later(step_s, self._leak_step)

    def _limit_mb(self) -> float:
        own = self._leak[1] if self._leak is not None else None
        limit = self.spec.memory_limit_mb
        return min(limit, own) if own is not None else limit

    def _check_memory(self) -> None:
        """The OOM killer: past the limit, the agent is killed at its next look."""
        if self.alive and self.mem_mb > self._limit_mb():
            self._backend.clock.call_later(self._backend.model.oom_check_s, self._oom)

    def _oom(self) -> None:
        limit = self._limit_mb()
        if not self.alive or self.mem_mb <= limit:
            return
        killed_at = self.mem_mb
        self.stop()
        self._backend._on_exit(self.handle, f"oom-killed at {killed_at:.0f} MB (limit {limit:g} MB)")

    def _drift_to(self, now: float) -> None:
        """Move the idle resident size and CPU along their seeded walks up to ``now`` (pulled back
        towards the sandbox's own steady figures, so a long run does not wander off)."""
        dt = now - self._drift_at
        if dt <= 0:
            return
        self._drift_at = now
        model, rng = self._backend.model, self._drift
        pull = min(1.0, 0.05 * dt)
        base_mb, base_cpu = self._base
        self._rest_mb += pull * (base_mb - self._rest_mb) + rng.gauss(0.0, model.memory_walk_mb * dt**0.5)
        self._rest_mb = max(8.0, self._rest_mb)
        self._idle_cpu += pull * (base_cpu - self._idle_cpu) + rng.gauss(0.0, model.cpu_walk_pct * dt**0.5)
        self._idle_cpu = min(20.0, max(0.5, self._idle_cpu))
        self.mem_mb = self._rest_mb + self._leaked_mb
        self._check_memory()

    def metrics(self) -> SandboxMetrics:
        now = self._backend.clock.now()
        if self.alive:
            self._drift_to(now)
        if not self.alive:
            cpu = 0.0
        elif now < self._cpu_until:
            cpu = min(100.0, 95.0 + self._idle_cpu / 4)
        else:
            slots = len(self._busy_until)
            busy = sum(1 for t in self._busy_until if t > now)
            cpu = min(100.0, self._idle_cpu + 90.0 * busy / slots)
        return SandboxMetrics(
            cpu_pct=round(cpu, 1),
            mem_mb=round(self.mem_mb, 1),
            mem_limit_mb=self.spec.memory_limit_mb,
            alive=self.alive,
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
