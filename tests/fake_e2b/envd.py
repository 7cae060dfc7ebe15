"""envd, the agent inside every sandbox (``E2B_SANDBOX_URL``): health, file transfer and Connect RPC services.

All sandboxes share one address; like E2B's edge proxy, the fake routes each request by its ``E2b-Sandbox-Id``
header. A dead or unknown sandbox answers what the proxy answers: 502 with a message containing "was not
found", which the SDK turns into ``SandboxNotRunningException``. Requests must carry the sandbox's envd access
token in ``X-Access-Token`` (``/files`` also accepts the SDK's signed URLs), else 401 like envd.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import email.parser
import email.policy
import gzip
import hashlib
import hmac
import shutil
import signal
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .connect import (
    FLAG_END_STREAM,
    STREAM_CONTENT_TYPE,
    EnvelopeReader,
    RpcError,
    end_of_stream,
    envelope,
    single_request_message,
    stream_error,
    unary_error,
    unary_response,
)
from .processes import DropEvent, EndEvent, FakeProcess, GoneEvent, OutputEvent, StreamEvent
from .sandbox import DEFAULT_USER, FakeSandbox, home_of

if TYPE_CHECKING:
    from . import FakeE2B

SIGNALS: dict[str | int, signal.Signals] = {
    "SIGNAL_SIGKILL": signal.SIGKILL,
    "SIGNAL_SIGTERM": signal.SIGTERM,
    9: signal.SIGKILL,
    15: signal.SIGTERM,
}
"""``process.Signal`` values (proto3 JSON spells an enum by name or by number) -> POSIX signal."""


class StreamDropped(Exception):
    """Raised inside a response stream to make the server abort the connection (a simulated network drop)."""


class _Reject(Exception):
    """Short-circuits a handler with a ready answer (unknown sandbox, bad token, ...)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _json_error(status: int, message: str) -> JSONResponse:
    """envd's ``jsonError`` body: ``{"code": <status>, "message": ...}``."""
    return JSONResponse({"code": status, "message": message}, status_code=status)


def _signature(path: str, operation: str, username: str, token: str, expiration: str | None) -> str:
    """The v1 signature of a file URL (sha256 over ``path:operation:user:token[:expiration]``)."""
    raw = ":".join([path, operation, username, token, *([expiration] if expiration else [])])
    digest = hashlib.sha256(raw.encode()).digest()
    return "v1_" + base64.b64encode(digest).rstrip(b"=").decode()


def _handler(method: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    """Turn a :class:`_Reject` raised by a handler into its answer."""

    async def wrapper(self: Envd, request: Request) -> Response:
        try:
            return await method(self, request)
        except _Reject as reject:
            return reject.response

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


class Envd:
    """Request handlers of the envd API of every fake sandbox."""

    def __init__(self, fake: FakeE2B) -> None:
        self.fake = fake

    def routes(self) -> list[Route]:
        """Starlette routes of envd."""
        return [
            Route("/health", self.health, methods=["GET"]),
            Route("/files", self.download, methods=["GET"]),
            Route("/files", self.upload, methods=["POST"]),
            Route("/process.Process/{method}", self.process_rpc, methods=["POST"]),
            Route("/filesystem.Filesystem/{method}", self.filesystem_rpc, methods=["POST"]),
        ]

    # ------------------------------------------------------------------------------------------ request context

    def _sandbox(self, request: Request) -> FakeSandbox:
        """The running sandbox the request is routed to, as the edge proxy resolves it."""
        sandbox_id = request.headers.get("e2b-sandbox-id")
        if not sandbox_id:
            raise _Reject(_json_error(400, "missing E2b-Sandbox-Id header"))
        sandbox = self.fake.sandboxes.get(sandbox_id)
        if sandbox is None or not sandbox.alive:
            body = {"sandboxId": sandbox_id, "message": f"The sandbox {sandbox_id} was not found", "code": 502}
            raise _Reject(JSONResponse(body, status_code=502))
        return sandbox

    def _authorize(self, request: Request, sandbox: FakeSandbox, signed: tuple[str, str, str] | None = None) -> None:
        """Require the sandbox's access token, or for ``/files`` a valid signature over ``signed``."""
        if self.fake.key_rejected("envd"):
            raise _Reject(_json_error(401, "unauthorized access, the access token has been revoked"))
        token = request.headers.get("x-access-token")
        if token is not None:
            if hmac.compare_digest(token, sandbox.access_token):
                return
            if signed is not None:
                raise _Reject(_json_error(401, "access token present in header but does not match"))
        elif signed is not None:
            self._check_signature(request, sandbox, *signed)
            return
        raise _Reject(
            _json_error(401, "unauthorized access, please provide a valid access token or method signing if supported")
        )

    @staticmethod
    def _check_signature(request: Request, sandbox: FakeSandbox, path: str, operation: str, username: str) -> None:
        signature = request.query_params.get("signature")
        if signature is None:
            raise _Reject(_json_error(401, "missing signature query parameter"))
        expiration = request.query_params.get("signature_expiration")
        expected = _signature(path, operation, username, sandbox.access_token, expiration)
        if not hmac.compare_digest(signature, expected):
            raise _Reject(_json_error(401, "invalid signature"))
        if expiration and int(expiration) < time.time():
            raise _Reject(_json_error(401, "signature is already expired"))

    @staticmethod
    def _rpc_user(request: Request) -> str:
        """The user of an RPC, from ``Authorization: Basic base64("<user>:")``; the default user otherwise."""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            with contextlib.suppress(binascii.Error, UnicodeDecodeError):
                user = base64.b64decode(header[6:]).decode().partition(":")[0]
                if user:
                    return user
        return DEFAULT_USER

    # ----------------------------------------------------------------------------------------------- HTTP API

    @_handler
    async def health(self, request: Request) -> Response:
        """``GET /health``: 204 while the sandbox runs (no authentication, as in envd)."""
        self._sandbox(request)
        return Response(status_code=204)

    @_handler
    async def download(self, request: Request) -> Response:
        """``GET /files?path=...``: the file's bytes; 404 when missing, 400 for a directory."""
        sandbox = self._sandbox(request)
        path = request.query_params.get("path", "")
        username = request.query_params.get("username") or ""
        self._authorize(request, sandbox, signed=(path, "read", username))
        sandbox_path, host_path = sandbox.resolve(path, username or DEFAULT_USER)
        if not host_path.exists():
            return _json_error(404, f"path '{sandbox_path}' does not exist")
        if host_path.is_dir():
            return _json_error(400, f"path '{sandbox_path}' is a directory")
        return Response(host_path.read_bytes(), media_type="application/octet-stream")

    @_handler
    async def upload(self, request: Request) -> Response:
        """``POST /files``: raw (octet-stream, optionally gzip) or multipart upload of one or more files."""
        sandbox = self._sandbox(request)
        path = request.query_params.get("path")
        username = request.query_params.get("username") or ""
        self._authorize(request, sandbox, signed=(path or "", "write", username))
        user = username or DEFAULT_USER
        body = await request.body()
        if request.headers.get("content-encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError) as exc:
                return _json_error(400, f"error decompressing request body: {exc}")
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/octet-stream"):
            if not path:
                return _json_error(400, "path query parameter is required for raw body upload")
            files = [(path, body)]
        elif content_type.startswith("multipart/"):
            try:
                files = [(path or name, data) for name, data in _multipart_files(content_type, body)]
            except ValueError as exc:
                return _json_error(400, str(exc))
        else:
            return _json_error(400, f"unsupported content type: {content_type}")

        written: list[dict[str, str]] = []
        for file_path, data in files:
            sandbox_path, host_path = sandbox.resolve(file_path, user)
            if any(entry["path"] == sandbox_path for entry in written):
                return _json_error(400, f"you cannot upload multiple files to the same path '{sandbox_path}'")
            if host_path.is_dir():
                return _json_error(400, f"path is a directory: {sandbox_path}")
            host_path.parent.mkdir(parents=True, exist_ok=True)
            host_path.write_bytes(data)
            written.append({"name": host_path.name, "type": "file", "path": sandbox_path})
        return JSONResponse(written)

    # --------------------------------------------------------------------------------------- process service

    @_handler
    async def process_rpc(self, request: Request) -> Response:
        """``/process.Process/<Method>``."""
        sandbox = self._sandbox(request)
        self._authorize(request, sandbox)
        method = request.path_params["method"]
        if method == "Start":
            return await self._start(request, sandbox)
        if method == "Connect":
            return await self._connect(request, sandbox)
        if method == "StreamInput":
            return await self._stream_input(request, sandbox)
        unary: dict[str, Callable[[FakeSandbox, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "List": self._list,
            "SendInput": self._send_input,
            "SendSignal": self._send_signal,
            "CloseStdin": self._close_stdin,
            "Update": self._update,
        }
        return await self._unary(request, sandbox, unary.get(method), f"process.Process/{method}")

    async def _start(self, request: Request, sandbox: FakeSandbox) -> Response:
        try:
            message = single_request_message(await request.body())
            if message.get("pty"):
                raise RpcError("unimplemented", "PTY sessions are not supported by the fake envd")
            config = message.get("process") or {}
            cmd = config.get("cmd") or ""
            if not cmd:
                raise RpcError("invalid_argument", "process.cmd is required")
            args = [str(arg) for arg in config.get("args") or []]
            envs = {str(k): str(v) for k, v in (config.get("envs") or {}).items()}
            user = self._rpc_user(request)
            cwd, host_cwd = sandbox.resolve(config.get("cwd") or home_of(user), user)
            if not host_cwd.is_dir():
                raise RpcError("invalid_argument", f"cwd '{cwd}' does not exist")
            process = FakeProcess(
                sandbox_id=sandbox.sandbox_id,
                cmd=cmd,
                args=args,
                envs=envs,
                cwd=cwd,
                tag=message.get("tag"),
                stdin_enabled=message.get("stdin", True) is not False,
                argv=sandbox.command_argv(cmd, args),
            )
            queue = await process.start(str(host_cwd), sandbox.command_env(user, envs), _deadline(request))
        except RpcError as error:
            return stream_error(error)
        sandbox.process_history.append(process)
        if not sandbox.alive:  # killed while the process was being spawned
            process.sandbox_gone(f"the connection to sandbox {sandbox.sandbox_id} ended before the stream completed")
            process.send_signal(signal.SIGKILL)
        else:
            sandbox.processes[process.pid] = process
            self.fake.spawn(sandbox.forget_when_done(process))
        return self._event_stream(request, process, queue)

    async def _connect(self, request: Request, sandbox: FakeSandbox) -> Response:
        try:
            message = single_request_message(await request.body())
            process = sandbox.find_process(message.get("process") or {})
        except RpcError as error:
            return stream_error(error)
        return self._event_stream(request, process, process.subscribe())

    def _event_stream(self, request: Request, process: FakeProcess, queue: asyncio.Queue[StreamEvent]) -> Response:
        """The ``StartResponse``/``ConnectResponse`` stream: start, data..., end; keepalives while idle."""
        keepalive = _keepalive_interval(request)

        async def events() -> AsyncIterator[bytes]:
            try:
                yield envelope({"event": {"start": {"pid": process.pid}}})
                while True:
                    try:
                        event = await asyncio.wait_for(queue.get(), keepalive)
                    except TimeoutError:
                        yield envelope({"event": {"keepalive": {}}})
                        continue
                    match event:
                        case OutputEvent(stream=stream, data=data):
                            payload = base64.b64encode(data).decode()
                            yield envelope({"event": {"data": {stream: payload}}})
                        case EndEvent(end=end):
                            yield envelope({"event": {"end": end.to_wire()}})
                            yield end_of_stream()
                            return
                        case GoneEvent(message=text):
                            yield end_of_stream(RpcError("unavailable", text))
                            return
                        case DropEvent(mode="eof"):
                            return
                        case DropEvent(mode="error"):
                            yield end_of_stream(RpcError("unavailable", "stream reset by the network (fake_e2b)"))
                            return
                        case DropEvent():
                            raise StreamDropped(f"stream of process {process.pid} dropped")
            finally:
                process.unsubscribe(queue)

        return StreamingResponse(events(), media_type=STREAM_CONTENT_TYPE)

    async def _stream_input(self, request: Request, sandbox: FakeSandbox) -> Response:
        """Client stream: a start event selecting the process, then input data events, then the end."""
        reader = EnvelopeReader()
        process: FakeProcess | None = None
        try:
            async for chunk in request.stream():
                for flags, message in reader.feed(chunk):
                    if flags & FLAG_END_STREAM:
                        continue
                    if "start" in message:
                        process = sandbox.find_process((message["start"] or {}).get("process") or {})
                    elif "data" in message:
                        if process is None:
                            raise RpcError("failed_precondition", "input data before the start event")
                        await _write_input(process, (message["data"] or {}).get("input") or {})
        except RpcError as error:
            return stream_error(error)
        return Response(envelope({}) + end_of_stream(), media_type=STREAM_CONTENT_TYPE)

    @staticmethod
    async def _list(sandbox: FakeSandbox, _: dict[str, Any]) -> dict[str, Any]:
        processes = []
        for process in sandbox.processes.values():
            info: dict[str, Any] = {
                "config": {"cmd": process.cmd, "args": process.args, "envs": process.envs, "cwd": process.cwd},
                "pid": process.pid,
            }
            if process.tag is not None:
                info["tag"] = process.tag
            processes.append(info)
        return {"processes": processes}

    @staticmethod
    async def _send_input(sandbox: FakeSandbox, message: dict[str, Any]) -> dict[str, Any]:
        process = sandbox.find_process(message.get("process") or {})
        await _write_input(process, message.get("input") or {})
        return {}

    @staticmethod
    async def _send_signal(sandbox: FakeSandbox, message: dict[str, Any]) -> dict[str, Any]:
        process = sandbox.find_process(message.get("process") or {})
        signum = SIGNALS.get(message.get("signal", 0))
        if signum is None:
            raise RpcError("unimplemented", f"invalid signal: {message.get('signal')}")
        process.send_signal(signum)
        return {}

    @staticmethod
    async def _close_stdin(sandbox: FakeSandbox, message: dict[str, Any]) -> dict[str, Any]:
        sandbox.find_process(message.get("process") or {}).close_stdin()
        return {}

    @staticmethod
    async def _update(sandbox: FakeSandbox, message: dict[str, Any]) -> dict[str, Any]:
        sandbox.find_process(message.get("process") or {})
        raise RpcError("internal", "error resizing tty: tty not assigned to process")

    # ------------------------------------------------------------------------------------ filesystem service

    @_handler
    async def filesystem_rpc(self, request: Request) -> Response:
        """``/filesystem.Filesystem/<Method>`` (Stat, ListDir, MakeDir, Remove, Move)."""
        sandbox = self._sandbox(request)
        self._authorize(request, sandbox)
        user = self._rpc_user(request)
        handlers: dict[str, Callable[[FakeSandbox, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "Stat": lambda sb, msg: _stat(sb, msg, user),
            "ListDir": lambda sb, msg: _list_dir(sb, msg, user),
            "MakeDir": lambda sb, msg: _make_dir(sb, msg, user),
            "Remove": lambda sb, msg: _remove(sb, msg, user),
            "Move": lambda sb, msg: _move(sb, msg, user),
        }
        method = request.path_params["method"]
        return await self._unary(request, sandbox, handlers.get(method), f"filesystem.Filesystem/{method}")

    # --------------------------------------------------------------------------------------------- plumbing

    @staticmethod
    async def _unary(
        request: Request,
        sandbox: FakeSandbox,
        handler: Callable[[FakeSandbox, dict[str, Any]], Awaitable[dict[str, Any]]] | None,
        name: str,
    ) -> Response:
        if handler is None:
            return unary_error(RpcError("unimplemented", f"{name} is not implemented by the fake envd"))
        try:
            body = await request.body()
            try:
                message = (await request.json()) if body else {}
            except ValueError as exc:
                raise RpcError("invalid_argument", f"invalid JSON request: {exc}") from exc
            return unary_response(await handler(sandbox, message))
        except RpcError as error:
            return unary_error(error)


async def _write_input(process: FakeProcess, process_input: dict[str, Any]) -> None:
    if "pty" in process_input:
        raise RpcError("internal", "error writing to tty: tty not assigned to process")
    if "stdin" not in process_input:
        raise RpcError("unimplemented", "invalid input type <nil>")
    await process.write_stdin(base64.b64decode(process_input["stdin"] or ""))


def _deadline(request: Request) -> float | None:
    """The call's deadline from ``Connect-Timeout-Ms``, in seconds (``None``: no limit)."""
    raw = request.headers.get("connect-timeout-ms")
    if not raw:
        return None
    try:
        return int(raw) / 1000
    except ValueError as exc:
        raise RpcError("invalid_argument", f"invalid Connect-Timeout-Ms {raw!r}") from exc


def _keepalive_interval(request: Request) -> float | None:
    raw = request.headers.get("keepalive-ping-interval")
    with contextlib.suppress(ValueError):
        if raw and float(raw) > 0:
            return float(raw)
    return None


def _multipart_files(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    """``(filename, content)`` of every ``file`` field of a multipart/form-data body."""
    parser = email.parser.BytesParser(policy=email.policy.HTTP)
    message = parser.parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    if not message.is_multipart():
        raise ValueError("error parsing multipart form: not a multipart body")
    files = []
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") != "file":
            continue
        filename = part.get_filename()
        if not filename:
            raise ValueError("error getting multipart custom part file name: missing file name")
        files.append((filename, part.get_payload(decode=True) or b""))
    return files


# ------------------------------------------------------------------------------------------ filesystem helpers


def _entry(sandbox_path: str, host_path: Path) -> dict[str, Any]:
    """A ``filesystem.EntryInfo`` in proto3 JSON."""
    link = host_path.lstat()
    is_symlink = stat.S_ISLNK(link.st_mode)
    target = host_path.stat() if is_symlink and host_path.exists() else link
    is_dir = stat.S_ISDIR(target.st_mode)
    owner = "root" if sandbox_path == "/root" or sandbox_path.startswith("/root/") else DEFAULT_USER
    entry: dict[str, Any] = {
        "name": host_path.name or "/",
        "type": "FILE_TYPE_DIRECTORY" if is_dir else "FILE_TYPE_FILE",
        "path": sandbox_path,
        "size": str(target.st_size),
        "mode": (stat.S_IMODE(target.st_mode) | (1 << 31 if is_dir else 0)),
        "permissions": stat.filemode(target.st_mode),
        "owner": owner,
        "group": owner,
        "modifiedTime": datetime.fromtimestamp(target.st_mtime, UTC).isoformat().replace("+00:00", "Z"),
        "isSymlink": is_symlink,
    }
    if is_symlink:
        entry["symlinkTarget"] = str(host_path.readlink())
    return entry


def _existing(sandbox: FakeSandbox, path: str, user: str) -> tuple[str, Path]:
    sandbox_path, host_path = sandbox.resolve(path, user)
    if not host_path.exists() and not host_path.is_symlink():
        raise RpcError("not_found", f"no such file or directory: {sandbox_path}")
    return sandbox_path, host_path


async def _stat(sandbox: FakeSandbox, message: dict[str, Any], user: str) -> dict[str, Any]:
    sandbox_path, host_path = _existing(sandbox, message.get("path", ""), user)
    return {"entry": _entry(sandbox_path, host_path)}


async def _list_dir(sandbox: FakeSandbox, message: dict[str, Any], user: str) -> dict[str, Any]:
    sandbox_path, host_path = _existing(sandbox, message.get("path", ""), user)
    if not host_path.is_dir():
        raise RpcError("invalid_argument", f"path is not a directory: {sandbox_path}")
    depth = max(int(message.get("depth") or 1), 1)
    entries: list[dict[str, Any]] = []

    def walk(directory: Path, level: int) -> None:
        for child in sorted(directory.iterdir()):
            entries.append(_entry(sandbox.sandbox_path_of(child), child))
            if level < depth and child.is_dir() and not child.is_symlink():
                walk(child, level + 1)

    walk(host_path, 1)
    return {"entries": entries}


async def _make_dir(sandbox: FakeSandbox, message: dict[str, Any], user: str) -> dict[str, Any]:
    sandbox_path, host_path = sandbox.resolve(message.get("path", ""), user)
    if host_path.is_dir():
        raise RpcError("already_exists", f"directory already exists: {sandbox_path}")
    if host_path.exists():
        raise RpcError("invalid_argument", f"path already exists but it is not a directory: {sandbox_path}")
    host_path.mkdir(parents=True)
    return {"entry": _entry(sandbox_path, host_path)}


async def _remove(sandbox: FakeSandbox, message: dict[str, Any], user: str) -> dict[str, Any]:
    _, host_path = _existing(sandbox, message.get("path", ""), user)
    if host_path.is_dir() and not host_path.is_symlink():
        shutil.rmtree(host_path)
    else:
        host_path.unlink()
    return {}


async def _move(sandbox: FakeSandbox, message: dict[str, Any], user: str) -> dict[str, Any]:
    _, source = _existing(sandbox, message.get("source", ""), user)
    destination_path, destination = sandbox.resolve(message.get("destination", ""), user)
    destination.parent.mkdir(parents=True, exist_ok=True)
    source.rename(destination)
    return {"entry": _entry(destination_path, destination)}
