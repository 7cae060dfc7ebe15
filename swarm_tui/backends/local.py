"""The local backend: one OS process per agent, running the agent program.

The program is the built-in agent (``python -m swarm_tui.agent``) or a user's own
(:class:`~swarm_tui.engine.sandbox.AgentProgram`: any command that speaks the agent protocol,
docs/agent-protocol.md, run in its workdir with its configuration in ``$SWARM_AGENT_CONFIG``).
Line-delimited JSON over the process's stdin/stdout; CPU and memory from the process (psutil);
a crash is a real SIGKILL of its process group. The other faults are performed by the agent
when its hello claims them (the built-in claims them all), and from outside when it does not
(:mod:`swarm_tui.backends.outside`). The processes never outlive the engine: each closes when
its stdin closes, the kernel kills it when the engine dies (Linux, ``PR_SET_PDEATHSIG``, set
for every program before it starts), and ``close()`` kills whatever is left. A watchdog
enforces each agent's memory limit the way a cgroup would (SIGKILL above the limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import psutil

from swarm_tui.backends.outside import (
    ANSWER_FAULTS,
    ANSWERS,
    LIMIT_LINE,
    SELF,
    AnswerFaults,
    how_to_do,
    screen,
)
from swarm_tui.backends.programs import (
    MARKER,
    MARKER_VARIABLE,
    PDEATHSIG,
    program_environment,
    resolve_command,
)
from swarm_tui.engine.faults import AGENT_FAULTS, Fault
from swarm_tui.engine.messages import CONFIG_VARIABLE, HELLO_DEADLINE_S
from swarm_tui.engine.protocol import INVALID, LINE_LIMIT, FloodGate, decode_line, invalid
from swarm_tui.engine.redact import scrub
from swarm_tui.engine.sandbox import (
    AgentProgram,
    Backend,
    BackendCapabilities,
    BackendError,
    Leftovers,
    OwnedSandbox,
    SandboxHandle,
    SandboxMetrics,
    SandboxSpec,
)

START_TIMEOUT_S = 15.0
STDERR_KEPT = 4096  # bytes of an agent's stderr kept, for the reason it exited
DRAIN_PAUSE_S = 0.05  # a faulty agent's output is read (and thrown away) in gulps this far apart
_ASKS = frozenset({"task", "ping"})  # messages to an agent that it answers


@dataclass
class _Agent:
    handle: SandboxHandle
    proc: asyncio.subprocess.Process
    spec: SandboxSpec
    ps: psutil.Process | None
    program: AgentProgram | None = None  # a user's program (None: the built-in agent)
    reader: asyncio.Task[None] | None = None
    gate: FloodGate = field(default_factory=FloodGate)
    created: float = field(default_factory=time.monotonic)
    exited: bool = False
    killed: bool = False
    hello: bool = False
    claims: frozenset[str] | None = None  # fault commands its hello claims (None: not known yet)
    answers: AnswerFaults | None = None  # faults applied to its answers from outside
    helpers: list[asyncio.subprocess.Process] = field(default_factory=list)  # beside it: freeze, leak
    stderr: deque[bytes] = field(default_factory=lambda: deque(maxlen=64))
    stderr_reader: asyncio.Task[None] | None = None
    at_limit: bool = False  # killed at its memory limit (by the leak helper or the watchdog)


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
        self,
        seed: int = 0,
        python: str | None = None,
        watchdog_s: float = 0.25,
        program: str | None = None,
        agent_program: AgentProgram | None = None,
    ) -> None:
        super().__init__()
        self.seed = seed
        self.default_program = agent_program  # `--agent-command`: every agent without a program of its own
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
        program = self.program_for(spec)
        if program is None:
            argv = agent_command(self.python, config, spec.run_id, self.program)
            env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
            cwd = None
        else:
            problem = resolve_command(program)
            if problem is not None:
                raise BackendError(f"local backend: {problem}")
            argv, env, cwd = list(program.command), program_environment(program, config, spec.run_id), program.workdir
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd=cwd,
                limit=LINE_LIMIT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches the engine, which kills us in order
                preexec_fn=PDEATHSIG,
            )
        except OSError as exc:
            raise BackendError(scrub(f"local backend: cannot start the agent program {argv[0]!r}: {exc}")) from None
        handle = SandboxHandle(
            id=f"local-{proc.pid}", agent_id=spec.agent_id, backend=self.name, created_at=self.clock.now(), pid=proc.pid
        )
        ps: psutil.Process | None
        try:
            ps = psutil.Process(proc.pid)
            ps.cpu_percent(None)  # prime the CPU counter
        except psutil.Error:
            ps = None
        agent = _Agent(handle, proc, spec, ps, program=program)
        if program is None:
            agent.claims = None  # the built-in agent performs every fault itself
        self._agents[handle.id] = agent
        loop = asyncio.get_running_loop()
        agent.reader = loop.create_task(self._read(agent), name=f"read {handle.id}")
        agent.stderr_reader = loop.create_task(self._read_stderr(agent), name=f"stderr {handle.id}")
        if program is not None:
            loop.call_later(HELLO_DEADLINE_S, self._hello_deadline, agent)
        if self._watchdog is None:
            self._watchdog = loop.create_task(self._watch_memory(), name="memory watchdog")
        return handle

    def _hello_deadline(self, agent: _Agent) -> None:
        """A user's program that has not said hello in time broke the protocol."""
        if not agent.hello and not agent.exited and not agent.killed:
            self._on_message(agent.handle, invalid(f"no hello within {HELLO_DEADLINE_S:g} s of the start"))

    async def _read_stderr(self, agent: _Agent) -> None:
        """Keep the last lines the agent writes on stderr (for the reason it exited)."""
        stream = agent.proc.stderr
        assert stream is not None
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line over the limit: dropped
                continue
            except (ConnectionError, OSError):
                return
            if not line:
                return
            if line.strip():
                agent.stderr.append(line[:STDERR_KEPT])

    def last_words(self, agent: _Agent) -> str:
        """The last line the agent wrote on stderr, short and with secrets masked ('' if none)."""
        if not agent.stderr:
            return ""
        text = agent.stderr[-1].decode("utf-8", "replace").strip()
        text = "".join(c if c.isprintable() else " " for c in text)
        return scrub(text[:200] + ("..." if len(text) > 200 else ""))

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
            mtype = msg.get("type")
            msg, delay = screen(agent, msg, time.monotonic())
            if delay > 0:
                asyncio.get_running_loop().call_later(delay, self._deliver_late, agent, msg)
                continue
            self._on_message(agent.handle, msg)
            if mtype == INVALID:
                faulty = True
                break
        if faulty:
            await self._drain(agent, stdout)
        with contextlib.suppress(ProcessLookupError):
            if not agent.killed:
                await agent.proc.wait()
        agent.exited = True
        if not agent.killed:
            await self._helpers_done(agent)
            if agent.stderr_reader is not None:
                with contextlib.suppress(asyncio.TimeoutError, Exception):
                    await asyncio.wait_for(asyncio.shield(agent.stderr_reader), 0.5)
            self._on_exit(agent.handle, self.exit_reason(agent))

    def exit_reason(self, agent: _Agent) -> str:
        """Why an agent's process ended, in a few words (with its last stderr line, if any)."""
        code = agent.proc.returncode
        reason = f"exit code {code}" if code is None or code >= 0 else f"killed by signal {-code}"
        if code == 137 or agent.at_limit:
            return "killed at its memory limit (exit 137)"
        if not agent.hello:
            reason += " before its hello"
        words = self.last_words(agent)
        return f"{reason}: {words}" if words and agent.program is not None else reason

    def _deliver_late(self, agent: _Agent, msg: dict[str, Any]) -> None:
        if not agent.killed and not agent.exited:
            self._on_message(agent.handle, msg)

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
            if agent.answers is not None:
                agent.answers.note_sent(message, time.monotonic())
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
        if agent.program is not None:
            # The sandbox of a user's program: its children (a shell's, a runtime's) and the
            # helpers beside it count too, as a container's memory would.
            rss += self._others_mb(agent)
        return SandboxMetrics(cpu_pct=round(cpu, 1), mem_mb=round(rss, 1), mem_limit_mb=agent.spec.memory_limit_mb)

    @staticmethod
    def _others_mb(agent: _Agent) -> float:
        total = 0.0
        others: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            if agent.ps is not None:
                others.extend(agent.ps.children(recursive=True))
        for helper in agent.helpers:
            if helper.returncode is None:
                with contextlib.suppress(psutil.Error):
                    others.append(psutil.Process(helper.pid))
        for proc in others:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss / (1 << 20)
        return total

    async def inject(self, handle: SandboxHandle, fault: Fault) -> None:
        agent = self._agents.get(handle.id)
        if agent is None or agent.exited:
            return
        if fault.kind == "crash":
            self._kill_group(agent)
            return
        how = how_to_do(fault, agent.program is not None, agent.claims, agent.spec.memory_limit_mb)
        if how == SELF:
            self.send(handle, fault.command())  # the agent performs it itself
        elif how == ANSWERS:
            if agent.answers is None:
                agent.answers = AnswerFaults(f"{self.seed}:{handle.agent_id}")
            agent.answers.apply(fault, time.monotonic())
        elif isinstance(how, tuple):  # a helper beside the agent
            script, args = how
            await self._helper(agent, script, *args)

    async def _helper(self, agent: _Agent, script: str, *args: float) -> None:
        """Start a helper beside the agent (see :mod:`swarm_tui.backends.outside`)."""
        if not sys.platform.startswith("linux"):
            raise BackendError("local backend: faults from outside an agent need Linux (/proc)")
        try:
            proc = await asyncio.create_subprocess_exec(
                self.python,
                "-c",
                script,
                str(agent.proc.pid),
                *(f"{a:g}" for a in args),
                "--marker",
                f"{MARKER}:{agent.spec.run_id}",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=PDEATHSIG,
            )
        except OSError as exc:
            raise BackendError(f"local backend: cannot start a fault helper beside {agent.handle.id}: {exc}") from None
        agent.helpers.append(proc)

    async def _helpers_done(self, agent: _Agent) -> None:
        """The agent ended: did a leak helper kill it at the limit? (It says so before it kills.)"""
        for helper in agent.helpers:
            if helper.stdout is None:
                continue
            with contextlib.suppress(asyncio.TimeoutError, OSError, ValueError):
                said = await asyncio.wait_for(helper.stdout.read(), 0.5)
                if LIMIT_LINE.encode() in said:
                    agent.at_limit = True

    def _kill_group(self, agent: _Agent) -> None:
        """SIGKILL the agent's process group (a user's program may have started children)."""
        # os.killpg, not Popen.send_signal: that polls first, and a poll that reaps the child
        # steals its exit status from asyncio's child watcher.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(agent.proc.pid, signal.SIGKILL)

    def fault_methods(self, claims: frozenset[str] | None) -> dict[str, str]:
        out = super().fault_methods(claims)
        linux = sys.platform.startswith("linux")
        for kind, how in out.items():
            if not how.startswith("not possible"):
                continue
            if kind in ANSWER_FAULTS:
                out[kind] = "from outside: the backend changes its answers on their way"
            elif kind == "cpu-spike" and linux:
                out[kind] = "from outside: frozen (SIGSTOP) for 1-1/factor of every 100 ms"
            elif kind == "memory-leak" and linux:
                out[kind] = "from outside: a helper beside it allocates; killed at the limit"
        return out

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
                    agent.at_limit = True
                    self._kill_group(agent)

    async def kill(self, handle: SandboxHandle, reason: str = "") -> None:
        agent = self._agents.pop(handle.id, None)
        if agent is not None:
            await self._kill(agent)

    async def _kill(self, agent: _Agent) -> None:
        agent.killed = True
        if agent.proc.returncode is None or agent.program is not None:
            self._kill_group(agent)
        for helper in agent.helpers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(helper.pid, signal.SIGKILL)
            with contextlib.suppress(asyncio.TimeoutError, ProcessLookupError):
                await asyncio.wait_for(helper.wait(), 5.0)
        if agent.proc.stdin is not None:
            with contextlib.suppress(Exception):
                agent.proc.stdin.close()
        with contextlib.suppress(asyncio.TimeoutError, ProcessLookupError):
            await asyncio.wait_for(agent.proc.wait(), 5.0)
        for task in (agent.reader, agent.stderr_reader):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

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
        if proc.pid == os.getpid():
            continue
        marker, config = _marker_of(proc)
        if marker is None:
            continue
        ppid = proc.info.get("ppid") or 1
        orphan = ppid == 1 or not psutil.pid_exists(ppid)
        agent_id = ""
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            agent_id = json.loads(config or "{}").get("agent_id", "")
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


def _marker_of(proc: psutil.Process) -> tuple[str | None, str | None]:
    """The run marker of an agent process (on its command line, or for a user's program in its
    environment) and its configuration (JSON), or (None, None) for any other process."""
    cmdline = proc.info.get("cmdline") if hasattr(proc, "info") else None
    if cmdline is None:
        with contextlib.suppress(psutil.Error):
            cmdline = proc.cmdline()
    cmdline = cmdline or []
    marker = next((c for c in cmdline if c.startswith(f"{MARKER}:")), None)
    if marker is not None:
        config = cmdline[cmdline.index("--config") + 1] if "--config" in cmdline[:-1] else None
        return marker, config
    try:
        env = proc.environ()
    except (psutil.Error, OSError):
        return None, None
    marker = env.get(MARKER_VARIABLE)
    if marker is None or not marker.startswith(f"{MARKER}:"):
        return None, None
    return marker, env.get(CONFIG_VARIABLE)


def kill_stray_agent(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        if _marker_of(proc)[0] is None:
            return False
        proc.kill()
        with contextlib.suppress(psutil.Error):
            proc.wait(2)
        return True
    except psutil.Error:
        return False
