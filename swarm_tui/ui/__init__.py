"""The Textual dashboard. Reads engine state; the engine never imports this package."""

from __future__ import annotations

from pathlib import Path


def run_dashboard(*, backend: str = "mock", scenario: str | None = None, theme: str | None = None,
                  seed: int = 0, configs: list[str] | None = None, mouse: bool = True,
                  market_csv: str | None = None, backend_options: dict | None = None) -> int:
    """Validate everything the dashboard needs, then run it. Raises ValueError (one line) on bad input."""
    from swarm_tui.config.scenario_file import ConfigError, load_scenario_file
    from swarm_tui.config.user import UserConfigError, load_keymap
    from swarm_tui.patterns import REGISTRY
    from swarm_tui.ui.app import BINDING_IDS, DashboardOptions, make_app
    from swarm_tui.ui.themes import load_themes

    extra, sources = {}, {}
    for path in configs or []:
        try:
            definition = load_scenario_file(path)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        extra[definition.id] = definition.build
        sources[definition.id] = Path(path).name
    if scenario is not None and scenario not in REGISTRY and scenario not in extra:
        raise ValueError(f"unknown scenario {scenario!r} (see `swarm-tui patterns`)")
    try:
        keymap = load_keymap(BINDING_IDS)
    except UserConfigError as exc:
        raise ValueError(str(exc)) from None
    themes = load_themes()
    if theme is not None and theme not in themes.themes:
        known = ", ".join(sorted(themes.themes))
        raise ValueError(f"unknown theme {theme!r} (themes: {known})")
    options = DashboardOptions(backend=backend, scenario=scenario, seed=seed, theme=theme, keymap=keymap,
                               extra_scenarios=extra, extra_sources=sources, market_csv=market_csv,
                               themes=themes, backend_options=backend_options or {})
    app = make_app(options)
    result = app.run(mouse=mouse)
    return int(result or 0)
