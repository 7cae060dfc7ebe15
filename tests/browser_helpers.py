"""Drive `swarm-tui serve` in headless Chromium (Debian's, through Playwright): for the browser
test and for the screenshot script. Waits here are on real processes and a real browser, so they
are wall-clock waits with generous bounds."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Z0-9]|\x1b[=>78]")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def served(args: list[str], env: dict[str, str] | None = None, timeout: float = 30.0) -> Iterator[str]:
    """`swarm-tui serve` on a free loopback port; yields its URL; kills it and everything it
    started (the dashboards textual-serve ran) at the end."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "swarm_tui", "serve", "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,  # its own process group: the dashboards it starts die with it
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"swarm-tui serve exited: {proc.stderr.read().decode()[-500:]}")  # type: ignore[union-attr]
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("swarm-tui serve did not listen in time")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group
        proc.wait(5)
        if proc.stderr is not None:
            proc.stderr.close()


@dataclass
class Screen:
    """What the browser received from the dashboard: terminal output, escape codes stripped."""

    chunks: list[bytes] = field(default_factory=list)

    def feed(self, payload: Any) -> None:
        if isinstance(payload, str):
            payload = payload.encode()
        self.chunks.append(bytes(payload))

    @property
    def text(self) -> str:
        return ANSI.sub(b"", b"".join(self.chunks)).decode("utf-8", errors="replace")

    def wait_for(self, needle: str, page: Any, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} never appeared in the browser; last: {self.text[-800:]!r}")
            page.wait_for_timeout(100)


def open_dashboard(browser: Any, url: str, size: tuple[int, int] = (1400, 900)) -> tuple[Any, Screen]:
    """A page on the served dashboard, with every websocket frame it receives recorded."""
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    screen = Screen()
    page.on("websocket", lambda ws: ws.on("framereceived", screen.feed))
    page.goto(url)
    return page, screen


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def chromium_present() -> bool:
    return Path(CHROMIUM).exists()
