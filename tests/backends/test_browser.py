"""`swarm-tui serve` in headless Chromium: the dashboard appears, `c` crashes the selected agent."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
from browser_helpers import chromium_present, launch, open_dashboard, served
from support import cli_env

pytestmark = pytest.mark.skipif(not chromium_present(), reason="needs Debian's chromium (.ci/run installs it)")


def test_the_dashboard_in_a_browser_crashes_an_agent_on_c(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    env = cli_env()
    env.update({"SWARM_TUI_STATE_DIR": str(tmp_path / "state"), "SWARM_TUI_CONFIG_DIR": str(tmp_path / "config")})
    before = {p.pid for p in psutil.process_iter()}
    with served(["--scenario", "mesh.failover"], env=env) as url, sync_playwright() as pw:
        browser = launch(pw)
        try:
            page, screen = open_dashboard(browser, url)
            screen.wait_for("mesh.failover", page)
            screen.wait_for("healthy", page)  # the agents are up
            page.locator("#terminal").click()
            page.keyboard.press("c")
            screen.wait_for("crash injected into momentum-1", page)
        finally:
            browser.close()
    # Only this test's processes: the machine runs other tests' swarm-tui processes in parallel.
    mine = [p for p in psutil.process_iter() if p.pid not in before and _started_here(p, tmp_path)]
    _, alive = psutil.wait_procs(mine, timeout=5)
    assert not alive, f"left running: {[p.cmdline() for p in alive]}"


def _started_here(proc: psutil.Process, tmp_path: Path) -> bool:
    try:
        return proc.environ().get("SWARM_TUI_STATE_DIR") == str(tmp_path / "state")
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
