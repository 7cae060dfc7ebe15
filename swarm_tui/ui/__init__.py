"""The Textual dashboard. Reads engine state; the engine never imports this package."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from swarm_tui.results.journal import Journal
    from swarm_tui.session.run import RunSession
    from swarm_tui.ui.app import SwarmApp
    from swarm_tui.ui.themes import ThemeLoad


def run_dashboard(
    session: RunSession,
    *,
    scenario: str | None = None,
    theme: str | None = None,
    configs: list[str] | None = None,
    mouse: bool = True,
) -> int:
    """Validate everything the dashboard needs, then run it. Raises ValueError (one line) on bad input."""
    from swarm_tui.config.scenario_file import ConfigError, load_scenario_file
    from swarm_tui.patterns.catalogue import load_catalogue
    from swarm_tui.ui.app import DashboardOptions, make_app

    catalogue = load_catalogue()
    extra, sources = {}, {}
    for path in configs or []:
        try:
            definition = load_scenario_file(path, catalogue)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        extra[definition.id] = definition.build
        sources[definition.id] = Path(path).name
    if scenario is not None and scenario not in catalogue and scenario not in extra:
        raise ValueError(f"unknown scenario {scenario!r} (see `swarm-tui patterns`)")
    keymap, themes = _keymap_and_themes(theme)
    options = DashboardOptions(
        session=session,
        scenario=scenario,
        theme=theme,
        keymap=keymap,
        extra_scenarios=extra,
        extra_sources=sources,
        themes=themes,
    )
    app = make_app(options)
    try:
        result = app.run(mouse=mouse)
    finally:
        for journal in session.journal_paths:
            say(f"journal: {journal}")
    return exit_code(app, result)


def say(line: str) -> None:
    """A line on stderr after the dashboard, unless the terminal is gone (it ended with SIGHUP)."""
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:
        with contextlib.suppress(OSError):  # nothing can be written: never again, not at exit
            sys.stderr = open(os.devnull, "w")  # noqa: SIM115


def run_replay(
    recorded: Journal, *, scenario: str | None = None, speed: float = 1.0, theme: str | None = None, mouse: bool = True
) -> int:
    """Play a journal in the dashboard (read-only). Raises ValueError (one line) on bad input."""
    from swarm_tui.session.replay import ReplayRun
    from swarm_tui.ui.app import DashboardOptions, make_app

    replay = ReplayRun(recorded, scenario, speed=speed)  # ReplayError is a ValueError
    keymap, themes = _keymap_and_themes(theme)
    options = DashboardOptions(
        backend=replay.backend_name or "mock",
        theme=theme,
        speed=speed,
        keymap=keymap,
        themes=themes,
        picker_on_start=False,
        journal=False,
        replay=replay,
        run_id=replay.run_id,
    )
    app = make_app(options)
    try:
        result = app.run(mouse=mouse)
    finally:
        for note in replay.notes:  # after the dashboard, so they stay on the terminal
            say(f"note: {note}")
    return exit_code(app, result)


def exit_code(app: SwarmApp, result: int | None) -> int:
    """The app's own code when it failed (an exception in the UI: 70), else what it exited with."""
    if app.return_code:
        return int(app.return_code)
    return int(result or 0)


def _keymap_and_themes(theme: str | None) -> tuple[dict[str, str], ThemeLoad]:
    """The user's keymap and the themes; one line (ValueError) if either is unusable."""
    from swarm_tui.config.user import UserConfigError, load_keymap
    from swarm_tui.ui.app import BINDING_IDS
    from swarm_tui.ui.themes import load_themes

    try:
        keymap = load_keymap(BINDING_IDS)
    except UserConfigError as exc:
        raise ValueError(str(exc)) from None
    themes = load_themes()
    if theme is not None and theme not in themes.themes:
        known = ", ".join(sorted(themes.themes))
        raise ValueError(f"unknown theme {theme!r} (themes: {known})")
    return keymap, themes
