"""What happens when the dashboard itself fails: a log file with the traceback, one line to say so.

Any exception in the UI ends the app (Textual's rule); swarm-tui then exits with
:data:`EXIT_INTERNAL`, prints one line naming the error and the log file, and writes the full
traceback there (secrets scrubbed). The app's ``on_unmount`` still stops the run, so every
sandbox is stopped whatever failed.
"""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path

from swarm_tui.engine.redact import scrub
from swarm_tui.results.journal import state_dir

EXIT_INTERNAL = 70  # EX_SOFTWARE: an internal error (1 is "a check failed")
LOGS_KEPT = 50


def logs_dir() -> Path:
    """Where crash logs go: ``logs/`` in the state directory (see :func:`state_dir`)."""
    return state_dir() / "logs"


def write_crash_log(error: BaseException, context: str = "") -> Path | None:
    """Write the traceback of ``error`` to a new log file; its path, or None if it cannot be written."""
    folder = logs_dir()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    text = scrub("".join([f"swarm-tui dashboard error{f' ({context})' if context else ''}\n", *lines]))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"dashboard-{stamp}-{os.getpid()}.log"
        path.write_text(text, encoding="utf-8")
        _prune(folder)
    except OSError:
        return None
    return path


def crash_line(error: BaseException, log: Path | None) -> str:
    """The one line printed on stderr."""
    message = " ".join(str(error).split()) or "(no message)"
    where = f"; traceback in {log}" if log is not None else "; the traceback could not be written"
    return scrub(f"swarm-tui: dashboard error: {type(error).__name__}: {message}{where}")


def _prune(folder: Path) -> None:
    logs = sorted(folder.glob("dashboard-*.log"), key=lambda p: p.stat().st_mtime)
    for old in logs[:-LOGS_KEPT]:
        old.unlink(missing_ok=True)
