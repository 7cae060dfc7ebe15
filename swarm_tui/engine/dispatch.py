"""The dispatcher: gives tasks to agents, queues them when every agent is busy, retries them.

A task goes to a live agent with a free slot chosen by the routing policy, among the agents that
have the capability it needs (when capability routing is on). When no such agent is free, the
task waits in one central queue and is handed to the first agent that frees up; with
``pinned=True`` it is instead assigned to an agent at once and waits for that agent alone (what
a naive client does, kept so that scenarios can show the difference).

If the agent fails, is removed, times out or (with ``retry_errors``) answers with an error, the
task is retried on another agent, up to ``retries`` times. Every task ends with one
:class:`~swarm_tui.engine.events.TaskFinished` event and one :class:`TaskRecord`.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from swarm_tui.engine.agents import Agent, AgentState
from swarm_tui.engine.controllers.routing import LeastLoaded, RoutingPolicy
from swarm_tui.engine.events import TaskFinished, TaskRetried
from swarm_tui.engine.swarm import AgentError, RequestFailed, Swarm


class TaskRejected(Exception):
    """No agent can ever take this task (no agent has the capability it needs)."""


@dataclass
class Task:
    op: str
    data: dict[str, Any] = field(default_factory=dict)
    cap: str | None = None
    cost: float = 0.0
    pool: str | None = None
    role: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    cpu: bool = False  # the cost is CPU work (slowed by a CPU spike), not waiting


@dataclass
class TaskRecord:
    """What happened to one task."""

    id: int
    op: str
    cap: str | None
    cost: float
    submitted: float
    started: float | None = None
    finished: float | None = None
    agent: str = ""
    agents: list[str] = field(default_factory=list)
    pool: str = ""
    outcome: str = "pending"
    error: str = ""
    value: Any = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def failed(self) -> bool:
        """Finished without an answer (error, lost, rejected); a task still running is not."""
        return self.outcome not in ("ok", "pending")

    @property
    def wait(self) -> float:
        return (self.started - self.submitted) if self.started is not None else 0.0


Sender = Callable[[Agent, Task], Awaitable[Any]]


@dataclass(eq=False)
class _Waiter:
    """A task looking for an agent: its pool (switchable to the fallback), exclusions, pin."""

    task: Task
    pools: list[str | None]
    exclude: set[str] = field(default_factory=set)
    pinned: Agent | None = None
    future: asyncio.Future[Agent] | None = None  # set once it queues


class Dispatcher:
    """Routes tasks to agents with queueing, capability matching and retries."""

    SAMPLE_ABOVE = 256  # swarms larger than this are sampled, SAMPLE candidates per task
    SAMPLE = 16

    def __init__(
        self,
        swarm: Swarm,
        policy: RoutingPolicy | None = None,
        *,
        capacity: int = 4,
        timeout: float = 2.0,
        retries: int = 3,
        retry: bool = True,
        retry_errors: bool = False,
        match_capability: bool = True,
        pinned: bool = False,
        role: str | None = None,
        queue_timeout: float = 60.0,
        probe_interval_s: float = 1.0,
        send: Sender | None = None,
        choose_pool: Callable[[Task, bool], str | None] | None = None,
        keep_records: bool = True,
    ) -> None:
        self.swarm = swarm
        self.clock = swarm.clock
        self.policy = policy or LeastLoaded()
        self.capacity = capacity
        self.timeout = timeout
        self.retries = retries
        self.retry = retry
        self.retry_errors = retry_errors
        self.match_capability = match_capability
        self.pinned = pinned
        self.role = role
        self.queue_timeout = queue_timeout
        self.probe_interval_s = probe_interval_s
        self._send = send or self._default_send
        self.choose_pool = choose_pool
        # Long runs (soak, large swarms) keep no per-task records: the metrics have the figures.
        self.keep_records = keep_records
        self.records: list[TaskRecord] = []
        self.assigned: Counter[str] = Counter()
        self._busy: Counter[str] = Counter()
        self._waiters: deque[_Waiter] = deque()
        self._next = 0
        self._offset = 0
        self._last_probe: dict[str, float] = {}
        # Time during which a task waited while an agent that could take it sat idle.
        self.idle_wait_s = 0.0
        self.idle_wait_episodes = 0
        self._idle_since: float | None = None
        self.max_queue = 0
        # Called after every attempt: (agent, ok, latency ms, started at).
        self.attempt_listeners: list[Callable[[Agent, bool, float, float], None]] = []
        self.queue_samples: list[tuple[float, int]] = []
        swarm.on_state_change(lambda agent, old, new: self._serve_waiters())

    # -- helpers ------------------------------------------------------------------------------
    async def _default_send(self, agent: Agent, task: Task) -> Any:
        return await self.swarm.request(
            agent, task.op, task.data, cap=task.cap, cost=task.cost, timeout=self.timeout, cpu=task.cpu
        )

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def _capable(self, agent: Agent, task: Task) -> bool:
        return not self.match_capability or task.cap is None or task.cap in agent.capabilities

    def _eligible(self, agent: Agent, task: Task, pool: str | None) -> bool:
        if not agent.live:
            return False
        if self.role is not None and agent.role != self.role:
            return False
        if task.role is not None and agent.role != task.role:
            return False
        if pool is not None and agent.pool != pool:
            return False
        return self._capable(agent, task)

    def _free(self, agent: Agent) -> bool:
        return self._busy[agent.id] < self.capacity

    def _candidates(self, task: Task, pool: str | None, exclude: set[str]) -> list[Agent]:
        now = self.clock.now()
        out: list[Agent] = []
        degraded = []
        agents = list(self.swarm.agents.values())
        sample = len(agents) > self.SAMPLE_ABOVE
        start = 0
        if sample:
            # A large swarm: look at a window of agents that moves on with every task, instead of
            # scanning thousands per task; the policy chooses within it.
            self._offset = (self._offset + self.SAMPLE) % len(agents)
            start = self._offset
        for k in range(len(agents)):
            agent = agents[(start + k) % len(agents)]
            if agent.id in exclude or not self._eligible(agent, task, pool) or not self._free(agent):
                continue
            if agent.state == AgentState.DEGRADED:
                degraded.append(agent)
            else:
                out.append(agent)
                if sample and len(out) >= self.SAMPLE:
                    break
        # A degraded agent gets only an occasional probe, so it can show it has recovered.
        for agent in degraded:
            if now - self._last_probe.get(agent.id, -1e9) >= self.probe_interval_s:
                self._last_probe[agent.id] = now
                out.append(agent)
                break
        return out

    def _anyone_capable(self, task: Task) -> bool:
        return any(
            a.state != AgentState.STOPPED
            and self._capable(a, task)
            and (self.role is None or a.role == self.role)
            and (task.role is None or a.role == task.role)
            for a in self.swarm.agents.values()
        )

    def _pool_alive(self, pool: str) -> bool:
        return any(
            a.pool == pool and a.state in (AgentState.STARTING, AgentState.HEALTHY, AgentState.DEGRADED)
            for a in self.swarm.agents.values()
        )

    def _any_free(self) -> bool:
        return any(a.live and self._free(a) for a in self.swarm.agents.values())

    def _track_idle(self) -> None:
        """Integrate the time a task waits while an eligible agent sits idle."""
        now = self.clock.now()
        idle = bool(self._waiters) and any(
            a.live
            and a.state != AgentState.DEGRADED
            and self._busy[a.id] == 0
            and (self.role is None or a.role == self.role)
            for a in self.swarm.agents.values()
        )
        if idle and self._idle_since is None:
            self._idle_since = now
        elif not idle and self._idle_since is not None:
            spent = now - self._idle_since
            if spent > 0:
                self.idle_wait_s += spent
                self.idle_wait_episodes += 1
            self._idle_since = None

    def _take(self, w: _Waiter) -> Agent | None:
        """An agent for this task now, with its slot reserved; None if it must wait."""
        task = w.task
        pool = w.pools[0]
        if pool is not None and self.choose_pool is not None and not self._pool_alive(pool):
            # The pool was retired (rolled back, aborted) while this task waited.
            w.pools[0] = pool = self.choose_pool(task, True)
        agent: Agent | None = None
        if self.pinned:
            if w.pinned is None or not w.pinned.live:
                everyone = [
                    a for a in self.swarm.agents.values() if a.id not in w.exclude and self._eligible(a, task, pool)
                ]
                w.pinned = self.policy.choose(everyone) if everyone else None
            if w.pinned is not None and self._free(w.pinned):
                agent = w.pinned
        else:
            candidates = self._candidates(task, pool, w.exclude)
            if not candidates and w.exclude:
                eligible = [a for a in self.swarm.agents.values() if self._eligible(a, task, pool)]
                if eligible and all(a.id in w.exclude for a in eligible):
                    # Only agents that failed this task before are left: try them again.
                    w.exclude.clear()
                    candidates = self._candidates(task, pool, w.exclude)
            if candidates:
                agent = self.policy.choose(candidates)
        if agent is not None:
            self._busy[agent.id] += 1
        return agent

    def _serve_waiters(self) -> None:
        """Hand free agents to waiting tasks, first come first served."""
        if self._waiters:
            for w in list(self._waiters):
                future = w.future
                if future is None or future.done():
                    continue
                if not self._any_free():
                    break
                agent = self._take(w)
                if agent is not None:
                    self._waiters.remove(w)
                    future.set_result(agent)
                elif not self._anyone_capable(w.task):
                    self._waiters.remove(w)
                    future.set_exception(TaskRejected(f"no agent has capability {w.task.cap}"))
        self._track_idle()

    async def _acquire(self, w: _Waiter, deadline: float) -> Agent:
        """Wait for an agent (its slot reserved); FIFO among waiting tasks."""
        if not self._waiters:
            agent = self._take(w)
            if agent is not None:
                return agent
        if not self._anyone_capable(w.task):
            raise TaskRejected(f"no agent has capability {w.task.cap}")
        future: asyncio.Future[Agent] = asyncio.get_running_loop().create_future()
        w.future = future
        self._waiters.append(w)
        self.max_queue = max(self.max_queue, len(self._waiters))
        self._serve_waiters()
        try:
            return await asyncio.wait_for(asyncio.shield(future), max(0.0, deadline - self.clock.now()))
        except TimeoutError:
            if future.done() and not future.exception():
                self._busy[future.result().id] -= 1  # handed over at the last moment: give it back
            raise RequestFailed("queue-timeout") from None
        finally:
            if w in self._waiters:
                self._waiters.remove(w)
            self._track_idle()

    # -- the public API ----------------------------------------------------------------------
    async def submit(self, task: Task) -> TaskRecord:
        """Run a task to its end: ok, error, lost (no answer after retries) or rejected."""
        self._next += 1
        now = self.clock.now()
        rec = TaskRecord(id=self._next, op=task.op, cap=task.cap, cost=task.cost, submitted=now, meta=task.meta)
        if self.keep_records:
            self.records.append(rec)
        attempts = 0
        deadline = now + self.queue_timeout
        w = _Waiter(task, [self.choose_pool(task, False) if self.choose_pool else task.pool])
        while True:
            try:
                agent = await self._acquire(w, deadline)
            except TaskRejected as exc:
                self._finish(rec, "rejected", str(exc), attempts)
                return rec
            except RequestFailed as exc:
                self._finish(rec, "lost", exc.reason, attempts)
                return rec
            attempts += 1
            if rec.started is None:
                rec.started = self.clock.now()
            rec.agent = agent.id
            rec.agents.append(agent.id)
            rec.pool = agent.pool
            self.assigned[agent.id] += 1
            self._track_idle()
            attempt_start = self.clock.now()
            try:
                rec.value = await self._send(agent, task)
            except (RequestFailed, AgentError) as exc:
                self._attempted(agent, False, attempt_start)
                reason = exc.reason if isinstance(exc, RequestFailed) else exc.error
                retryable = isinstance(exc, RequestFailed) or self.retry_errors
                if self.retry and retryable and attempts <= self.retries:
                    w.exclude.add(agent.id)
                    self.swarm.publish(TaskRetried(t=self.clock.now(), task=rec.id, agent=agent.id, reason=reason))
                    if self.choose_pool:
                        w.pools[0] = self.choose_pool(task, True)
                    continue
                self._finish(rec, "error" if isinstance(exc, AgentError) else "lost", reason, attempts, attempt_start)
                return rec
            finally:
                self._busy[agent.id] -= 1
                self._serve_waiters()
            self._attempted(agent, True, attempt_start)
            self._finish(rec, "ok", "", attempts, attempt_start)
            return rec

    def _attempted(self, agent: Agent, ok: bool, started: float) -> None:
        latency_ms = (self.clock.now() - started) * 1000.0
        for listener in self.attempt_listeners:
            listener(agent, ok, latency_ms, started)

    def _finish(
        self, rec: TaskRecord, outcome: str, error: str, attempts: int, attempt_start: float | None = None
    ) -> None:
        now = self.clock.now()
        rec.finished = now
        rec.outcome = outcome
        rec.error = error
        self.swarm.publish(
            TaskFinished(
                t=now,
                task=rec.id,
                op=rec.op,
                agent=rec.agent,
                ok=outcome == "ok",
                outcome=outcome,
                latency_ms=round((now - rec.submitted) * 1000.0, 4),
                wait_ms=round(rec.wait * 1000.0, 4),
                attempts=attempts,
                submitted=rec.submitted,
                pool=rec.pool,
                error=error,
                service_ms=round((now - attempt_start) * 1000.0, 4) if attempt_start is not None else None,
            )
        )

    def spawn(self, task: Task) -> asyncio.Task[TaskRecord]:
        """Submit without waiting (for open-loop load)."""
        return self.swarm.spawn(self.submit(task))

    def sample_queue(self) -> None:
        self.queue_samples.append((self.clock.now(), len(self._waiters)))
