"""One run of an agent program under test: started as the local backend starts it, every line
it writes read, timed and checked against the protocol, any input written to it.

Used by ``swarm-tui agent check`` (:mod:`swarm_tui.session.agent_check`) and ``swarm-tui patterns
--agent-command`` (its hello only).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from swarm_tui.backends.programs import PDEATHSIG, program_environment
from swarm_tui.engine.protocol import INVALID, LINE_LIMIT, check_message, decode_line
from swarm_tui.engine.redact import scrub
from swarm_tui.engine.sandbox import AgentProgram

Predicate = Callable[[dict[str, Any]], bool]


@dataclass
class Line:
    """A message the program wrote, and when (monotonic seconds)."""

    t: float
    msg: dict[str, Any]


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) so far of a process and its children (0 once it is gone)."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        members = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for member in members:
        with contextlib.suppress(psutil.Error):
            times = member.cpu_times()
            total += times.user + times.system
    return total


@dataclass
class AgentProcess:
    """A program under test: start it, talk to it, watch what it says, end it."""

    program: AgentProgram
    config: dict[str, Any]
    proc: asyncio.subprocess.Process | None = None
    started: float = 0.0
    lines: list[Line] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)  # lines that broke the protocol, why
    stderr: list[str] = field(default_factory=list)
    exit_code: int | None = None
    exited_at: float | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _asked: set[int] = field(default_factory=set)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        """Start the program (OSError if it cannot be started at all)."""
        env = program_environment(self.program, self.config, "agent-check")
        self.started = time.monotonic()
        self.proc = await asyncio.create_subprocess_exec(
            *self.program.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=self.program.workdir,
            limit=LINE_LIMIT,
            start_new_session=True,
            preexec_fn=PDEATHSIG,
        )
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._read()), loop.create_task(self._read_stderr())]

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        stdout = self.proc.stdout
        while True:
            try:
                raw = await stdout.readline()
            except ValueError:
                self.violations.append(f"output line longer than {LINE_LIMIT} bytes")
                with contextlib.suppress(Exception):
                    await stdout.read(LINE_LIMIT)
                continue
            except (ConnectionError, OSError):
                break
            if not raw:
                break
            msg = decode_line(raw)
            if msg is None:
                continue
            problem = msg["error"] if msg.get("type") == INVALID else check_message(msg)
            if problem is None and msg["type"] in ("result", "pong") and msg["id"] not in self._asked:
                problem = f"{msg['type']} {msg['id']} answers nothing that was asked"
            if problem is not None:
                self.violations.append(scrub(str(problem)))
            else:
                self.lines.append(Line(time.monotonic(), msg))
            self._changed.set()
        self.exit_code = await self.proc.wait()
        self.exited_at = time.monotonic()
        self._changed.set()

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        with contextlib.suppress(ConnectionError, OSError, ValueError):
            while line := await self.proc.stderr.readline():
                if line.strip():
                    self.stderr.append(line.decode("utf-8", "replace").strip())
                    del self.stderr[:-20]

    # -- talking ---------------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Write raw bytes to its stdin (a process that is gone refuses them silently)."""
        if self.proc is None or self.proc.stdin is None or self.exit_code is not None:
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, RuntimeError):
            self.proc.stdin.write(data)

    def send(self, msg: dict[str, Any]) -> None:
        self.write((json.dumps(msg, separators=(",", ":")) + "\n").encode())

    def ask(self, msg: dict[str, Any]) -> int:
        """Send a message that wants an answer (a task, a ping) with a new id; returns the id."""
        ident = next(self._ids)
        self._asked.add(ident)
        self.send({**msg, "id": ident})
        return ident

    async def wait_for(
        self, pred: Predicate, timeout: float, since: int = 0, *, stop_on_violation: bool = False
    ) -> Line | None:
        """The first message from index ``since`` on that satisfies ``pred`` (None: not in time,
        the program ended, or with ``stop_on_violation`` it wrote a line that broke the protocol)."""
        deadline = time.monotonic() + timeout
        index = since
        violations = len(self.violations)
        while True:
            while index < len(self.lines):
                line = self.lines[index]
                index += 1
                if pred(line.msg):
                    return line
            left = deadline - time.monotonic()
            if left <= 0 or self.exit_code is not None:
                return None
            if stop_on_violation and len(self.violations) > violations:
                return None
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def answer(self, msg: dict[str, Any], timeout: float = 3.0) -> tuple[Line | None, float]:
        """Send a task or ping; its answer and how long it took (s)."""
        since = len(self.lines)
        sent = time.monotonic()
        ident = self.ask(msg)
        line = await self.wait_for(lambda m: m.get("id") == ident and m["type"] in ("result", "pong"), timeout, since)
        return line, (line.t - sent) if line is not None else timeout

    def of_type(self, mtype: str) -> list[Line]:
        return [line for line in self.lines if line.msg.get("type") == mtype]

    def last_words(self) -> str:
        return scrub(self.stderr[-1][:200]) if self.stderr else ""

    # -- measuring and ending ----------------------------------------------------------------------------
    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the program and its children so far."""
        return 0.0 if self.proc is None else tree_cpu_seconds(self.proc.pid)

    async def wait_exit(self, timeout: float) -> int | None:
        """Its exit code, if it exits within ``timeout`` s."""
        if self.proc is None:
            return None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.proc.wait()), timeout)
        return self.proc.returncode

    async def close_stdin(self) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            with contextlib.suppress(Exception):
                self.proc.stdin.close()

    async def kill(self) -> None:
        """Kill it and everything it started (its process group); wait for the readers."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            await self.wait_exit(5.0)
        for task in self._tasks:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 2.0)
        for task in self._tasks:
            task.cancel()
