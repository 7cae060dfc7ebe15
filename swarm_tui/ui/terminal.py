"""The terminal driver: Textual's, except that a terminal which goes away cannot hang the app.

When the terminal closes under the dashboard (the window is closed, ``tmux kill-session``, an ssh
connection drops), writing to it fails with EIO. Textual's writer thread then dies, its queue
fills, and the next frame blocks the app's loop for ever: the SIGHUP that says the terminal is
gone is never handled, the run is never stopped, and the process outlives it (found by timing the
first frame in tmux: four of six dashboards killed with their session were still running). Here
output to a terminal that is gone is dropped, so the loop goes on and SIGHUP ends the app as
designed (exit 129, every sandbox stopped).
"""

from __future__ import annotations

from typing import IO, Any

from textual.drivers.linux_driver import LinuxDriver


class GoneTerminalFile:
    """A terminal's stream whose writes stop failing once the terminal is gone (EIO and the like)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._stream.write(text)
            except OSError:
                self.gone = True
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._stream.flush()
            except OSError:
                self.gone = True

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding...
        return getattr(self._stream, name)


class TerminalDriver(LinuxDriver):
    """Textual's Linux driver writing through :class:`GoneTerminalFile`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._file = GoneTerminalFile(self._file)  # type: ignore[assignment,arg-type]
