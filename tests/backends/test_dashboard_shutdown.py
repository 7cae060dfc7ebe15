"""The dashboard, ended by SIGTERM or by its terminal closing (SIGHUP), kills every sandbox and
closes its journal, with the local backend and with e2b on the loopback fake."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import psutil
import pytest
from support import agent_processes_of, cli_env

from swarm_tui.results.journal import read_journal


def _drain(fd: int, stop: threading.Event) -> None:
    """Read the terminal's output so the app never blocks on a full pty."""
    while not stop.is_set():
        try:
            if not os.read(fd, 65536):
                return
        except OSError:
            return


def _dashboard_in_a_pty(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[bytes], int, threading.Event]:
    """``swarm-tui ARGS`` in a 160x48 pseudo-terminal whose output is read (so the app never
    blocks on a full pty) until the returned event is set; state and config under ``tmp_path``."""
    env = cli_env()
    env.update(
        {
            "SWARM_TUI_STATE_DIR": str(tmp_path / "state"),
            "SWARM_TUI_CONFIG_DIR": str(tmp_path / "config"),
            "TERM": "xterm-256color",
        }
    )
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "swarm_tui", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    stop = threading.Event()
    threading.Thread(target=_drain, args=(master, stop), daemon=True).start()
    return proc, master, stop


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM], ids=lambda s: s.name)
@pytest.mark.parametrize("backend", ["local", "e2b"])
def test_dashboard_signal_kills_sandboxes(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str, sig: signal.Signals
) -> None:
    fake = request.getfixturevalue("e2b_fake") if backend == "e2b" else None
    state = tmp_path / "state"
    proc, master, stop = _dashboard_in_a_pty(tmp_path, "--backend", backend, "--scenario", "mesh.failover")
    try:
        deadline = time.monotonic() + 60
        journal: Path | None = None
        while time.monotonic() < deadline:
            found = list((state / "runs").glob("*.jsonl")) if (state / "runs").exists() else []
            if found and found[0].read_text(errors="replace").count('"new":"healthy"') >= 4:
                journal = found[0]
                break
            if proc.poll() is not None:
                pytest.fail(f"the dashboard exited early (rc={proc.returncode})")
            time.sleep(0.1)
        assert journal is not None, "the dashboard never got its agents up"
        agents = agent_processes_of(proc.pid)
        if backend == "local":
            assert len(agents) >= 4
        else:
            assert fake is not None and fake.alive_count() >= 4
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 128 + sig
        _gone, alive = psutil.wait_procs(agents, timeout=2.0)
        assert not [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if fake is not None:
            assert fake.alive_count() == 0, "sandboxes outlived the dashboard"
        recorded = read_journal(journal)
        assert recorded.finished, "the dashboard's journal was not closed"
        assert any(e["kind"] == "scenario_finished" for e in recorded.events)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        os.close(master)


@pytest.mark.parametrize("moment", ["starting", "running"])
def test_the_terminal_closing_ends_the_dashboard(tmp_path: Path, moment: str) -> None:
    # The terminal goes away (window closed, tmux kill-session): its pty's master closes and the
    # dashboard gets SIGHUP. Found timing the first frame in tmux: a SIGHUP during start-up was
    # remembered and never acted on, and once the terminal was gone Textual's writer thread died
    # and the next frame blocked the app for ever; four of six dashboards outlived their session.
    state = tmp_path / "state"
    proc, master, stop = _dashboard_in_a_pty(tmp_path, "--scenario", "mesh.failover")
    try:
        if moment == "starting":
            time.sleep(0.4)  # importing, loading the catalogue: before the app is mounted
        else:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                found = list((state / "runs").glob("*.jsonl")) if (state / "runs").exists() else []
                if found and found[0].read_text(errors="replace").count('"new":"healthy"') >= 4:
                    break
                time.sleep(0.1)
        assert proc.poll() is None, f"the dashboard exited early (rc={proc.returncode})"
        stop.set()
        os.close(master)  # the terminal is gone: writes to it now fail
        master = -1
        if moment == "running":
            time.sleep(4.0)  # frames go on meanwhile: more than the 30 writes Textual queues
            assert proc.poll() is None
        proc.send_signal(signal.SIGHUP)  # as the kernel does to the terminal's session
        assert proc.wait(timeout=30) == 128 + signal.SIGHUP
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if master >= 0:
            os.close(master)
