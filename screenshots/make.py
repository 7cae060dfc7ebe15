"""Regenerate screenshots/ from real runs of the dashboard (mock backend, seeded, paused).

    .venv/bin/python screenshots/make.py            # all of them
    .venv/bin/python screenshots/make.py mesh-failover heatmap browser

Each shot starts a scenario, runs it at full speed to a chosen moment of scenario time, pauses
there, and saves what the dashboard shows. Same seed, same pictures. ``browser`` serves the
dashboard with `swarm-tui serve`, opens it in headless Chromium (/usr/bin/chromium), presses
``c`` and saves a PNG of the page.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Shot:
    name: str
    scenario: str
    at: float
    size: tuple[int, int] = (160, 48)
    theme: str = "swarm-dark"
    keys: tuple[str, ...] = ()
    params: dict | None = None
    faults: tuple[dict, ...] = ()
    mechanisms: dict | None = None


SHOTS = (
    Shot("mesh-failover", "mesh.failover", 23.2),  # a crash detected and being recovered
    Shot("mesh-partition", "mesh.partition", 14.0),
    Shot("hierarchical", "hierarchical.multi-strategy", 6.0),
    Shot("ring-breaker", "ring.circuit-breaker", 13.0),
    Shot("star-failover", "star.hub-failover", 18.5),
    Shot("autoscaling", "autoscaling.scale-up", 12.0),
    Shot("multi-strategy", "multi-strategy.rotation", 12.0),
    Shot("blue-green-rollback", "blue-green.rollback", 6.0),
    Shot("canary-analysis", "canary.rollout", 18.0),
    Shot("heatmap", "lab.large-swarm", 35.0, params={"size": 2000}),
    # One agent crashed among 10,000, detected (its replacement starting): it must stand out.
    Shot(
        "heatmap-failed",
        "lab.large-swarm",
        25.0,
        params={"size": 10000, "rate_per_agent": 0.01, "heartbeat_s": 2.0},
        faults=({"kind": "crash", "target": "#4321", "at": 20.0},),
    ),
    Shot("compact-80x24", "mesh.failover", 23.2, size=(80, 24)),
    Shot("compact-80x24-events", "mesh.failover", 23.2, size=(80, 24), keys=("v", "v")),
    Shot("end-of-run", "blue-green.rollback", 1000.0),  # past its end: the end-of-run view
    Shot("light-theme", "canary.abort", 11.0, theme="swarm-light"),
)


async def take(shot: Shot) -> Path:
    from swarm_tui.patterns.catalogue import load_catalogue
    from swarm_tui.ui.app import DashboardOptions, make_app

    extra = {}
    if shot.params or shot.faults or shot.mechanisms:
        cls = load_catalogue()[shot.scenario]
        extra[shot.scenario] = lambda: cls(
            dict(shot.params or {}), faults=[dict(f) for f in shot.faults] or None, mechanisms=shot.mechanisms
        )
    options = DashboardOptions(scenario=shot.scenario, seed=0, pause_at=shot.at, speed=20.0, run_id="screenshot",
                               stable=True, remember_theme=False, theme=shot.theme, picker_on_start=False,
                               extra_scenarios=extra)
    app = make_app(options)
    out = HERE / f"{shot.name}.svg"
    async with app.run_test(size=shot.size) as pilot:
        for _ in range(6000):
            await pilot.pause(0.05)
            if app.snapshot is not None and app.snapshot.status in ("paused", "done"):
                break
        else:
            raise RuntimeError(f"{shot.name}: the run never reached t={shot.at}")
        await pilot.pause(0.6)
        for key in shot.keys:
            await pilot.press(key)
            await pilot.pause(0.3)
        app.clear_notifications()
        await pilot.pause(0.3)
        app.save_screenshot(str(out))
    return out


def take_browser() -> Path:
    """`swarm-tui serve` in headless Chromium: the dashboard, `c` pressed, a PNG of the page."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    from browser_helpers import launch, open_dashboard, served
    from playwright.sync_api import sync_playwright

    out = HERE / "browser.png"
    env = {**os.environ, "SWARM_TUI_STATE_DIR": tempfile.mkdtemp(prefix="swarm-tui-shots-state-")}
    with served(["--scenario", "mesh.failover"], env=env) as url, sync_playwright() as pw:
        browser = launch(pw)
        try:
            page, screen = open_dashboard(browser, url, size=(1600, 960))
            screen.wait_for("healthy", page)
            page.wait_for_timeout(3000)
            page.locator("#terminal").click()
            page.keyboard.press("c")
            screen.wait_for("crash injected into momentum-1", page)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(out))
        finally:
            browser.close()
    return out


async def main(names: list[str]) -> None:
    known = [s.name for s in SHOTS] + ["browser"]
    unknown = set(names) - set(known)
    if unknown:
        raise SystemExit(f"unknown shot(s): {', '.join(sorted(unknown))} (known: {', '.join(known)})")
    for shot in [s for s in SHOTS if not names or s.name in names]:
        path = await take(shot)
        print(f"wrote {path.relative_to(HERE.parent)}")
    if not names or "browser" in names:
        path = await asyncio.to_thread(take_browser)
        print(f"wrote {path.relative_to(HERE.parent)}")


if __name__ == "__main__":
    # Screenshots must not depend on (or change) the user's own settings and themes.
    os.environ["SWARM_TUI_CONFIG_DIR"] = tempfile.mkdtemp(prefix="swarm-tui-shots-")
    asyncio.run(main(sys.argv[1:]))
