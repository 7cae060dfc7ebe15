"""The swarm: agents deployed into sandboxes, the traffic to and from them, and their lifecycle.

The swarm owns the agents of one run, the topology and the router. It deploys agents through a
backend, sends them requests (through the router) and matches their replies, records
heartbeats, and moves agents between states. It decides nothing: detectors and controllers
(failure detector, replacement, autoscaler, rollouts, ...) call :meth:`fail_agent`,
:meth:`deploy` and :meth:`remove`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from swarm_tui.engine.agents import LIVE_STATES, Agent, AgentSpec, AgentState
from swarm_tui.engine.clock import Clock
from swarm_tui.engine.events import AgentStateChanged, Event, EventBus, FailureDetected
from swarm_tui.engine.protocol import INVALID, check_message, check_value
from swarm_tui.engine.router import CTL, MessageRouter
from swarm_tui.engine.sandbox import Backend, BackendError, SandboxHandle, SandboxSpec
from swarm_tui.engine.topology import Topology

# Messages that travel from the engine to an agent; everything else travels back.
_TO_AGENT = frozenset({"task", "tick", "fault", "ping"})


class RequestFailed(Exception):
    """A request got no answer: its agent failed or was removed, or it timed out."""

    def __init__(self, reason: str, agent: str = "") -> None:
        super().__init__(f"{reason} ({agent})" if agent else reason)
        self.reason = reason
        self.agent = agent


class AgentError(Exception):
    """The agent answered with an error."""

    def __init__(self, error: str, agent: str = "") -> None:
        super().__init__(error)
        self.error = error
        self.agent = agent


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[Any]
    agent: str
    src: str
    sent: float
    timer: asyncio.TimerHandle | None
    task: bool = True  # a task counts towards the agent's in-flight work; a ping does not
    op: str = "ping"  # what was asked (a result's value is checked against it)


StateListener = Callable[[Agent, AgentState, AgentState], None]


class Swarm:
    """The agents of one run and the traffic between them and the engine."""

    def __init__(
        self,
        backend: Backend,
        clock: Clock,
        bus: EventBus,
        topology: Topology,
        *,
        scenario: str = "",
        pattern: str = "",
        run_id: str = "",
        seed: int = 0,
        heartbeat_s: float | None = None,
        enforce_links: bool = True,
        ready_timeout_s: float = 30.0,
        validate: bool | None = None,
        memory_limit_mb: float = 512.0,
    ) -> None:
        self.backend = backend
        self.clock = clock
        self.bus = bus
        self.topology = topology
        self.scenario = scenario
        self.pattern = pattern
        self.run_id = run_id
        self.seed = seed
        self.heartbeat_s = heartbeat_s or backend.capabilities.heartbeat_s
        self.memory_limit_mb = memory_limit_mb  # each sandbox's, enforced by the backend
        self.ready_timeout_s = ready_timeout_s
        self.router = MessageRouter(topology, clock, seed=f"{seed}:{scenario}", enforce_links=enforce_links)
        self.router.connect(self._deliver, self._deliver)
        backend.bind(clock, self._on_backend_message, self._on_backend_exit)
        self.agents: dict[str, Agent] = {}
        self._pending: dict[int, _Pending] = {}
        self._agent_pending: dict[str, dict[int, None]] = {}
        self._ready: dict[str, asyncio.Future[None]] = {}
        self._ids: dict[str, int] = {}
        self._next_id = 0
        self._listeners: list[StateListener] = []
        self._message_listeners: list[Callable[[Agent, dict[str, Any]], None]] = []
        self._tasks: dict[asyncio.Task[Any], None] = {}
        self.inflight_killed = 0
        self.late_replies = 0
        # Exceptions raised by background work: a scenario with any is reported as an error.
        self.errors: list[BaseException] = []
        # Every message from an agent in a real sandbox (a process, a cloud sandbox: code outside
        # the engine) is checked against the protocol before the engine acts on it. Messages from
        # the mock backend are not, by default: they are made in-process by the engine's own
        # AgentCore, and the mock routes hundreds of thousands a second, where the checks would cost.
        self.validate = backend.capabilities.real if validate is None else validate
        self._muted: set[str] = set()  # sandboxes that broke the protocol: nothing they say counts

    # -- events and listeners ----------------------------------------------------------------
    def publish(self, event: Event) -> None:
        event.scenario = self.scenario
        self.bus.publish(event)

    def on_state_change(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def on_agent_message(self, listener: Callable[[Agent, dict[str, Any]], None]) -> None:
        """Called for every message an agent sends that is not a reply (heartbeats, hello)."""
        self._message_listeners.append(listener)

    def set_state(self, agent: Agent, new: AgentState, reason: str = "") -> None:
        old = agent.state
        if old == new:
            return
        agent.state = new
        agent.reason = reason
        if new == AgentState.STOPPED:
            agent.stopped_at = self.clock.now()
        self.publish(
            AgentStateChanged(
                t=self.clock.now(),
                agent=agent.id,
                old=old.value,
                new=new.value,
                reason=reason,
                role=agent.role,
                version=agent.version,
                pool=agent.pool,
                sandbox=agent.sandbox.id if agent.sandbox else "",
            )
        )
        for listener in self._listeners:
            listener(agent, old, new)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str = "") -> asyncio.Task[Any]:
        """Run a background coroutine that lives as long as the swarm."""
        task = asyncio.get_running_loop().create_task(coro, name=name or None)
        self._tasks[task] = None
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._tasks.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            self.errors.append(task.exception())  # type: ignore[arg-type]

    # -- queries -----------------------------------------------------------------------------
    def live(self, role: str | None = None, pool: str | None = None) -> list[Agent]:
        return [
            a
            for a in self.agents.values()
            if a.state in LIVE_STATES and (role is None or a.role == role) and (pool is None or a.pool == pool)
        ]

    def members(self, role: str | None = None, pool: str | None = None) -> list[Agent]:
        """Agents not yet stopped or failed (starting, live or draining)."""
        return [
            a
            for a in self.agents.values()
            if a.state not in (AgentState.FAILED, AgentState.STOPPED)
            and (role is None or a.role == role)
            and (pool is None or a.pool == pool)
        ]

    # -- deploy and remove -------------------------------------------------------------------
    def _new_id(self, spec: AgentSpec) -> str:
        prefix = spec.name or spec.kind
        n = self._ids.get(prefix, 0) + 1
        self._ids[prefix] = n
        return f"{prefix}-{n}"

    async def deploy(self, spec: AgentSpec, *, replaces: Agent | None = None) -> Agent:
        """Start an agent in a new sandbox and wait until it says hello (or fails)."""
        agent = Agent(
            id=self._new_id(spec), spec=spec, created_at=self.clock.now(), replaces=replaces.id if replaces else None
        )
        self.agents[agent.id] = agent
        if replaces is not None and replaces.id in self.topology:
            self.topology.replace(replaces.id, agent.id)
        else:
            self.topology.add(agent.id, spec.role)
        sandbox_spec = SandboxSpec(
            agent_id=agent.id,
            kind=spec.kind,
            strategy=spec.resolved_strategy,
            symbols=list(spec.symbols),
            version=spec.version,
            capabilities=list(spec.capabilities) if spec.capabilities is not None else None,
            heartbeat_s=self.heartbeat_s,
            memory_limit_mb=self.memory_limit_mb,
            params=dict(spec.params),
            defect=dict(spec.defect),
            seed=self.seed,
            run_id=self.run_id,
            pattern=self.pattern,
            program=spec.program,
        )
        self.publish(
            AgentStateChanged(
                t=self.clock.now(),
                agent=agent.id,
                old="",
                new="starting",
                reason=f"replaces {replaces.id}" if replaces else "deployed",
                role=spec.role,
                version=spec.version,
                pool=spec.pool,
                agent_kind=spec.kind,
                strategy=spec.resolved_strategy,
                program=self.backend.program_label(sandbox_spec),
            )
        )
        loop = asyncio.get_running_loop()
        ready = self._ready[agent.id] = loop.create_future()
        try:
            agent.sandbox = await self.backend.create(sandbox_spec)
            agent.last_heartbeat = self.clock.now()
            if agent.state == AgentState.STARTING:
                await asyncio.wait_for(asyncio.shield(ready), self.ready_timeout_s)
            if agent.state == AgentState.FAILED and agent.sandbox is not None:
                # It failed while it started (its hello broke the protocol, say).
                with contextlib.suppress(BackendError):
                    await self.backend.kill(agent.sandbox, "start failed")
        except (BackendError, TimeoutError) as exc:
            reason = str(exc) or "no hello from the agent in time"
            agent.failed_at = self.clock.now()
            self.set_state(agent, AgentState.FAILED, f"start failed: {reason}")
            if agent.sandbox is not None:
                with contextlib.suppress(BackendError):
                    await self.backend.kill(agent.sandbox, "start failed")
        finally:
            self._ready.pop(agent.id, None)
        return agent

    async def deploy_many(self, specs: list[AgentSpec]) -> list[Agent]:
        """Deploy several agents at once (sandboxes start concurrently)."""
        return list(await asyncio.gather(*(self.deploy(s) for s in specs)))

    async def remove(
        self, agent: Agent, *, drain: bool = True, reason: str = "removed", drain_timeout_s: float = 10.0
    ) -> None:
        """Take an agent out: stop giving it work, let in-flight work finish, kill the sandbox.

        An agent already being drained is left to its drain (removing it again would kill its
        in-flight work)."""
        if agent.state in (AgentState.STOPPED, AgentState.DRAINING):
            return
        if drain and agent.state in LIVE_STATES:
            self.set_state(agent, AgentState.DRAINING, reason)
            deadline = self.clock.now() + drain_timeout_s
            while agent.inflight > 0 and self.clock.now() < deadline:
                await self.clock.sleep(0.02)
        self.inflight_killed += agent.inflight
        await self.kill_sandbox(agent, reason)
        self.set_state(agent, AgentState.STOPPED, reason)
        self.topology.remove(agent.id)

    async def kill_sandbox(self, agent: Agent, reason: str) -> None:
        """Kill an agent's sandbox (its record and place in the topology stay)."""
        if agent.sandbox is not None:
            with contextlib.suppress(BackendError):
                await self.backend.kill(agent.sandbox, reason)
        self._fail_pending(agent.id, "removed")

    def fail_agent(self, agent: Agent, *, detector: str, reason: str) -> None:
        """Mark an agent failed (called by detectors) and fail the requests waiting on it."""
        if agent.state in (AgentState.FAILED, AgentState.STOPPED):
            return
        now = self.clock.now()
        agent.failed_at = now
        self.publish(
            FailureDetected(
                t=now, agent=agent.id, detector=detector, reason=reason, silent_s=round(now - agent.last_heartbeat, 4)
            )
        )
        self.set_state(agent, AgentState.FAILED, reason)
        self._fail_pending(agent.id, "agent-failed")
        ready = self._ready.get(agent.id)
        if ready is not None and not ready.done():
            ready.set_result(None)  # failed while starting: deploy need not wait for a hello

    async def dispose(self, agent: Agent) -> None:
        """Kill the sandbox of a failed agent and drop it from the topology."""
        await self.kill_sandbox(agent, "failed")
        self.set_state(agent, AgentState.STOPPED, "disposed")
        self.topology.remove(agent.id)

    # -- requests ----------------------------------------------------------------------------
    def request(
        self,
        agent: Agent,
        op: str,
        data: dict[str, Any] | None = None,
        *,
        cap: str | None = None,
        cost: float = 0.0,
        src: str = CTL,
        timeout: float = 5.0,
        cpu: bool = False,
    ) -> asyncio.Future[Any]:
        """Send a task to an agent; the future gets the answer's value or an exception."""
        self._next_id += 1
        task_id = self._next_id
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        timer = self.clock.call_later(timeout, self._timeout, task_id) if timeout else None
        self._pending[task_id] = _Pending(future, agent.id, src, self.clock.now(), timer, True, op)
        self._agent_pending.setdefault(agent.id, {})[task_id] = None
        agent.inflight += 1
        msg = {"type": "task", "id": task_id, "op": op, "cap": cap, "data": data or {}, "cost": cost}
        if cpu:
            msg["cpu"] = True  # the cost is computation, not waiting
        self.router.send(src, agent.id, msg)
        return future

    def ping(self, src: Agent, dst: Agent, timeout: float = 2.0) -> asyncio.Future[Any]:
        """Agent-to-agent ping through the router (membership gossip)."""
        self._next_id += 1
        task_id = self._next_id
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        timer = self.clock.call_later(timeout, self._timeout, task_id)
        self._pending[task_id] = _Pending(future, dst.id, src.id, self.clock.now(), timer, task=False)
        self.router.send(src.id, dst.id, {"type": "ping", "id": task_id})
        return future

    def broadcast(self, msg: dict[str, Any], agents: list[Agent] | None = None) -> None:
        """Send a message (a tick, say) from the engine to agents; no answer expected."""
        for agent in agents if agents is not None else self.live():
            self.router.send(CTL, agent.id, msg)

    async def inject(self, agent: Agent, fault: Any) -> None:
        if agent.sandbox is not None:
            await self.backend.inject(agent.sandbox, fault)

    def _settle(self, task_id: int) -> _Pending | None:
        pending = self._pending.pop(task_id, None)
        if pending is None:
            return None
        if pending.timer is not None:
            pending.timer.cancel()
        agent_pending = self._agent_pending.get(pending.agent)
        if agent_pending is not None:
            agent_pending.pop(task_id, None)
        return pending

    def _timeout(self, task_id: int) -> None:
        pending = self._settle(task_id)
        if pending is None:
            return
        agent = self.agents.get(pending.agent)
        if pending.task and agent is not None and agent.inflight > 0:
            agent.inflight -= 1
        if not pending.future.done():
            pending.future.set_exception(RequestFailed("timeout", pending.agent))

    def _fail_pending(self, agent_id: str, reason: str) -> None:
        agent = self.agents.get(agent_id)
        for task_id in list(self._agent_pending.get(agent_id, ())):
            pending = self._settle(task_id)
            if pending is None:
                continue
            if agent is not None and agent.inflight > 0:
                agent.inflight -= 1
            if not pending.future.done():
                pending.future.set_exception(RequestFailed(reason, agent_id))

    # -- traffic from the backend and the router ---------------------------------------------
    def _on_backend_message(self, handle: SandboxHandle, msg: dict[str, Any]) -> None:
        agent = self.agents.get(handle.agent_id)
        if agent is None or agent.state == AgentState.STOPPED:
            return
        if agent.sandbox is not None and agent.sandbox.id != handle.id:
            return  # a message from an older sandbox of this agent
        if agent.sandbox is None:
            agent.sandbox = handle  # its hello can come before create() returns
        mtype = msg.get("type")
        if self.validate or mtype == INVALID:
            if handle.id in self._muted:
                return
            problem = self._violation(agent, msg, mtype)
            if problem is not None:
                # The agent broke the protocol (garbage, not JSON, an endless line, a flood, a
                # field of the wrong type): it is faulty, and nothing more it says counts.
                self._muted.add(handle.id)
                self.fail_agent(agent, detector="protocol", reason=f"protocol violation: {problem}")
                return
        if mtype in ("result", "pong"):
            task_id = msg.get("id")
            pending = self._pending.get(task_id) if isinstance(task_id, int) else None
            if pending is None:
                self.late_replies += 1
                return
            # The reply travels back to whoever asked, through the router.
            self.router.send(agent.id, pending.src, msg)
        else:
            self.router.send(agent.id, CTL, msg)

    def _violation(self, agent: Agent, msg: dict[str, Any], mtype: Any) -> str | None:
        """Why a message from an agent breaks the protocol, or None."""
        if mtype == INVALID:  # the backend could not read a line of the agent's output
            return str(msg.get("error") or "unreadable output")[:300]
        problem = check_message(msg)
        if problem is not None or (mtype != "result" and mtype != "pong"):
            return problem
        pending = self._pending.get(msg["id"])
        if pending is None:
            return None  # a late reply (its request timed out or failed): counted, not used
        asked = "task" if pending.task else "ping"
        if pending.agent != agent.id:
            return f"{mtype} {msg['id']} answers a {asked} sent to another agent"
        if (mtype == "result") != pending.task:
            return f"{mtype} {msg['id']} answers a {asked}"
        if mtype == "result" and msg["ok"]:
            return check_value(pending.op, msg["value"])
        return None

    def _on_backend_exit(self, handle: SandboxHandle, reason: str) -> None:
        agent = self.agents.get(handle.agent_id)
        if agent is None or (agent.sandbox is not None and agent.sandbox.id != handle.id):
            return
        if agent.state in (AgentState.STOPPED, AgentState.FAILED):
            return
        self.fail_agent(agent, detector="exit", reason=f"sandbox exited: {reason}")

    def _deliver(self, src: str, dst: str, msg: dict[str, Any]) -> None:
        mtype = msg.get("type")
        if mtype in _TO_AGENT:
            agent = self.agents.get(dst)
            if agent is not None and agent.sandbox is not None:
                self.backend.send(agent.sandbox, msg)
            return
        agent = self.agents.get(src)
        if agent is None:
            return
        if mtype == "result" or mtype == "pong":
            self._on_reply(agent, msg)
        elif mtype == "heartbeat":
            agent.last_heartbeat = self.clock.now()
            for listener in self._message_listeners:
                listener(agent, msg)
        elif mtype == "hello":
            agent.last_heartbeat = self.clock.now()
            if agent.state == AgentState.STARTING:
                agent.ready_at = self.clock.now()
                self.set_state(agent, AgentState.HEALTHY, "hello")
                ready = self._ready.get(agent.id)
                if ready is not None and not ready.done():
                    ready.set_result(None)
            for listener in self._message_listeners:
                listener(agent, msg)
        else:
            for listener in self._message_listeners:
                listener(agent, msg)

    def _on_reply(self, agent: Agent, msg: dict[str, Any]) -> None:
        pending = self._settle(msg.get("id"))  # type: ignore[arg-type]
        if pending is None:
            self.late_replies += 1
            return
        latency_ms = (self.clock.now() - pending.sent) * 1000.0
        if msg.get("type") == "pong":
            if not pending.future.done():
                pending.future.set_result(latency_ms)
            return
        if agent.inflight > 0:
            agent.inflight -= 1
        ok = bool(msg.get("ok"))
        agent.record(ok, latency_ms)
        if pending.future.done():
            return
        if ok:
            pending.future.set_result(msg.get("value"))
        else:
            pending.future.set_exception(AgentError(str(msg.get("error", "error")), agent.id))

    # -- metrics and shutdown ----------------------------------------------------------------
    async def poll_metrics(self, interval: float = 1.0) -> None:
        """Refresh every live agent's CPU and memory from its sandbox, forever."""
        while True:
            for agent in list(self.agents.values()):
                if agent.sandbox is not None and agent.state not in (AgentState.STOPPED, AgentState.FAILED):
                    try:
                        m = await self.backend.metrics(agent.sandbox)
                    except BackendError:
                        continue
                    agent.cpu_pct, agent.mem_mb = m.cpu_pct, m.mem_mb
            await self.clock.sleep(interval)

    async def shutdown(self) -> None:
        """Stop background work and kill every sandbox. Safe to call twice."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for agent in self.agents.values():
            self._fail_pending(agent.id, "shutdown")
            if agent.state not in (AgentState.STOPPED,):
                agent.state = AgentState.STOPPED
        await self.backend.close()
