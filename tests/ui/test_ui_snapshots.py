"""SVG snapshots of the dashboard at 80x24 and 160x48 (fixed seed, paused clock, no cursor blink).

Regenerate after a deliberate change: pytest tests/ui/test_ui_snapshots.py --snapshot-update
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ui_helpers import app_for, settle

CASES = [
    ("mesh.failover", 22.5),  # the crash detected, the replacement starting
    ("blue-green.rollback", 6.0),  # rolled back to blue
    ("ring.circuit-breaker", 13.0),  # the breaker open
]


@pytest.fixture(autouse=True)
def _config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARM_TUI_CONFIG_DIR", str(tmp_path / "config"))


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
@pytest.mark.parametrize(("scenario", "at"), CASES, ids=[c[0] for c in CASES])
def test_dashboard(snap_compare, scenario: str, at: float, size: tuple[int, int]) -> None:
    app = app_for(scenario, pause_at=at)

    async def run_before(pilot) -> None:
        await settle(pilot, app)
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_topology_views(snap_compare) -> None:
    app = app_for("star.hub-failover", pause_at=16.5)

    async def run_before(pilot) -> None:
        await settle(pilot, app)
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(160, 48), run_before=run_before)
