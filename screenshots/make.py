"""Regenerate screenshots/*.svg from real runs of the dashboard (mock backend, seeded, paused).

    .venv/bin/python screenshots/make.py            # all of them
    .venv/bin/python screenshots/make.py mesh-failover heatmap

Each shot starts a scenario, runs it at full speed to a chosen moment of scenario time, pauses
there, and saves what the dashboard shows. Same seed, same pictures.
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
    Shot("compact-80x24", "mesh.failover", 23.2, size=(80, 24)),
    Shot("light-theme", "canary.abort", 11.0, theme="swarm-light"),
)


async def take(shot: Shot) -> Path:
    from swarm_tui.patterns import REGISTRY
    from swarm_tui.ui.app import DashboardOptions, make_app

    extra = {}
    if shot.params:
        cls = REGISTRY[shot.scenario]
        extra[shot.scenario] = lambda: cls(dict(shot.params))
    options = DashboardOptions(scenario=shot.scenario, seed=0, pause_at=shot.at, speed=20.0, run_id="screenshot",
                               stable=True, remember_theme=False, theme=shot.theme, picker_on_start=False,
                               extra_scenarios=extra)
    app = make_app(options)
    out = HERE / f"{shot.name}.svg"
    async with app.run_test(size=shot.size) as pilot:
        for _ in range(600):
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


async def main(names: list[str]) -> None:
    chosen = [s for s in SHOTS if not names or s.name in names]
    unknown = set(names) - {s.name for s in SHOTS}
    if unknown:
        raise SystemExit(f"unknown shot(s): {', '.join(sorted(unknown))} (known: {', '.join(s.name for s in SHOTS)})")
    for shot in chosen:
        path = await take(shot)
        print(f"wrote {path.relative_to(HERE.parent)}")


if __name__ == "__main__":
    # Screenshots must not depend on (or change) the user's own settings and themes.
    os.environ["SWARM_TUI_CONFIG_DIR"] = tempfile.mkdtemp(prefix="swarm-tui-shots-")
    asyncio.run(main(sys.argv[1:]))
