"""The E2B control-plane REST API (``E2B_API_URL``): create, connect, inspect, list, time out and kill sandboxes.

Requests authenticate with the ``X-API-Key`` header. Errors use the API's ``{"code": <status>, "message": ...}``
body, which the SDK maps to its exceptions (401 -> ``AuthenticationException``, 429 -> ``RateLimitException``,
503 -> ``ServiceBusyException``, 404 -> ``SandboxNotFoundException`` or ``False`` depending on the call).
"""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.parse
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .sandbox import FakeSandbox

if TYPE_CHECKING:
    from . import FakeE2B

DEFAULT_TIMEOUT_SECONDS = 300
MAX_PAGE_SIZE = 100


def api_error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error answer of the control-plane API."""
    return JSONResponse({"code": status, "message": message}, status_code=status, headers=headers)


def _not_found(sandbox_id: str) -> JSONResponse:
    return api_error(404, f"sandbox \"{sandbox_id}\" doesn't exist or you don't have access to it")


class ControlPlane:
    """Request handlers of the control-plane API, over the state held by :class:`FakeE2B`."""

    def __init__(self, fake: FakeE2B) -> None:
        self.fake = fake

    def routes(self) -> list[Route]:
        """Starlette routes of the API (v1 and v2 spellings the SDK may use)."""
        return [
            Route("/sandboxes", self.create, methods=["POST"]),
            Route("/v2/sandboxes", self.create, methods=["POST"]),
            Route("/sandboxes", self.list_sandboxes, methods=["GET"]),
            Route("/v2/sandboxes", self.list_sandboxes, methods=["GET"]),
            Route("/sandboxes/{sandbox_id}", self.detail, methods=["GET"]),
            Route("/sandboxes/{sandbox_id}", self.kill, methods=["DELETE"]),
            Route("/sandboxes/{sandbox_id}/timeout", self.set_timeout, methods=["POST"]),
            Route("/sandboxes/{sandbox_id}/refreshes", self.refresh, methods=["POST"]),
            Route("/sandboxes/{sandbox_id}/connect", self.connect, methods=["POST"]),
            Route("/v2/sandboxes/{sandbox_id}/connect", self.connect, methods=["POST"]),
            Route("/sandboxes/{sandbox_id}/metrics", self.metrics, methods=["GET"]),
        ]

    # ------------------------------------------------------------------------------------------------ helpers

    def _unauthorized(self, request: Request) -> Response | None:
        """The 401 answer when the API key is wrong or the fake was told to reject it, else ``None``."""
        if self.fake.key_rejected("api"):
            return api_error(401, "Invalid API key, the key has been revoked")
        key = request.headers.get("x-api-key")
        if key is None:
            return api_error(401, "Missing API key, please provide it in the X-API-Key header")
        if key != self.fake.api_key:
            return api_error(401, "Invalid API key, please visit https://e2b.dev/docs to get your API key")
        return None

    def _alive(self, request: Request) -> FakeSandbox | None:
        sandbox = self.fake.sandboxes.get(request.path_params["sandbox_id"])
        return sandbox if sandbox is not None and sandbox.alive else None

    @staticmethod
    async def _json(request: Request) -> dict[str, Any]:
        body = await request.body()
        if not body:
            return {}
        try:
            parsed = json.loads(body)
        except ValueError as exc:
            raise ValueError(f"request body is not valid JSON: {exc}") from exc
        if not isinstance(parsed, dict):
            raise ValueError("request body must be a JSON object")
        return parsed

    # ----------------------------------------------------------------------------------------------- handlers

    async def create(self, request: Request) -> Response:
        """``POST /v2/sandboxes``: answers 201 with the new sandbox, or an injected fault."""
        if denied := self._unauthorized(request):
            return denied
        fault = self.fake.take_create_fault()
        if fault is not None:
            return api_error(fault.status, fault.message, fault.headers())
        try:
            body = await self._json(request)
        except ValueError as exc:
            return api_error(400, str(exc))
        template = body.get("templateID")
        if not isinstance(template, str) or not template:
            return api_error(400, "templateID is required")
        timeout = body.get("timeout", DEFAULT_TIMEOUT_SECONDS)
        if not isinstance(timeout, int) or timeout < 0:
            return api_error(400, f"invalid timeout {timeout!r}")
        delay = self.fake.create_delay

        async def make() -> FakeSandbox:
            if delay:
                await asyncio.sleep(delay)
            return self.fake.create_sandbox(
                template=template,
                timeout=timeout,
                metadata={str(k): str(v) for k, v in (body.get("metadata") or {}).items()},
                env_vars={str(k): str(v) for k, v in (body.get("envVars") or {}).items()},
            )

        # Like the real service, a create that was asked for goes on even if the client hangs up
        # (the server would cancel this handler on a disconnect; the creation itself is shielded).
        sandbox = await asyncio.shield(asyncio.ensure_future(make()))
        return JSONResponse(sandbox.to_created(self.fake.envd_version), status_code=201)

    async def connect(self, request: Request) -> Response:
        """``POST /v2/sandboxes/{id}/connect``: a running sandbox's timeout only ever grows here."""
        if denied := self._unauthorized(request):
            return denied
        sandbox = self._alive(request)
        if sandbox is None:
            return _not_found(request.path_params["sandbox_id"])
        try:
            body = await self._json(request)
        except ValueError as exc:
            return api_error(400, str(exc))
        timeout = body.get("timeout")
        if isinstance(timeout, int) and timeout >= 0:
            remaining = (sandbox.expires_at - datetime.now(UTC)).total_seconds()
            if timeout > remaining:
                self.fake.extend_sandbox(sandbox, timeout)
        return JSONResponse(sandbox.to_created(self.fake.envd_version), status_code=200)

    async def detail(self, request: Request) -> Response:
        """``GET /sandboxes/{id}``."""
        if denied := self._unauthorized(request):
            return denied
        sandbox = self._alive(request)
        if sandbox is None:
            return _not_found(request.path_params["sandbox_id"])
        return JSONResponse(sandbox.to_detail(self.fake.envd_version))

    async def kill(self, request: Request) -> Response:
        """``DELETE /sandboxes/{id}``: 204, or 404 when there is no such running sandbox."""
        if denied := self._unauthorized(request):
            return denied
        sandbox = self._alive(request)
        if sandbox is None:
            return _not_found(request.path_params["sandbox_id"])
        if self.fake.kill_delay:
            await asyncio.sleep(self.fake.kill_delay)
        await self.fake.kill_sandbox(sandbox, "killed")
        return Response(status_code=204)

    async def set_timeout(self, request: Request) -> Response:
        """``POST /sandboxes/{id}/timeout``: the sandbox now ends ``timeout`` seconds from now."""
        if denied := self._unauthorized(request):
            return denied
        sandbox = self._alive(request)
        if sandbox is None:
            return _not_found(request.path_params["sandbox_id"])
        try:
            timeout = (await self._json(request)).get("timeout")
        except ValueError as exc:
            return api_error(400, str(exc))
        if not isinstance(timeout, int) or timeout < 0:
            return api_error(400, f"invalid timeout {timeout!r}")
        self.fake.extend_sandbox(sandbox, timeout)
        return Response(status_code=204)

    async def refresh(self, request: Request) -> Response:
        """``POST /sandboxes/{id}/refreshes``: keep-alive extending the timeout by ``duration`` seconds."""
        if denied := self._unauthorized(request):
            return denied
        sandbox = self._alive(request)
        if sandbox is None:
            return _not_found(request.path_params["sandbox_id"])
        try:
            duration = (await self._json(request)).get("duration", DEFAULT_TIMEOUT_SECONDS)
        except ValueError as exc:
            return api_error(400, str(exc))
        self.fake.extend_sandbox(sandbox, int(duration))
        return Response(status_code=204)

    async def metrics(self, request: Request) -> Response:
        """``GET /sandboxes/{id}/metrics``: a fresh sample of the sandbox's processes plus earlier samples."""
        if denied := self._unauthorized(request):
            return denied
        sandbox = self._alive(request)
        if sandbox is None:
            return _not_found(request.path_params["sandbox_id"])
        try:
            start = int(request.query_params.get("start", 0))
            end = int(request.query_params.get("end", 2**62))
        except ValueError:
            return api_error(400, "start and end must be Unix timestamps in seconds")
        sandbox.sample_metrics()
        samples = [
            sample.to_wire()
            for sample in sandbox.metrics_history
            if start - 1 <= sample.timestamp.timestamp() <= end + 1
        ]
        return JSONResponse(samples)

    async def list_sandboxes(self, request: Request) -> Response:
        """``GET /v2/sandboxes``: running sandboxes, filtered by metadata/state/template, paginated."""
        if denied := self._unauthorized(request):
            return denied
        params = request.query_params
        try:
            wanted_metadata = _parse_metadata_filter(params.get("metadata"))
            limit = min(int(params.get("limit", MAX_PAGE_SIZE)), MAX_PAGE_SIZE)
            offset = _decode_token(params.get("nextToken"))
        except ValueError as exc:
            return api_error(400, str(exc))
        states = set(filter(None, params.get("state", "running,paused").split(",")))
        template = params.get("template")
        started_after = params.get("startedAfter")
        threshold = datetime.fromisoformat(started_after) if started_after else None

        matches = [
            sandbox
            for sandbox in self.fake.sandboxes_snapshot()
            if sandbox.alive
            and "running" in states
            and all(sandbox.metadata.get(key) == value for key, value in wanted_metadata.items())
            and (template is None or sandbox.template == template)
            and (threshold is None or sandbox.created_at >= threshold)
        ]
        matches.sort(key=lambda s: (s.created_at, s.sandbox_id), reverse=params.get("order") == "desc")
        page = matches[offset : offset + limit]
        headers = {}
        if offset + limit < len(matches):
            headers["X-Next-Token"] = _encode_token(offset + limit)
        return JSONResponse([sandbox.to_detail(self.fake.envd_version) for sandbox in page], headers=headers)


def _parse_metadata_filter(raw: str | None) -> dict[str, str]:
    """The SDK sends ``metadata=<urlencoded k=v pairs>`` with keys and values percent-encoded once more."""
    if not raw:
        return {}
    return {
        urllib.parse.unquote(key): urllib.parse.unquote(value)
        for key, value in urllib.parse.parse_qsl(raw, keep_blank_values=True, strict_parsing=True)
    }


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind != "offset":
            raise ValueError
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"invalid nextToken {token!r}") from exc
