"""Helpers for driving the dashboard in tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from swarm_tui.ui.app import DashboardOptions, SwarmApp, make_app


def app_for(scenario: str | None, *, pause_at: float | None = 5.0, speed: float = 20.0, **kwargs: Any) -> SwarmApp:
    settings = {
        "seed": 0,
        "run_id": "test-run",
        "stable": True,
        "remember_theme": False,
        "picker_on_start": False,
        **kwargs,
    }
    options = DashboardOptions(scenario=scenario, pause_at=pause_at, speed=speed, **settings)
    return make_app(options)


async def settle(pilot: Pilot, app: SwarmApp, *, timeout: float = 10.0) -> None:
    """Wait until the run reached its pause point and the UI has drawn it."""
    await wait_for(
        pilot, lambda: app.live is not None and app.snapshot is not None and app.snapshot.status == "paused", timeout
    )
    await pilot.pause(0.4)


async def wait_for(pilot: Pilot, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    steps = int(timeout / 0.05)
    for _ in range(steps):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


def agents(app: SwarmApp) -> dict[str, str]:
    """Agent id -> state, from the engine itself (not from what the UI shows)."""
    assert app.live is not None and app.live.ctx is not None
    return {a.id: a.state.value for a in app.live.ctx.swarm.agents.values()}


def events(app: SwarmApp) -> list[str]:
    from swarm_tui.ui.panels import EventsPanel

    return [f"{line.kind} {line.text}" for line in app.query_one(EventsPanel).lines]
