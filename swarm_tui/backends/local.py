"""The local backend: one OS process per agent, running the agent program.

Line-delimited JSON over the process's stdin/stdout; CPU and memory from the process (psutil);
a crash is a real SIGKILL, the other faults are performed by the agent program itself. The
processes never outlive the engine: each closes when its stdin closes, dies with its parent
(Linux), and ``close()`` kills whatever is left. A watchdog enforces each agent's memory limit
the way a cgroup would (SIGKILL above the limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

from swarm_tui.engine.faults import AGENT_FAULTS, Fault
from swarm_tui.engine.protocol import INVALID, LINE_LIMIT, FloodGate, decode_line, invalid
from swarm_tui.engine.sandbox import (
    Backend,
    BackendCapabilities,
    BackendError,
    Leftovers,
    OwnedSandbox,
    SandboxHandle,
    SandboxMetrics,
    SandboxSpec,
)

MARKER = "swarm-tui-agent"  # on every agent's command line, so `swarm-tui cleanup` finds strays
START_TIMEOUT_S = 15.0
DRAIN_PAUSE_S = 0.05  # a faulty agent's output is read (and thrown away) in gulps this far apart
_ASKS = frozenset({"task", "ping"})  # messages to an agent that it answers


@dataclass
class _Agent:
    handle: SandboxHandle
    proc: asyncio.subprocess.Process
    spec: SandboxSpec
    ps: psutil.Process | None
    reader: asyncio.Task[None] | None = None
    gate: FloodGate = field(default_factory=FloodGate)
    created: float = field(default_factory=time.monotonic)
    exited: bool = False
    killed: bool = False


def agent_command(python: str, config: dict[str, Any], run_id: str, program: str | None = None) -> list[str]:
    run = ["-c", program] if program is not None else ["-m", "swarm_tui.agent"]
    return [python, "-u", *run, "--config", json.dumps(config, separators=(",", ":")), "--marker", f"{MARKER}:{run_id}"]


class LocalBackend(Backend):
    """Agents as local processes."""

    name = "local"
    capabilities = BackendCapabilities(
        name="local",
        real=True,
        latency_budget_ms=150.0,
        recovery_budget_s=5.0,
        heartbeat_s=0.5,
        faults=frozenset(AGENT_FAULTS),
    )

    def __init__(
        self, seed: int = 0, python: str | None = None, watchdog_s: float = 0.25, program: str | None = None
    ) -> None:
        super().__init__()
        self.seed = seed
        self.python = python or sys.executable
        self.watchdog_s = watchdog_s
        # Python source run instead of the agent program (``python -c``, same arguments): to try
        # the engine against agents that misbehave.
        self.program = program
        self._agents: dict[str, _Agent] = {}
        self._watchdog: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        if not os.path.exists(self.python):
            raise BackendError(f"local backend: no Python interpreter at {self.python}")

    async def create(self, spec: SandboxSpec) -> SandboxHandle:
        config = spec.agent_config()
        config["run_id"] = spec.run_id
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            proc = await asyncio.create_subprocess_exec(
                *agent_command(self.python, config, spec.run_id, self.program),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                env=env,
                limit=LINE_LIMIT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches the engine, which kills us in order
            )
        except OSError as exc:
            raise BackendError(f"local backend: cannot start an agent process: {exc}") from None
        handle = SandboxHandle(
            id=f"local-{proc.pid}", agent_id=spec.agent_id, backend=self.name, created_at=self.clock.now(), pid=proc.pid
        )
        ps: psutil.Process | None
        try:
            ps = psutil.Process(proc.pid)
            ps.cpu_percent(None)  # prime the CPU counter
        except psutil.Error:
            ps = None
        agent = _Agent(handle, proc, spec, ps)
        self._agents[handle.id] = agent
        agent.reader = asyncio.get_running_loop().create_task(self._read(agent), name=f"read {handle.id}")
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().create_task(self._watch_memory(), name="memory watchdog")
        return handle

    async def _read(self, agent: _Agent) -> None:
        """Every line the agent writes, to the engine; its exit, once, at the end.

        A line that is not a message (see :func:`~swarm_tui.engine.protocol.decode_line`), one
        over the length limit or one too many (a flood) is reported as an ``invalid`` message;
        from then on the agent is faulty and its output is drained unread.
        """
        stdout = agent.proc.stdout
        assert stdout is not None
        gate = agent.gate
        faulty = False
        while True:
            try:
                raw = await stdout.readline()
            except ValueError:
                # Over the limit (with or without an end): StreamReader dropped what it held.
                self._on_message(agent.handle, invalid(f"output line longer than {LINE_LIMIT} bytes"))
                faulty = True
                break
            except (ConnectionError, OSError):
                break
            if not raw:
                break
            if not gate.allow(len(raw)):
                self._on_message(agent.handle, invalid(gate.reason))
                faulty = True
                break
            msg = decode_line(raw)
            if msg is None:
                continue
            self._on_message(agent.handle, msg)
            if msg.get("type") == INVALID:
                faulty = True
                break
        if faulty:
            await self._drain(agent, stdout)
        with contextlib.suppress(ProcessLookupError):
            if not agent.killed:
                await agent.proc.wait()
        agent.exited = True
        if not agent.killed:
            code = agent.proc.returncode
            reason = f"exit code {code}" if code is None or code >= 0 else f"killed by signal {-code}"
            if code == 137:
                reason = "killed at its memory limit (exit 137)"
            self._on_exit(agent.handle, reason)

    async def _drain(self, agent: _Agent, stdout: asyncio.StreamReader) -> None:
        """Read a faulty agent's output to its end without looking at it, in gulps far apart.

        Reading goes on so that its exit is seen (the pipe must reach its end); the pauses leave
        a flooding agent blocked on a full pipe most of the time, at next to no cost here.
        """
        while True:
            try:
                data = await stdout.read(LINE_LIMIT)
            except (ConnectionError, OSError, ValueError):
                return
            if not data:
                return
            if not agent.killed:
                await asyncio.sleep(DRAIN_PAUSE_S)

    # -- traffic --------------------------------------------------------------------------------------
    def send(self, handle: SandboxHandle, message: dict[str, Any]) -> None:
        agent = self._agents.get(handle.id)
        if agent is None or agent.exited or agent.proc.stdin is None:
            return
        if message.get("type") in _ASKS:
            agent.gate.expect()  # its answer is not a flood
        # A process on its way out refuses input; its reader reports the exit.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, RuntimeError):
            agent.proc.stdin.write((json.dumps(message, separators=(",", ":")) + "\n").encode())

    async def metrics(self, handle: SandboxHandle) -> SandboxMetrics:
        agent = self._agents.get(handle.id)
        if agent is None or agent.ps is None or agent.exited:
            return SandboxMetrics(alive=False)
        try:
            with agent.ps.oneshot():
                cpu = agent.ps.cpu_percent(None)
                rss = agent.ps.memory_info().rss / (1 << 20)
        except psutil.Error:
            return SandboxMetrics(alive=False)
        return SandboxMetrics(cpu_pct=round(cpu, 1), mem_mb=round(rss, 1), mem_limit_mb=agent.spec.memory_limit_mb)

    async def inject(self, handle: SandboxHandle, fault: Fault) -> None:
        agent = self._agents.get(handle.id)
        if agent is None or agent.exited:
            return
        if fault.kind == "crash":
            with contextlib.suppress(ProcessLookupError):
                agent.proc.send_signal(signal.SIGKILL)
            return
        self.send(handle, fault.command())

    async def _watch_memory(self) -> None:
        """Kill agents above their memory limit (with a little slack), as a cgroup would."""
        while True:
            await asyncio.sleep(self.watchdog_s)
            for agent in list(self._agents.values()):
                if agent.exited or agent.ps is None:
                    continue
                try:
                    rss = agent.ps.memory_info().rss / (1 << 20)
                except psutil.Error:
                    continue
                if rss > agent.spec.memory_limit_mb * 1.1 + 16:
                    with contextlib.suppress(ProcessLookupError):
                        agent.proc.send_signal(signal.SIGKILL)

    async def kill(self, handle: SandboxHandle, reason: str = "") -> None:
        agent = self._agents.pop(handle.id, None)
        if agent is not None:
            await self._kill(agent)

    async def _kill(self, agent: _Agent) -> None:
        agent.killed = True
        if agent.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                agent.proc.send_signal(signal.SIGKILL)
        if agent.proc.stdin is not None:
            with contextlib.suppress(Exception):
                agent.proc.stdin.close()
        with contextlib.suppress(asyncio.TimeoutError, ProcessLookupError):
            await asyncio.wait_for(agent.proc.wait(), 5.0)
        if agent.reader is not None and not agent.reader.done():
            agent.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await agent.reader

    async def list_owned(self) -> list[OwnedSandbox]:
        now = time.monotonic()
        return [
            OwnedSandbox(
                id=a.handle.id,
                backend=self.name,
                agent_id=a.handle.agent_id,
                run_id=a.spec.run_id,
                age_s=now - a.created,
                detail=f"pid {a.handle.pid}",
            )
            for a in self._agents.values()
            if not a.exited
        ]

    async def close(self) -> None:
        agents = list(self._agents.values())
        self._agents.clear()
        await asyncio.gather(*(self._kill(a) for a in agents), return_exceptions=True)
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watchdog
            self._watchdog = None

    def alive_count(self) -> int:
        return sum(1 for a in self._agents.values() if not a.exited and a.proc.returncode is None)

    @classmethod
    async def leftovers(cls) -> Leftovers:
        return Leftovers(items=find_stray_agents())

    @classmethod
    async def kill_leftover(cls, item: OwnedSandbox) -> bool:
        if item.backend != "local" or not item.id.startswith("local-"):
            return False
        return kill_stray_agent(int(item.id.split("-", 1)[1]))


def find_stray_agents() -> list[OwnedSandbox]:
    """Agent processes on this machine left by a run that was killed (for `swarm-tui cleanup`)."""
    out = []
    now = time.time()
    for proc in psutil.process_iter(["pid", "ppid", "cmdline", "create_time"]):
        cmdline = proc.info.get("cmdline") or []
        marker = next((c for c in cmdline if c.startswith(f"{MARKER}:")), None)
        if marker is None or proc.pid == os.getpid():
            continue
        ppid = proc.info.get("ppid") or 1
        orphan = ppid == 1 or not psutil.pid_exists(ppid)
        agent_id = ""
        with contextlib.suppress(ValueError, IndexError, AttributeError):
            agent_id = json.loads(cmdline[cmdline.index("--config") + 1]).get("agent_id", "")
        owner = "orphan" if orphan else f"run alive (pid {ppid})"
        in_use = not orphan
        out.append(
            OwnedSandbox(
                id=f"local-{proc.pid}",
                backend="local",
                agent_id=agent_id,
                run_id=marker.split(":", 1)[1],
                age_s=now - (proc.info.get("create_time") or now),
                detail=f"pid {proc.pid}, {owner}",
                in_use=in_use,
            )
        )
    return out


def kill_stray_agent(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        if not any(c.startswith(f"{MARKER}:") for c in proc.cmdline()):
            return False
        proc.kill()
        with contextlib.suppress(psutil.Error):
            proc.wait(2)
        return True
    except psutil.Error:
        return False
