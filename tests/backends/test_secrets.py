"""E2B_API_KEY never leaves the process: not in output, logs, the journal, exports, the
dashboard's screen or notifications, nor in error messages.

The e2b path runs for real (the SDK against the loopback fake) with a recognisable key, and
every byte swarm-tui wrote is scanned for it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fake_e2b import FakeE2B
from support import cli_env

from swarm_tui.engine.redact import scrub

SECRET = "e2b_S3CRET-canary-7f3a9c1d5e"
WRONG = "e2b_WR0NG-canary-0b8e2d4f6a"


@pytest.fixture
def fake_with_secret(monkeypatch: pytest.MonkeyPatch):
    server = FakeE2B(api_key=SECRET).start()
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SWARM_TUI_E2B_RATE", "100")
    try:
        yield server
    finally:
        server.stop()


def _scan(root: Path, *texts: str) -> list[str]:
    leaks = [f"output {i}" for i, text in enumerate(texts) if SECRET in text or WRONG in text]
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if SECRET.encode() in data or WRONG.encode() in data:
                leaks.append(str(path))
    return leaks


def test_scrub_masks_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("E2B_API_KEY", SECRET)
    assert scrub(f"GET /x?key={SECRET} failed") == "GET /x?key=*** failed"


def test_headless_e2b_run_leaks_nothing(
    tmp_path: Path, fake_with_secret: FakeE2B, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("SWARM_TUI_STATE_DIR", str(state))
    out = tmp_path / "out"
    out.mkdir()
    exports = [str(out / f"r.{ext}") for ext in ("json", "jsonl", "xml", "md", "csv")]
    args = [sys.executable, "-m", "swarm_tui", "run", "--backend", "e2b", "--scenario", "ring.data-flow"]
    for path in exports:
        args += ["--export", path]
    env = cli_env()
    env["PYTHONWARNINGS"] = "always"
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    assert all(Path(p).stat().st_size > 0 for p in exports)
    assert list((state / "runs").glob("*.jsonl")), "no journal was written"
    assert _scan(tmp_path, proc.stdout, proc.stderr) == []
    # And it was a real e2b run: sandboxes were created with that key.
    assert fake_with_secret.created_total >= 3


def test_a_rejected_key_is_one_line_without_the_key(tmp_path: Path, fake_with_secret: FakeE2B) -> None:
    env = cli_env()
    env["E2B_API_KEY"] = WRONG
    proc = subprocess.run(
        [sys.executable, "-m", "swarm_tui", "run", "--backend", "e2b", "--scenario", "ring.data-flow"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert WRONG not in proc.stderr and SECRET not in proc.stderr
    cleanup = subprocess.run(
        [sys.executable, "-m", "swarm_tui", "cleanup", "--where", "e2b"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cleanup.returncode == 2 and WRONG not in cleanup.stderr + cleanup.stdout


async def test_dashboard_on_e2b_shows_no_key(
    tmp_path: Path, fake_with_secret: FakeE2B, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ui_helpers import app_for, wait_for

    monkeypatch.setenv("SWARM_TUI_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SWARM_TUI_CONFIG_DIR", str(tmp_path / "config"))
    app = app_for("mesh.failover", pause_at=None, speed=1.0, backend="e2b", stable=False)
    shots: list[str] = []
    notes: list[str] = []
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(
            pilot,
            lambda: (
                app.snapshot is not None
                and len(app.snapshot.agents) >= 4
                and all(a.state == "healthy" for a in app.snapshot.agents[:4])
            ),
            timeout=60,
        )
        await pilot.pause(0.5)
        await pilot.press("c")  # crash the selected agent: a notification and events
        # The crash goes to the loopback E2B and back: on a loaded machine that took over a second.
        await wait_for(pilot, lambda: len(app._notifications) > 0, timeout=30)
        await pilot.pause(0.5)
        notes.extend(str(n.message) for n in app._notifications)
        shots.append(app.export_screenshot())
        await pilot.press("question_mark")
        await pilot.pause(0.3)
        shots.append(app.export_screenshot())
    assert notes, "the crash was not confirmed by a notification"
    assert _scan(tmp_path, *shots, *notes) == []
