"""Helpers for driving the dashboard in tests.

The engine runs in stepped virtual time (see :class:`swarm_tui.engine.clock.VirtualTimeLoop`):
scenario time moves only when a test says so, and :func:`step` returns once everything due by
then has happened. Nothing here waits on the wall clock for the engine, so a slow or busy
machine changes how long a test takes, never what it sees.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from swarm_tui.session.live import LiveRun
from swarm_tui.ui.app import DashboardOptions, SwarmApp, make_app


def app_for(scenario: str | None, *, pause_at: float | None = 5.0, **kwargs: Any) -> SwarmApp:
    """The dashboard on the mock backend in stepped time; :func:`settle` brings it to ``pause_at``."""
    kwargs.pop("speed", None)  # stepped time has no pace
    settings = {
        "seed": 0,
        "run_id": "test-run",
        "stable": True,
        "remember_theme": False,
        "picker_on_start": False,
        "stepped": kwargs.get("backend", "mock") == "mock",  # real backends run on wall time
        **kwargs,
    }
    app = make_app(DashboardOptions(scenario=scenario, **settings))
    app.test_at = pause_at  # type: ignore[attr-defined]
    return app


def live(app: SwarmApp) -> LiveRun:
    assert isinstance(app.live, LiveRun), "no live run"
    return app.live


async def refresh(pilot: Pilot, app: SwarmApp) -> None:
    """What the dashboard's timers would show now: a fresh snapshot, drawn."""
    run = app.live
    if isinstance(run, LiveRun):
        await asyncio.to_thread(run.snapshot_now)
    app.refresh_now()
    await pilot.pause()


async def settle(pilot: Pilot, app: SwarmApp, at: float | None = None) -> None:
    """Run the scenario to ``at`` (default: the app's ``pause_at``) and draw what it shows."""
    await pilot.pause()
    target = at if at is not None else getattr(app, "test_at", None)
    if target is not None:
        await asyncio.to_thread(live(app).advance_to, target)
    await refresh(pilot, app)


async def step(pilot: Pilot, app: SwarmApp, seconds: float) -> None:
    """Let ``seconds`` of scenario time pass (commands sent before it are carried out first)."""
    await pilot.pause()
    await asyncio.to_thread(live(app).advance, seconds)
    await refresh(pilot, app)


async def finish(pilot: Pilot, app: SwarmApp) -> None:
    """Run the scenario to its end and draw the end."""
    await pilot.pause()
    await asyncio.to_thread(live(app).finish)
    await refresh(pilot, app)


async def wait_for(pilot: Pilot, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for the UI itself (its own messages and timers), never for the engine."""
    steps = int(timeout / 0.05)
    for _ in range(steps):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


def agents(app: SwarmApp) -> dict[str, str]:
    """Agent id -> state, from the engine itself (not from what the UI shows)."""
    ctx = live(app).ctx
    assert ctx is not None
    return {a.id: a.state.value for a in ctx.swarm.agents.values()}


def notes(app: SwarmApp) -> list[str]:
    """The notifications shown so far (still on screen or not)."""
    return list(app.notes_seen)


def events(app: SwarmApp) -> list[str]:
    from swarm_tui.ui.panels import EventsPanel

    return [f"{line.kind} {line.text}" for line in app.query_one(EventsPanel).lines]
