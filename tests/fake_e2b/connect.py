"""Server side of the Connect RPC protocol, JSON codec only, as envd speaks it to the E2B SDK.

Wire format (https://connectrpc.com/docs/protocol):

* Unary calls: ``POST /<service>/<Method>`` with ``Content-Type: application/json``; the answer is a plain
  JSON body with status 200, or an error ``{"code": "<code>", "message": "..."}`` with the matching HTTP status.
* Streaming calls use ``Content-Type: application/connect+json``. Both directions are a sequence of envelopes:
  1 flag byte, a 4-byte big-endian length and that many bytes of JSON. The server ends its stream with an
  envelope flagged ``0x02`` whose JSON is the end-of-stream message ``{}`` or ``{"error": {...}}``. Errors of a
  streaming call travel in that message, under HTTP status 200.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any

from starlette.responses import JSONResponse, Response

UNARY_CONTENT_TYPE = "application/json"
STREAM_CONTENT_TYPE = "application/connect+json"
FLAG_COMPRESSED = 0x01
FLAG_END_STREAM = 0x02
_HEADER = struct.Struct(">BI")

# Connect error code -> HTTP status of a unary error response (from the Connect protocol spec).
_HTTP_STATUS: dict[str, int] = {
    "canceled": 499,
    "unknown": 500,
    "invalid_argument": 400,
    "deadline_exceeded": 504,
    "not_found": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "resource_exhausted": 429,
    "failed_precondition": 400,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "internal": 500,
    "unavailable": 503,
    "data_loss": 500,
    "unauthenticated": 401,
}


class RpcError(Exception):
    """An error an RPC handler answers with; ``code`` is a Connect code such as ``"not_found"``."""

    def __init__(self, code: str, message: str) -> None:
        if code not in _HTTP_STATUS:
            raise ValueError(f"unknown Connect code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def to_wire(self) -> dict[str, str]:
        """The error object carried by unary error bodies and end-of-stream messages."""
        return {"code": self.code, "message": self.message}

    @property
    def http_status(self) -> int:
        """The HTTP status a unary call answers this error with."""
        return _HTTP_STATUS[self.code]


def envelope(message: dict[str, Any], flags: int = 0) -> bytes:
    """Frame one JSON message as a Connect streaming envelope."""
    data = json.dumps(message, separators=(",", ":")).encode()
    return _HEADER.pack(flags, len(data)) + data


def end_of_stream(error: RpcError | None = None) -> bytes:
    """The end-of-stream envelope closing a server stream, carrying ``error`` when the call failed."""
    return envelope({"error": error.to_wire()} if error else {}, FLAG_END_STREAM)


class EnvelopeReader:
    """Incrementally split a byte stream into Connect envelopes."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
        """Add ``data`` and yield every complete ``(flags, message)`` now available."""
        self._buffer.extend(data)
        while len(self._buffer) >= _HEADER.size:
            flags, length = _HEADER.unpack_from(self._buffer)
            if len(self._buffer) < _HEADER.size + length:
                return
            payload = bytes(self._buffer[_HEADER.size : _HEADER.size + length])
            del self._buffer[: _HEADER.size + length]
            if flags & FLAG_COMPRESSED:
                raise RpcError("internal", "compressed envelopes are not supported by the fake envd")
            yield flags, json.loads(payload or b"{}")

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a complete envelope."""
        return len(self._buffer)


def single_request_message(body: bytes) -> dict[str, Any]:
    """The one request message of a server-streaming call (an enveloped body)."""
    messages = [message for flags, message in EnvelopeReader().feed(body) if not flags & FLAG_END_STREAM]
    if len(messages) != 1:
        raise RpcError("invalid_argument", f"expected exactly one request message, got {len(messages)}")
    return messages[0]


def unary_response(message: dict[str, Any]) -> Response:
    """A successful unary answer."""
    return JSONResponse(message, media_type=UNARY_CONTENT_TYPE)


def unary_error(error: RpcError) -> Response:
    """A failed unary answer in the Connect error format."""
    return JSONResponse(error.to_wire(), status_code=error.http_status, media_type=UNARY_CONTENT_TYPE)


def stream_error(error: RpcError) -> Response:
    """A server stream that fails before producing any message: status 200 and an end-of-stream error."""
    return Response(end_of_stream(error), media_type=STREAM_CONTENT_TYPE)
