"""Signals and exit codes: how a run ends early, and what the shell is told.

SIGINT, SIGTERM and SIGHUP stop a run: the scenario in progress is cancelled, every sandbox is
killed, the journal is closed and the results so far are exported; the exit code is 130, 143 or
129. A second signal hurries the teardown (never the killing).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
SIGNAL_EXIT_CODES: dict[int, int] = {int(signal.SIGINT): 130, int(signal.SIGTERM): 143, int(signal.SIGHUP): 129}


class Shutdown:
    """A request to end a run early: the first signal stops it, a second one hurries the teardown.

    Stopping cancels the scenario that runs; its teardown still kills every sandbox. Hurrying
    skips the graceful part of the teardown (waiting for the swarm's background work) and goes
    straight to killing. Neither can interrupt the killing itself: only SIGKILL can, and for
    that agents exit on their own (local) or expire (E2B keep-alive).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.signum: int | None = None
        self.hurry = False
        self._on_stop: list[Callable[[], None]] = []
        self._on_hurry: list[Callable[[], None]] = []
        self._previous: dict[int, Any] = {}
        self.on_message: Callable[[str], None] | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return SIGNAL_EXIT_CODES.get(self.signum, 128 + (self.signum or 2)) if self.signum else 0

    @property
    def reason(self) -> str:
        name = signal.Signals(self.signum).name if self.signum else "request"
        return f"interrupted by {name}"

    def install(self) -> Shutdown:
        """Take over SIGINT, SIGTERM and SIGHUP (main thread only; elsewhere, or again, a no-op)."""
        if threading.current_thread() is threading.main_thread() and not self._previous:
            for sig in self.SIGNALS:
                with contextlib.suppress(ValueError, OSError):
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, handler)
        self._previous.clear()

    def __enter__(self) -> Shutdown:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        # After a signal the process is on its way out and everything is written: ignore further
        # signals, so one arriving while the interpreter exits cannot replace the exit code.
        if not self.requested:
            self.restore()
            return
        for sig in self._previous:
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, signal.SIG_IGN)

    def _handle(self, signum: int, _frame: Any) -> None:
        self.request(signum)

    def request(self, signum: int = signal.SIGINT) -> None:
        if self.signum is None:
            self.signum = signum
            callbacks = self._on_stop
            message = f"{signal.Signals(signum).name}: stopping; killing every sandbox (again to hurry)"
        else:
            self.hurry = True
            callbacks = self._on_hurry
            message = "hurrying: skipping the graceful teardown, killing sandboxes now"
        if self.on_message is not None:
            with contextlib.suppress(Exception):
                self.on_message(message)
        for callback in list(callbacks):
            with contextlib.suppress(Exception):
                callback()

    def watch(self, on_stop: Callable[[], None], on_hurry: Callable[[], None]) -> Callable[[], None]:
        """Call ``on_stop`` on the first request and ``on_hurry`` on the next; returns an unwatch."""
        self._on_stop.append(on_stop)
        self._on_hurry.append(on_hurry)

        def unwatch() -> None:
            with contextlib.suppress(ValueError):
                self._on_stop.remove(on_stop)
                self._on_hurry.remove(on_hurry)

        return unwatch
