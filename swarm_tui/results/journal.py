"""The event journal: one JSON object per line, appended as events happen.

The first line describes the run (``run_started``), then every event of every scenario, then
``run_finished`` when the run ends (missing if the run was killed). Lines are flushed at least
once a second, so a killed run loses at most the last second.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import IO, Any

from swarm_tui.engine.events import Event


def _default(value: Any) -> Any:
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), default=_default, allow_nan=False)


class JournalWriter:
    """Appends events to a JSONL file, flushing at least every ``flush_s`` seconds."""

    def __init__(self, path: str | Path, run_id: str, *, flush_s: float = 1.0) -> None:
        self.path = Path(path)
        self.run_id = run_id
        self.flush_s = flush_s
        self._handle: IO[str] | None = None
        self._last_flush = 0.0
        self.lines = 0

    def open(self, header: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("w", encoding="utf-8")
        self._write({"kind": "run_started", "run_id": self.run_id, **header})
        self.flush()

    def _write(self, record: dict[str, Any]) -> None:
        if self._handle is None:
            return
        try:
            line = dumps(record)
        except ValueError:  # a NaN or infinity slipped in: keep the line, as text
            line = dumps(json.loads(json.dumps(record, default=_default).replace("NaN", "null")))
        self._handle.write(line + "\n")
        self.lines += 1
        now = time.monotonic()
        if now - self._last_flush >= self.flush_s:
            self.flush()

    def __call__(self, event: Event) -> None:
        self._write({"run_id": self.run_id, **event.to_dict()})

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.flush()
            self._last_flush = time.monotonic()

    def close(self, footer: dict[str, Any] | None = None) -> None:
        if self._handle is None:
            return
        if footer is not None:
            self._write({"kind": "run_finished", "run_id": self.run_id, **footer})
        self._handle.flush()
        self._handle.close()
        self._handle = None
