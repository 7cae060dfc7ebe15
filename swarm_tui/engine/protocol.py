"""What an agent may say: reading its output lines, checking its messages, limiting its flow.

Agents in real sandboxes (local processes, E2B) are programs outside the engine: whatever they
write must never crash it. Their output goes through three steps, all pure and cheap:

* :class:`FloodGate` (in the backend, before anything is parsed): every line costs a token; the
  answers the engine asked for (a task, a ping) are paid for when it asks, so only unsolicited
  lines (heartbeats, errors, garbage) draw on the bucket, which allows bursts of
  :data:`FLOOD_BURST_LINES` and :data:`FLOOD_RATE_LINES` a second after that (a healthy agent sends
  a few heartbeats a second; the busiest catalogue scenario has an agent send at most 75 lines a
  second, answers included), and bytes likewise. An agent over the limit is flooding.
* :func:`decode_line` (in the backend): one line to one message, or to an ``invalid`` message
  saying why it is not one (longer than :data:`LINE_LIMIT`, not UTF-8, not JSON, not an object,
  nested deeper than :data:`MAX_DEPTH`). Never raises.
* :func:`check_message` and :func:`check_value` (in the engine): the message against the
  protocol's schema (its type and the type of every field the engine reads), and the value of a
  result against what the operation it answers returns. They return why a message is wrong, or
  ``None``; they never raise, whatever they are given.

An agent whose output fails any step is faulty: the engine marks it failed with the reason
(``FailureDetected``, detector ``protocol``) and ignores whatever else it says.
"""

from __future__ import annotations

import functools
import json
import math
import time
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from swarm_tui.engine.messages import (
    AGENT_MESSAGES,
    OPS,
    SUPPORTED_VERSIONS,
    AllocateValue,
    Expect,
    Message,
    Result,
    ResultError,
    ResultOk,
)

LINE_LIMIT = 1 << 20  # bytes (characters for E2B's decoded output) in one line
MAX_DEPTH = 64  # nesting of objects and arrays in one message (a real one has 4 at most)
FLOOD_BURST_LINES = 10_000  # unsolicited lines at once ...
FLOOD_RATE_LINES = 2_000.0  # ... and a second after that
FLOOD_BURST_BYTES = 64 << 20  # bytes at once (answers included) ...
FLOOD_RATE_BYTES = float(16 << 20)  # ... and a second after that

INVALID = "invalid"  # the type of the message a backend makes of a line that is not one

_MISSING: Any = object()


def invalid(error: str, line: bytes | str | None = None) -> dict[str, Any]:
    """The message standing for output that broke the protocol (``error`` says how)."""
    msg: dict[str, Any] = {"type": INVALID, "error": error}
    if line is not None:
        msg["line"] = _text(line)[:200]
    return msg


def _text(line: bytes | bytearray | str) -> str:
    return line.decode("utf-8", "replace") if isinstance(line, bytes | bytearray) else line


def preview(value: Any, limit: int = 40) -> str:
    """A short printable rendering of something an agent sent (control characters escaped)."""
    text = _text(value) if isinstance(value, str | bytes | bytearray) else ""
    if not text:
        return _kind(value)
    shown = repr(text[:limit])
    return shown + "..." if len(text) > limit else shown


def _kind(value: Any) -> str:
    """A JSON value's type, for a reason ("got a string")."""
    if value is _MISSING:
        return "nothing"
    t = type(value)
    if t is str:
        return "a string" if _is_text(value) else "a string that is not valid Unicode"
    if t is bool:
        return "a boolean"
    if t is int:
        return "an integer"
    if t is float:
        return "a number" if math.isfinite(value) else f"the number {value}"
    if t is dict:
        return "an object"
    if t is list:
        return "an array"
    if value is None:
        return "null"
    return f"a {t.__name__}"  # not from JSON; possible from in-process (mock) agents


def _is_text(v: Any) -> bool:
    """A string that can be written out (lone surrogates, possible in JSON, cannot be)."""
    if type(v) is not str:
        return False
    if v.isascii():
        return True
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_finite(v: Any) -> bool:
    return type(v) is int or (type(v) is float and math.isfinite(v))


# -- reading lines ---------------------------------------------------------------------------------
def decode_line(line: bytes | str) -> dict[str, Any] | None:
    """One line of an agent's output as a message, an ``invalid`` message, or ``None`` if blank."""
    if len(line) > LINE_LIMIT:
        unit = "characters" if isinstance(line, str) else "bytes"
        return invalid(f"output line longer than {LINE_LIMIT} {unit}")
    if isinstance(line, bytes | bytearray):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return invalid(f"output line is not UTF-8: {preview(line.strip())}", line)
    else:
        text = line
    try:
        msg = json.loads(text)
    except RecursionError:  # the parser's own stack: a monster of nested arrays or objects
        return invalid(f"output line nests deeper than {MAX_DEPTH} levels")
    except ValueError:  # includes integers of more than 4300 digits
        if not text.strip():
            return None
        return invalid(f"output line is not JSON: {preview(text.strip())}", text)
    if type(msg) is not dict:
        return invalid(f"output line is not a JSON object but {_kind(msg)}")
    if msg.get("type") == INVALID:  # that is the backends' word for unreadable output, not the agent's
        return invalid(f"unknown message type {preview(INVALID)}")
    # Only a line with more opening brackets than MAX_DEPTH can nest that deep: count them first
    # (fast), walk the message only then.
    if len(text) > 2 * MAX_DEPTH and text.count("[") + text.count("{") > MAX_DEPTH and too_deep(msg):
        return invalid(f"output line nests deeper than {MAX_DEPTH} levels")
    return msg


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether objects and arrays nest more than ``limit`` levels (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if type(item) is dict:
            children: Any = item.values()
        elif type(item) is list:
            children = item
        else:
            continue
        if depth > limit:
            return True
        for child in children:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
    return False


class LineBuffer:
    """Chunks of output in, whole lines out (E2B delivers output in chunks that cut lines anywhere).

    A line that grows past ``limit`` without an end is dropped, with ``overflows`` counting them;
    what it holds never exceeds ``limit`` plus one chunk, however long the line goes on.
    """

    __slots__ = ("_parts", "_size", "_skipping", "limit", "overflows")

    def __init__(self, limit: int = LINE_LIMIT) -> None:
        self.limit = limit
        self._parts: list[str] = []
        self._size = 0
        self._skipping = False  # inside a line that overflowed: drop until its end
        self.overflows = 0

    def feed(self, chunk: str) -> list[str]:
        if "\n" not in chunk:
            if not self._skipping:
                self._parts.append(chunk)
                self._size += len(chunk)
                self._check()
            return []
        lines = chunk.split("\n")
        if self._skipping:
            self._skipping = False
            del lines[0]  # the end of the overflowed line
        elif self._parts:
            self._parts.append(lines[0])
            lines[0] = "".join(self._parts)
        rest = lines.pop()
        self._parts = [rest] if rest else []
        self._size = len(rest)
        self._check()
        return lines

    def _check(self) -> None:
        if self._size > self.limit:
            self._parts = []
            self._size = 0
            self._skipping = True
            self.overflows += 1

    @property
    def pending(self) -> int:
        """Characters of an unfinished line held."""
        return self._size


class FloodGate:
    """A token bucket per agent for the lines (and bytes) it writes.

    :meth:`expect` is called for every message the engine sends that asks for an answer: that
    answer is paid for in advance, so a busy healthy agent never floods. Everything else draws on
    a bucket of ``burst`` lines refilled at ``rate`` a second (and one of bytes). The bucket is
    refilled only when it runs dry, so a line within the limits costs a few additions.
    """

    __slots__ = (
        "_bytes",
        "_clock",
        "_count",
        "_credit",
        "_lines",
        "_size",
        "_stamp",
        "_window",
        "burst",
        "burst_bytes",
        "rate",
        "rate_bytes",
        "reason",
    )

    def __init__(
        self,
        *,
        burst: int = FLOOD_BURST_LINES,
        rate: float = FLOOD_RATE_LINES,
        burst_bytes: int = FLOOD_BURST_BYTES,
        rate_bytes: float = FLOOD_RATE_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst, self.rate = burst, rate
        self.burst_bytes, self.rate_bytes = burst_bytes, rate_bytes
        self._clock = clock
        self._lines = float(burst)
        self._bytes = float(burst_bytes)
        self._credit = 0
        self._stamp = self._window = clock()  # last refill; start of the count (for the reason)
        self._count = 0  # lines and bytes since the start of the count
        self._size = 0
        self.reason = ""

    def expect(self, answers: int = 1) -> None:
        """The engine asked for ``answers`` more lines."""
        self._credit += answers

    def allow(self, size: int) -> bool:
        """One line of ``size`` bytes arrived: is the agent within its limits?"""
        self._count += 1
        self._size += size
        self._bytes -= size
        if self._credit > 0:
            self._credit -= 1  # an answer the engine asked for
        else:
            self._lines -= 1
        if self._lines >= 0 and self._bytes >= 0:
            return True
        return self._refill()

    def _refill(self) -> bool:
        now = self._clock()
        elapsed = now - self._stamp
        self._stamp = now
        self._lines = min(float(self.burst), self._lines + elapsed * self.rate)
        self._bytes = min(float(self.burst_bytes), self._bytes + elapsed * self.rate_bytes)
        took = now - self._window
        if self._lines >= 0 and self._bytes >= 0:
            if took >= 1.0:
                self._window, self._count, self._size = now, 0, 0
            return True
        if self._lines < 0:
            self.reason = (
                f"flooding: {self._count} lines in {took:.2f} s (limit: bursts of {self.burst}, "
                f"{self.rate:g} a second besides answers)"
            )
        else:
            self.reason = (
                f"flooding: {self._size / (1 << 20):.1f} MiB in {took:.2f} s (limit: bursts of "
                f"{self.burst_bytes / (1 << 20):g} MiB, {self.rate_bytes / (1 << 20):g} MiB a second)"
            )
        return False


# -- checking messages ------------------------------------------------------------------------------
# The shapes are the models of swarm_tui.engine.messages (one source of truth with the schemas
# in docs/schemas/); here their validation errors become one-line reasons.
MESSAGES: dict[str, type[Message]] = AGENT_MESSAGES
VALUES: dict[str, type[BaseModel]] = {op: value for op, (_data, value) in OPS.items() if value is not None}
MAX_ERROR_TEXT = 4096


@functools.cache
def _expected(model: type[BaseModel], name: str) -> str:
    """The words of a field's :class:`Expect` (in its metadata, or in an ``X | None`` annotation)."""
    info = model.model_fields.get(name)
    if info is None:
        return "something else"
    found = [m for m in info.metadata if isinstance(m, Expect)]
    stack: list[Any] = [info.annotation]
    while stack and not found:
        hint = stack.pop()
        found = [m for m in getattr(hint, "__metadata__", ()) if isinstance(m, Expect)]
        stack.extend(typing.get_args(hint))
    return found[0].text if found else "something else"


def _reason(model: type[BaseModel], where: str, obj: dict[str, Any], exc: ValidationError) -> str:
    """The first validation error as ``where.field is missing`` or ``where.field must be X, got Y``."""
    first = exc.errors()[0]
    loc = first["loc"]
    name = str(loc[0]) if loc else ""
    if first["type"] == "missing":
        return f"{where}.{name} is missing"
    return f"{where}.{name} must be {_expected(model, name)}, got {_kind(obj.get(name, _MISSING))}"


def _validate(model: type[BaseModel], where: str, obj: dict[str, Any]) -> str | None:
    try:
        model.model_validate(obj)
    except ValidationError as exc:
        return _reason(model, where, obj, exc)
    return None


def check_message(msg: Any) -> str | None:
    """Why ``msg`` is not a message an agent may send, or ``None`` if it is one. Never raises."""
    if type(msg) is not dict:
        return f"a message must be a JSON object, got {_kind(msg)}"
    mtype = msg.get("type", _MISSING)
    if type(mtype) is not str:
        return f"the message type must be a string, got {_kind(mtype)}"
    model = MESSAGES.get(mtype)
    if model is None:
        return f"unknown message type {preview(mtype)}"
    if model is Result and type(msg.get("ok")) is bool:
        model = ResultOk if msg["ok"] else ResultError
    problem = _validate(model, mtype, msg)
    if problem is not None:
        return problem
    if mtype == "hello" and msg["protocol"] not in SUPPORTED_VERSIONS:
        speaks = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        return f"hello.protocol is {msg['protocol']}, the engine speaks {speaks}"
    if mtype in ("result", "error") and type(msg.get("error")) is str and len(msg["error"]) > MAX_ERROR_TEXT:
        # An error travels into events, the journal and the dashboard: a healthy agent says it briefly.
        return f"{mtype}.error is {len(msg['error'])} characters long (at most {MAX_ERROR_TEXT})"
    return None


def check_value(op: str, value: Any) -> str | None:
    """Why ``value`` is not an answer to operation ``op``, or ``None``. Never raises.

    Operations the table does not know (``echo``, say) may answer anything.
    """
    model = VALUES.get(op)
    if model is None:
        return None
    if type(value) is not dict:
        return f"the value answering {op} must be an object, got {_kind(value)}"
    if model is AllocateValue:
        for name, weight in value.items():
            if not _is_finite(weight):
                return f"the allocation of {preview(name)} must be a finite number, got {_kind(weight)}"
        return None
    return _validate(model, f"{op}.value", value)
