"""``swarm-tui serve``: the dashboard in a browser, served by textual-serve.

Each browser tab that connects gets its own ``swarm-tui`` process (textual-serve runs the command
behind a websocket and draws it with xterm.js); closing the tab ends that dashboard, which stops
its sandboxes as on ``q``.
"""

from __future__ import annotations

import shlex
import socket
import sys


class ServeError(ValueError):
    """The server cannot start (the address is taken, say): one line, exit 2."""


def dashboard_command(scenario: str | None = None, seed: int = 0, theme: str | None = None) -> str:
    """The command each browser session runs: this very swarm-tui, under this interpreter."""
    argv = [sys.executable, "-m", "swarm_tui"]
    if scenario:
        argv += ["--scenario", scenario]
    if seed:
        argv += ["--seed", str(seed)]
    if theme:
        argv += ["--theme", theme]
    return shlex.join(argv)


def check_address(host: str, port: int) -> None:
    """Fail early, with one line, when the address cannot be listened on."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ServeError(f"cannot serve on {host}: {exc.strerror}") from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise ServeError(f"cannot serve on {host}:{port}: {exc.strerror}") from None


def serve_dashboard(
    host: str = "127.0.0.1", port: int = 8000, scenario: str | None = None, seed: int = 0, theme: str | None = None
) -> int:
    """Serve the dashboard until SIGINT or SIGTERM; returns the exit code."""
    from textual_serve.server import Server

    check_address(host, port)
    server = Server(dashboard_command(scenario, seed, theme), host=host, port=port, title="swarm-tui")
    server.serve()
    return 0
