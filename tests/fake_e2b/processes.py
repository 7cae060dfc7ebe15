"""Real local processes standing in for the commands envd runs inside a sandbox.

Each command runs in its own session (process group), so a signal reaches everything it spawned and nothing
outlives its sandbox. Output is read in chunks as the process writes it and fanned out to every open
``Start``/``Connect`` stream through per-stream queues, like envd's multiplexed channels: a stream only sees
the output produced after it subscribed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Literal

from .connect import RpcError

OUTPUT_CHUNK_SIZE = 32 * 1024  # envd reads stdout/stderr in chunks of up to 32 KiB
DRAIN_GRACE_SECONDS = 1.0  # how long output still held in the pipes is read after the process exited

# Go's ProcessState.String() wording for the signals a command usually dies of.
_SIGNAL_WORDS = {
    signal.SIGKILL: "killed",
    signal.SIGTERM: "terminated",
    signal.SIGINT: "interrupt",
    signal.SIGHUP: "hangup",
    signal.SIGPIPE: "broken pipe",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
}


@dataclass(frozen=True)
class ProcessEnd:
    """The result of a finished process, shaped like envd's ``EndEvent``."""

    exit_code: int
    exited: bool
    status: str
    error: str | None

    @classmethod
    def from_returncode(cls, returncode: int) -> ProcessEnd:
        """Translate a ``subprocess`` return code (negative for a signal) into envd's wording."""
        if returncode >= 0:
            status = f"exit status {returncode}"
            return cls(returncode, True, status, status if returncode else None)
        signum = signal.Signals(-returncode)
        status = f"signal: {_SIGNAL_WORDS.get(signum, signum.name.lower())}"
        return cls(-1, False, status, status)

    def to_wire(self) -> dict[str, object]:
        """The ``end`` event payload in proto3 JSON."""
        wire: dict[str, object] = {"exitCode": self.exit_code, "exited": self.exited, "status": self.status}
        if self.error is not None:
            wire["error"] = self.error
        return wire


@dataclass(frozen=True)
class OutputEvent:
    """A chunk of output, exactly as read from the pipe."""

    stream: Literal["stdout", "stderr"]
    data: bytes


@dataclass(frozen=True)
class EndEvent:
    """The process finished; the stream sends the end event and closes."""

    end: ProcessEnd


@dataclass(frozen=True)
class GoneEvent:
    """The sandbox died under the stream: it ends with a Connect ``unavailable`` error instead of an end event."""

    message: str


@dataclass(frozen=True)
class DropEvent:
    """Simulated network failure of one stream; ``mode`` says how the connection ends (see ``FakeE2B.drop_streams``)."""

    mode: Literal["reset", "eof", "error"]


StreamEvent = OutputEvent | EndEvent | GoneEvent | DropEvent


@dataclass
class FakeProcess:
    """One command started through envd's process service."""

    sandbox_id: str
    cmd: str
    args: list[str]
    envs: dict[str, str]
    cwd: str
    """The working directory as the sandbox sees it."""
    tag: str | None
    stdin_enabled: bool
    argv: list[str]
    """What was really executed on the host (after path rewriting)."""
    started_at: float = field(default_factory=time.time)
    end: ProcessEnd | None = None
    killed_with: list[signal.Signals] = field(default_factory=list)
    """Signals delivered through the process service or by the fake itself."""
    _proc: asyncio.subprocess.Process | None = field(default=None, repr=False)
    _subscribers: set[asyncio.Queue[StreamEvent]] = field(default_factory=set, repr=False)
    _done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _muted: bool = field(default=False, repr=False)
    _deadline: asyncio.TimerHandle | None = field(default=None, repr=False)
    _supervisor: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        """Host PID, which is also the PID the SDK sees."""
        assert self._proc is not None, "process not started"
        return self._proc.pid

    @property
    def running(self) -> bool:
        """Whether the process has not finished yet."""
        return self._proc is not None and self.end is None

    @property
    def stream_count(self) -> int:
        """How many output streams are currently attached."""
        return len(self._subscribers)

    async def start(
        self,
        host_cwd: str,
        env: dict[str, str],
        timeout: float | None,
    ) -> asyncio.Queue[StreamEvent]:
        """Spawn the process and return the queue of the stream that started it.

        The first subscriber is registered before any output is read, so the starting stream sees all of it.
        ``timeout`` (from the ``Connect-Timeout-Ms`` header) kills the process when it passes, as envd does.
        """
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.argv,
                cwd=host_cwd,
                env=env,
                stdin=asyncio.subprocess.PIPE if self.stdin_enabled else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise RpcError("invalid_argument", f"error starting process '{self.cmd}': {exc}") from exc
        queue = self.subscribe()
        loop = asyncio.get_running_loop()
        if timeout:
            self._deadline = loop.call_later(timeout, self.send_signal, signal.SIGKILL)
        self._supervisor = loop.create_task(self._supervise(), name=f"fake-e2b-process-{self.pid}")
        return queue

    def subscribe(self) -> asyncio.Queue[StreamEvent]:
        """Attach a new output stream; it receives output produced from now on."""
        queue: asyncio.Queue[StreamEvent] = asyncio.Queue()
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[StreamEvent]) -> None:
        """Detach a stream (the client went away or the stream ended)."""
        self._subscribers.discard(queue)

    def broadcast(self, event: StreamEvent) -> None:
        """Deliver ``event`` to every attached stream."""
        for queue in list(self._subscribers):
            queue.put_nowait(event)

    def mute(self) -> None:
        """Publish nothing more (no output, no end event); the streams stay open until :meth:`sandbox_gone`."""
        self._muted = True

    def sandbox_gone(self, message: str) -> None:
        """End every stream with ``message`` and publish nothing more: the sandbox died with this process."""
        self.broadcast(GoneEvent(message))
        self._subscribers.clear()
        self._muted = True

    def send_signal(self, signum: signal.Signals, *, even_if_finished: bool = False) -> None:
        """Signal the whole process group of the command.

        A no-op once the command has finished, unless ``even_if_finished``: the sandbox being torn down also
        kills what the command left running in the background of its group.
        """
        if self._proc is None or (not self.running and not even_if_finished):
            return
        if self.running:
            self.killed_with.append(signum)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    async def write_stdin(self, data: bytes) -> None:
        """Write to the process stdin, failing like envd when stdin is disabled or closed."""
        writer = self._proc.stdin if self._proc else None
        if writer is None or writer.is_closing():
            raise RpcError("internal", "error writing to stdin: stdin not enabled or closed")
        try:
            writer.write(data)
            await writer.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise RpcError(
                "internal", f"error writing to stdin: error writing to stdin of process '{self.pid}': {exc}"
            ) from exc

    def close_stdin(self) -> None:
        """Close the stdin pipe (EOF for the process); closing twice or without stdin is fine, as in envd."""
        writer = self._proc.stdin if self._proc else None
        if writer is not None and not writer.is_closing():
            writer.close()

    async def wait_finished(self) -> ProcessEnd:
        """Wait until the process has finished and its end event went out."""
        await self._done.wait()
        assert self.end is not None
        return self.end

    async def _supervise(self) -> None:
        """Pump output until the process exits, then publish its end event."""
        proc = self._proc
        assert proc is not None and proc.stdout is not None and proc.stderr is not None
        pumps = [
            asyncio.create_task(self._pump(proc.stdout, "stdout")),
            asyncio.create_task(self._pump(proc.stderr, "stderr")),
        ]
        returncode = await proc.wait()
        # Like Go's cmd.Wait: output already in the pipes is delivered, but a leftover grandchild holding the
        # pipe open does not keep the end event back.
        _, pending = await asyncio.wait(pumps, timeout=DRAIN_GRACE_SECONDS)
        for pump in pending:
            pump.cancel()
        if self._deadline is not None:
            self._deadline.cancel()
        if proc.stdin is not None:
            proc.stdin.close()
        self.end = ProcessEnd.from_returncode(returncode)
        if not self._muted:
            self.broadcast(EndEvent(self.end))
            self._subscribers.clear()  # a muted process's streams are ended by sandbox_gone
        self._done.set()

    async def _pump(self, reader: asyncio.StreamReader, stream: Literal["stdout", "stderr"]) -> None:
        while chunk := await reader.read(OUTPUT_CHUNK_SIZE):
            if not self._muted:
                self.broadcast(OutputEvent(stream, chunk))
