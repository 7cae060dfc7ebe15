"""A loopback fake of E2B for tests: the real ``e2b`` SDK talks to it over HTTP, unmodified.

One server on ``127.0.0.1`` plays both the control-plane API and envd of every sandbox::

    with FakeE2B() as fake:
        monkeypatch.setenv(...)  # for key, value in fake.env().items()
        sandbox = await AsyncSandbox.create(template="base", metadata={"app": "swarm-tui"})
        result = await sandbox.commands.run("echo hi")

Sandboxes are temporary directories standing for their ``/``; commands are real local processes (``python3``
is the interpreter running the tests). Fault controls (:meth:`FakeE2B.reject_key`, :meth:`FakeE2B.fail_creates`,
:meth:`FakeE2B.slow_create`, :meth:`FakeE2B.kill_from_outside`, :meth:`FakeE2B.drop_streams`) reproduce what
the real service does when things go wrong.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import secrets
import shutil
import socket
import stat
import string
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import psutil
import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .control_plane import ControlPlane
from .envd import Envd, StreamDropped
from .processes import DropEvent, FakeProcess, ProcessEnd
from .sandbox import SANDBOX_DIRS, FakeSandbox

__all__ = ["CreateFault", "FakeE2B", "FakeProcess", "FakeSandbox", "ProcessEnd"]

ENVD_VERSION = "0.6.4"
"""envd version the fake reports: recent enough for every SDK feature it implements (stdin close, octet-stream)."""
MARKER_ENV = "FAKE_E2B_INSTANCE"
"""Set in every command's environment so leftover processes can be found (see :meth:`FakeE2B.live_processes`)."""

_T = TypeVar("_T")


@dataclass(frozen=True)
class CreateFault:
    """An injected answer to one create request."""

    status: int
    retry_after: int | None = None
    should_retry: bool | None = None

    @property
    def message(self) -> str:
        """Error message, worded like the API's."""
        return {
            429: "Rate limit exceeded, too many concurrent sandboxes or requests",
            503: "Service temporarily unavailable, cluster at capacity",
        }.get(self.status, "Injected failure")

    def headers(self) -> dict[str, str]:
        """``Retry-After`` / ``Should-Retry`` headers, when set."""
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        if self.should_retry is not None:
            headers["Should-Retry"] = "true" if self.should_retry else "false"
        return headers


class _RequestLog:
    """ASGI middleware appending ``(method, path, status)`` of every answered request to a list."""

    def __init__(self, app: ASGIApp, log: list[tuple[str, str, int]], lock: threading.Lock) -> None:
        self.app = app
        self.log = log
        self.lock = lock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def logging_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                with self.lock:
                    self.log.append((scope["method"], scope["path"], message["status"]))
            await send(message)

        await self.app(scope, receive, logging_send)


class _HideStreamDrops(logging.Filter):
    """Keep uvicorn from logging the deliberate connection aborts of :meth:`FakeE2B.drop_streams` as errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, BaseExceptionGroup):
            return not error.subgroup(StreamDropped)
        return not isinstance(error, StreamDropped)


_DROP_FILTER = _HideStreamDrops()


class FakeE2B:
    """Fake E2B control plane + envd on a loopback port, served from a background thread with its own loop.

    State for assertions: :attr:`sandboxes` (every sandbox ever created, by ID, dead ones included),
    :meth:`alive_count`, :attr:`created_total`, :attr:`request_log`, :meth:`live_processes`.
    """

    def __init__(self, api_key: str = "e2b_test_key", *, envd_version: str = ENVD_VERSION) -> None:
        self.api_key = api_key
        self.envd_version = envd_version
        self.sandboxes: dict[str, FakeSandbox] = {}
        """Every sandbox created so far, by ID; check ``.alive`` (dead ones stay for assertions)."""
        self.created_total = 0
        """Sandboxes created (successful create requests)."""
        self.request_log: list[tuple[str, str, int]] = []
        """``(method, path, status)`` of every request answered, in order."""
        self.create_delay = 0.0
        self.kill_delay = 0.0
        """Seconds every kill request waits before killing (see :meth:`slow_kill`)."""
        """Seconds every create request waits before answering (see :meth:`slow_create`)."""
        self.instance_id = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._rejecting: set[Literal["api", "envd"]] = set()
        self._create_faults: deque[CreateFault] = deque()
        self._base_dir: Path | None = None
        self._shim_dir: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._port: int | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # ---------------------------------------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        """Bind a free port on 127.0.0.1 and serve from a background thread; returns ``self``."""
        if self._thread is not None:
            return self
        self._base_dir = Path(tempfile.mkdtemp(prefix="fake-e2b-"))
        self._shim_dir = self._make_python_shims(self._base_dir / "bin")
        (self._base_dir / "sandboxes").mkdir()

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]

        app = Starlette(routes=[*ControlPlane(self).routes(), *Envd(self).routes()])
        config = uvicorn.Config(
            _RequestLog(app, self.request_log, self._lock),
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="h11",
            ws="none",
            loop="asyncio",
            # Longer than the SDK's pool idle timeout (300 s): the client, not the server, retires idle
            # connections, so a request never races a server-side keep-alive close.
            timeout_keep_alive=600,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        logging.getLogger("uvicorn.error").addFilter(_DROP_FILTER)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(sock,), name="fake-e2b", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("FakeE2B server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Kill every sandbox and every process started, stop the server, delete the files. Safe to call twice."""
        thread, loop, server = self._thread, self._loop, self._server
        if thread is None or loop is None or server is None:
            return
        try:
            if thread.is_alive():
                self._run(self._shut_down_all(), timeout=30)
        finally:
            server.should_exit = True
            thread.join(timeout=15)
            self._thread = None
            for leftover in self.live_processes():
                leftover.kill()
            if self._base_dir is not None:
                shutil.rmtree(self._base_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL of the fake (control plane and envd alike)."""
        if self._port is None:
            raise RuntimeError("FakeE2B is not started")
        return f"http://127.0.0.1:{self._port}"

    def env(self) -> dict[str, str]:
        """Environment variables pointing the SDK at the fake.

        ``E2B_SANDBOX_URL`` sends every sandbox's envd traffic here (the SDK adds ``E2b-Sandbox-Id``);
        ``E2B_DOMAIN=localhost`` keeps any host the SDK derives (``get_host``) on loopback.
        """
        return {
            "E2B_API_KEY": self.api_key,
            "E2B_API_URL": self.url,
            "E2B_SANDBOX_URL": self.url,
            "E2B_DOMAIN": "localhost",
            "E2B_DEBUG": "false",
            "E2B_HTTP_VERSION": "1.1",
        }

    # ----------------------------------------------------------------------------------------------- queries

    def alive_count(self) -> int:
        """Sandboxes currently running."""
        return sum(1 for sandbox in self.sandboxes_snapshot() if sandbox.alive)

    def sandboxes_snapshot(self) -> list[FakeSandbox]:
        """A stable copy of :attr:`sandboxes`' values."""
        with self._lock:
            return list(self.sandboxes.values())

    def live_processes(self) -> list[psutil.Process]:
        """Host processes started through the fake (or spawned by them) that are still running."""
        found: dict[int, psutil.Process] = {}
        for process in psutil.process_iter():
            try:
                if process.status() == psutil.STATUS_ZOMBIE:
                    continue
                if process.environ().get(MARKER_ENV) == self.instance_id:
                    found[process.pid] = process
            except psutil.Error:
                continue
        for sandbox in self.sandboxes_snapshot():
            for tracked in sandbox.process_history:
                if tracked.running and tracked.pid not in found:
                    with contextlib.suppress(psutil.Error):
                        found[tracked.pid] = psutil.Process(tracked.pid)
        return list(found.values())

    # ------------------------------------------------------------------------------------------ fault controls

    def reject_key(self, *, envd: bool = True) -> None:
        """Answer 401 to every request from now on, as for a revoked API key.

        Control-plane requests get the API's 401; with ``envd`` (the default) envd requests of existing
        sandboxes get envd's 401 too (``/health`` stays open, as in envd).
        """
        with self._lock:
            self._rejecting = {"api", "envd"} if envd else {"api"}

    def accept_key(self) -> None:
        """Undo :meth:`reject_key`."""
        with self._lock:
            self._rejecting = set()

    def key_rejected(self, side: Literal["api", "envd"]) -> bool:
        """Whether :meth:`reject_key` is in force for the control plane (``"api"``) or envd."""
        with self._lock:
            return side in self._rejecting

    def fail_creates(
        self,
        n: int,
        status: int = 429,
        retry_after: int | None = None,
        *,
        should_retry: bool | None = None,
    ) -> None:
        """Answer the next ``n`` create requests with ``status`` (429 or 503, say) instead of creating.

        ``retry_after`` sends a ``Retry-After`` header (seconds); ``should_retry`` a ``Should-Retry`` header,
        which the SDK treats as authoritative.
        """
        with self._lock:
            self._create_faults.extend(CreateFault(status, retry_after, should_retry) for _ in range(n))

    def take_create_fault(self) -> CreateFault | None:
        """Consume the next injected create failure, if any (used by the create handler)."""
        with self._lock:
            return self._create_faults.popleft() if self._create_faults else None

    def slow_create(self, seconds: float) -> None:
        """Make every create request wait ``seconds`` before answering (0 turns it off).

        The sandbox is created when the wait is over even if the client gave up, as can happen for real.
        """
        self.create_delay = seconds

    def slow_kill(self, seconds: float) -> None:
        """Make every kill request wait ``seconds`` before the sandbox dies (0 turns it off)."""
        self.kill_delay = seconds

    def kill_from_outside(self, sandbox_id: str) -> bool:
        """The sandbox dies: its processes are killed, open envd streams end with an error, API calls get 404.

        Returns False if it was not running.
        """
        sandbox = self.sandboxes[sandbox_id]
        return self._run(self.kill_sandbox(sandbox, "killed_from_outside"))

    def drop_streams(self, sandbox_id: str, mode: Literal["reset", "eof", "error"] = "reset") -> int:
        """End the open process output streams of a sandbox as a network failure would; processes live on.

        ``mode``: ``"reset"`` aborts the TCP connection mid-response (default); ``"eof"`` ends the response
        cleanly but without Connect's end-of-stream message; ``"error"`` ends it with an ``unavailable`` error
        as a proxy would. Returns how many streams were dropped.
        """
        sandbox = self.sandboxes[sandbox_id]

        async def drop() -> int:
            count = 0
            for process in sandbox.processes.values():
                count += process.stream_count
                process.broadcast(DropEvent(mode))
            return count

        return self._run(drop())

    # ----------------------------------------------------------------------- used by the handlers (loop thread)

    def create_sandbox(
        self,
        *,
        template: str,
        timeout: int,
        metadata: dict[str, str],
        env_vars: dict[str, str],
    ) -> FakeSandbox:
        """Create and register a running sandbox expiring ``timeout`` seconds from now."""
        assert self._base_dir is not None and self._shim_dir is not None and self._loop is not None
        alphabet = string.ascii_lowercase + string.digits
        sandbox_id = "i" + "".join(secrets.choice(alphabet) for _ in range(19))
        root = self._base_dir / "sandboxes" / sandbox_id
        for directory in SANDBOX_DIRS:
            (root / directory).mkdir(parents=True)
        now = datetime.now(UTC)
        sandbox = FakeSandbox(
            sandbox_id=sandbox_id,
            template=template,
            metadata=metadata,
            env_vars=env_vars,
            root=root,
            access_token=secrets.token_urlsafe(24),
            created_at=now,
            expires_at=now + timedelta(seconds=timeout),
            extra_env={"PATH": str(self._shim_dir), MARKER_ENV: self.instance_id},
        )
        with self._lock:
            self.sandboxes[sandbox_id] = sandbox
            self.created_total += 1
        sandbox.schedule_expiry(self._loop, self._expire)
        return sandbox

    def extend_sandbox(self, sandbox: FakeSandbox, timeout: int) -> None:
        """Make ``sandbox`` expire ``timeout`` seconds from now."""
        assert self._loop is not None
        sandbox.set_timeout(timeout, self._loop, self._expire)

    async def kill_sandbox(self, sandbox: FakeSandbox, reason: str) -> bool:
        """Shut a sandbox down (see :meth:`FakeSandbox.shut_down`)."""
        return await sandbox.shut_down(reason)

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run a background task on the server loop, keeping a reference until it is done."""
        assert self._loop is not None
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------------------------------------ private

    def _expire(self, sandbox: FakeSandbox) -> None:
        self.spawn(self.kill_sandbox(sandbox, "expired"))

    async def _shut_down_all(self) -> None:
        for sandbox in self.sandboxes_snapshot():
            await sandbox.shut_down("fake_stopped")

    def _serve(self, sock: socket.socket) -> None:
        loop, server = self._loop, self._server
        assert loop is not None and server is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve(sockets=[sock]))
        finally:
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            sock.close()

    def _run(self, coroutine: Coroutine[Any, Any, _T], timeout: float = 15) -> _T:
        """Run a coroutine on the server loop from another thread and return its result."""
        if self._loop is None or self._thread is None or not self._thread.is_alive():
            coroutine.close()
            raise RuntimeError("FakeE2B is not running")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    @staticmethod
    def _make_python_shims(directory: Path) -> Path:
        """``python3``/``python`` wrappers running the interpreter of the tests, put first on commands' PATH."""
        directory.mkdir(parents=True)
        for name in ("python3", "python"):
            shim = directory / name
            shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
            shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return directory
