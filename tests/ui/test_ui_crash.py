"""Any exception in the dashboard ends it with exit code 70, one line naming the error and a log
file with the traceback; every sandbox is still stopped (issue 10: "a crash that exits 0")."""

from __future__ import annotations

import fcntl
import os
import pty
import re
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
from ui_helpers import app_for, finish, live, notes, settle

from swarm_tui.ui.crash import EXIT_INTERNAL


@pytest.fixture(autouse=True)
def _dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SWARM_TUI_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("SWARM_TUI_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


async def test_speed_and_pause_after_the_end_say_so_and_nothing_crashes() -> None:
    app = app_for("blue-green.rollback", pause_at=None)
    async with app.run_test(size=(160, 48)) as pilot:
        await finish(pilot, app)
        assert app.snapshot is not None and app.snapshot.status == "done"
        await pilot.press("x")
        await pilot.press("space")
        await pilot.pause()
        assert app.is_running and app.return_code in (None, 0)
        told = notes(app)[-2:]
        assert all("the scenario has ended (done): restart it with ctrl+r" in n for n in told), told
        assert not any("cannot pause" in n for n in notes(app))


async def test_an_exception_in_the_ui_exits_70_with_a_log_and_stops_the_run(_dirs: Path) -> None:
    app = app_for("mesh.failover", pause_at=3.0)

    def broken() -> None:
        raise RuntimeError("injected UI failure")

    app.action_legend = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="injected UI failure"):  # run_test re-raises it
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            run = live(app)
            backend = run.ctx.backend
            assert len(backend._sandboxes) == 4
            await pilot.press("l")
            await pilot.pause()
    assert app.return_code == EXIT_INTERNAL
    assert app.crash_log is not None and app.crash_log.parent == _dirs / "logs"
    logged = app.crash_log.read_text()
    assert "Traceback" in logged and "injected UI failure" in logged
    assert run.done.is_set() and run.status == "stopped"
    assert backend._sandboxes == {}  # every sandbox was stopped


RUNNER = """
import os, sys
import swarm_tui.ui.app as appmod
trigger = sys.argv[1]
original = appmod.SwarmApp._tick_slow
def tick(self):
    original(self)
    if os.path.exists(trigger):
        raise RuntimeError("injected UI failure")
appmod.SwarmApp._tick_slow = tick
from swarm_tui.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_the_command_line_exits_70_with_one_line_and_no_agent_left(tmp_path: Path, _dirs: Path) -> None:
    """The real command on the local backend, in a terminal: the UI fails, agent processes die."""
    trigger = tmp_path / "fail-now"
    env = cli_env()
    env.update({"TERM": "xterm-256color"})
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(trigger), "--backend", "local", "--scenario", "mesh.failover"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    output = bytearray()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            output.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        agents: list[psutil.Process] = []
        while time.monotonic() < deadline and len(agents) < 4:
            assert proc.poll() is None, f"the dashboard exited early (rc={proc.returncode})"
            time.sleep(0.2)
            agents = agent_processes_of(proc.pid)
        assert len(agents) >= 4, "the local agents never started"
        trigger.write_text("now")
        assert proc.wait(timeout=30) == EXIT_INTERNAL
        _gone, alive = psutil.wait_procs(agents, timeout=5.0)
        assert not [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        reader.join(2)
        os.close(master)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]", "", output.decode(errors="replace"))
    lines = [line for line in text.splitlines() if "dashboard error" in line]
    assert len(lines) == 1, text[-2000:]
    match = re.search(
        r"swarm-tui: dashboard error: RuntimeError: injected UI failure; traceback in (\S+\.log)", lines[0]
    )
    assert match, repr(text[text.index("dashboard error") - 50 :][:400])
    log = Path(match.group(1))
    assert log.parent == _dirs / "logs" and "Traceback" in log.read_text()
    assert "Traceback" not in text  # one line on the terminal, the traceback in the file
