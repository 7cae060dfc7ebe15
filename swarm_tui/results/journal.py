"""The event journal: one JSON object per line, appended as events happen.

The first line describes the run (``run_started``), then every event of every scenario, then
``run_finished`` when the run ends (missing if the run was killed).

Writing never blocks the engine: an event is serialised where it happens and put in a buffer; a
writer thread with an asyncio loop of its own appends the buffer with ``aiofiles`` and flushes it
at least every ``flush_s`` seconds (0.5 s by default), and at once on close. So a run killed with
SIGKILL loses at most the last half second, and the engine's loop (virtual or wall) never waits
on the disk. :func:`read_journal` reads one back, tolerating a truncated last line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiofiles

from swarm_tui.engine.events import Event
from swarm_tui.engine.redact import scrub, secrets_in_environment

JOURNAL_KIND_START, JOURNAL_KIND_END = "run_started", "run_finished"
KEEP_JOURNALS = 200  # the default runs/ directory keeps this many journals, newest first
WAKE_AT = 512  # lines in the buffer that wake the writer before its flush interval


def _default(value: Any) -> Any:
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def dumps(record: dict[str, Any]) -> str:
    try:
        return json.dumps(record, separators=(",", ":"), default=_default, allow_nan=False)
    except ValueError:  # a NaN or infinity slipped in: null, so the line stays strict JSON
        return json.dumps(finite(record), separators=(",", ":"), default=_default)


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity (at any depth) replaced by None, as strict JSON wants."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def state_dir() -> Path:
    """Where swarm-tui keeps what it records: $SWARM_TUI_STATE_DIR, else the XDG state directory."""
    if explicit := os.environ.get("SWARM_TUI_STATE_DIR"):
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base).expanduser() / "swarm-tui"


def default_journal_path(run_id: str) -> Path:
    return state_dir() / "runs" / f"{run_id}.jsonl"


def prune_journals(directory: Path, keep: int = KEEP_JOURNALS) -> int:
    """Delete all but the newest ``keep`` journals of the default directory. Returns how many went."""
    try:
        files = sorted(directory.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return 0
    removed = 0
    for old in files[keep:]:
        with contextlib.suppress(OSError):
            old.unlink()
            removed += 1
    return removed


class JournalError(ValueError):
    """A journal that cannot be written or read: one line for the user."""


class JournalWriter:
    """Appends events to a JSONL file from a writer thread, flushing at least every ``flush_s`` s."""

    def __init__(self, path: str | Path, run_id: str, *, flush_s: float = 0.5) -> None:
        self.path = Path(path)
        self.run_id = run_id
        self.flush_s = flush_s
        self.lines = 0
        self._buffer: list[str] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._closing = False
        self._ready = threading.Event()
        self._secrets = secrets_in_environment()  # read once: every event passes here
        self.error: str | None = None

    # -- the engine side ---------------------------------------------------------------------------
    def open(self, header: dict[str, Any]) -> None:
        """Create the file (and its directory) and start the writer. Raises JournalError."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.open("w", encoding="utf-8").close()
        except OSError as exc:
            raise JournalError(f"cannot write the journal {self.path}: {exc.strerror or exc}") from None
        self._append({"kind": JOURNAL_KIND_START, "run_id": self.run_id, **header})
        self._thread = threading.Thread(target=self._thread_main, name="journal writer", daemon=True)
        self._thread.start()
        self._ready.wait(5.0)

    def __call__(self, event: Event) -> None:
        self._append({"run_id": self.run_id, **event.to_dict()})

    def _append(self, record: dict[str, Any]) -> None:
        if self._closing:
            return
        line = scrub(dumps(record), self._secrets) + "\n"
        with self._lock:
            self._buffer.append(line)
            self.lines += 1
            full = len(self._buffer) == WAKE_AT
        if full:
            # A fast (virtual-time) run makes events far quicker than every flush_s: write them
            # in batches as they come, so the buffer (and the process's memory) stays small.
            loop, wake = self._loop, self._wake
            if loop is not None and wake is not None:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(wake.set)

    def close(self, footer: dict[str, Any] | None = None, *, timeout: float = 10.0) -> None:
        """Write the footer (if given), drain the buffer and stop the writer. Safe to call twice."""
        if self._closing:
            return
        if footer is not None:
            self._append({"kind": JOURNAL_KIND_END, "run_id": self.run_id, **footer})
        self._closing = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    # -- the writer thread -------------------------------------------------------------------------
    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._writer())
        except Exception as exc:  # the disk filled up, the directory went away, ...
            self.error = f"journal {self.path}: {type(exc).__name__}: {exc}"
        finally:
            self._ready.set()
            loop.close()

    def _take(self) -> list[str]:
        with self._lock:
            lines, self._buffer = self._buffer, []
        return lines

    async def _drain(self, handle: Any) -> None:
        lines = self._take()
        for start in range(0, len(lines), WAKE_AT):  # bounded chunks, not one huge string
            await handle.write("".join(lines[start : start + WAKE_AT]))
        if lines:
            await handle.flush()

    async def _writer(self) -> None:
        wake = self._wake = asyncio.Event()
        self._ready.set()
        async with aiofiles.open(self.path, "a", encoding="utf-8") as handle:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.flush_s)
                wake.clear()
                closing = self._closing
                await self._drain(handle)
                if closing:
                    await self._drain(handle)  # anything appended between the two looks
                    return


# -- reading -----------------------------------------------------------------------------------------
@dataclass
class Journal:
    """A journal read back: its header, events (as dicts, in order), footer, and what was odd."""

    path: Path
    header: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    footer: dict[str, Any] | None = None
    truncated: bool = False  # the last line was cut short (the run was killed mid-write)
    notes: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return str(self.header.get("run_id", ""))

    @property
    def finished(self) -> bool:
        return self.footer is not None

    def by_scenario(self) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Each scenario's events in order (a scenario run twice in one journal appears twice)."""
        current: list[dict[str, Any]] | None = None
        name = ""
        for event in self.events:
            if event.get("kind") == "scenario_started":
                if current is not None:
                    yield name, current
                name, current = str(event.get("scenario", "")), [event]
            elif current is not None:
                current.append(event)
        if current is not None:
            yield name, current


MAX_LINE = 64 << 20  # a line longer than this is not something swarm-tui wrote


def read_journal(path: str | Path) -> Journal:
    """Read a journal. Raises JournalError (one line naming the file) on anything but a cut-off end."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise JournalError(f"{p}: no such journal") from None
    except IsADirectoryError:
        raise JournalError(f"{p}: is a directory, not a journal (.jsonl)") from None
    except OSError as exc:
        raise JournalError(f"{p}: cannot read: {exc.strerror or exc}") from None
    if not raw.strip():
        raise JournalError(f"{p}: empty file, not a swarm-tui journal")
    chunks = raw.split(b"\n")
    ends_cleanly = raw.endswith(b"\n")
    if ends_cleanly:
        chunks.pop()
    journal: Journal | None = None
    last = len(chunks)
    for number, chunk in enumerate(chunks, start=1):
        if not chunk.strip():
            continue
        record = _parse_line(chunk)
        if record is None or not isinstance(record, dict) or not isinstance(record.get("kind"), str):
            if number == last and not ends_cleanly and journal is not None:
                journal.truncated = True
                journal.notes.append(f"the last line (line {number}) was cut short and is ignored")
                break
            what = "not JSON" if record is None else "not a journal record (a JSON object with a kind)"
            if journal is None:
                raise JournalError(f"{p}: line {number} is {what}; is this a swarm-tui journal?")
            raise JournalError(f"{p}: line {number} is {what}")
        if journal is None:
            if record["kind"] != JOURNAL_KIND_START:
                raise JournalError(f"{p}: does not start with a run_started line; not a swarm-tui journal")
            journal = Journal(path=p, header=record)
            continue
        if record["kind"] == JOURNAL_KIND_END:
            journal.footer = record
            continue
        if len(journal.events) and record["kind"] == JOURNAL_KIND_START:
            raise JournalError(f"{p}: line {number} starts a second run; one journal holds one run")
        journal.events.append(record)
    assert journal is not None
    if journal.footer is None:
        journal.notes.append("the run did not finish (no run_finished line): it was killed or is still going")
    return journal


def _parse_line(chunk: bytes) -> Any:
    if len(chunk) > MAX_LINE:
        return None
    try:
        return json.loads(chunk.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
