"""Theme files: loaded at start from the project's themes/ folder and the user's config folder.

A theme file is TOML with Textual's theme colors (primary, secondary, accent, warning, error,
success, foreground, background, surface, panel, boost), ``name``, ``dark``, ``ansi`` and a
``[variables]`` table; swarm-tui's own variables color agent states and versions. A broken file
is reported (one line) and skipped; the dashboard falls back to the default theme.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from rich.errors import StyleSyntaxError
from rich.style import Style
from textual.color import Color, ColorParseError
from textual.css.constants import VALID_STYLE_FLAGS
from textual.theme import Theme

from swarm_tui.config.user import brief, config_dir, read_toml, shown

DEFAULT_THEME = "swarm-dark"
COLOR_KEYS = (
    "primary",
    "secondary",
    "accent",
    "warning",
    "error",
    "success",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
# swarm-tui's CSS variables, with defaults for themes that do not set them.
SWARM_VARIABLES: dict[str, str] = {
    "state-healthy": "#4ec97a",
    "state-starting": "#7fb8ff",
    "state-degraded": "#ffb454",
    "state-draining": "#b48cff",
    "state-failed": "#ff5f6d",
    "state-stopped": "#5c6773",
    "version-stable": "#c9d1d9",
    "version-blue": "#5c9dff",
    "version-green": "#4ec97a",
    "version-canary": "#ffd84d",
    "edge": "#3a4653",  # panel borders
    "link": "#8595a8",  # topology links: visible against the surface
    "link-active": "#c8d6e5",  # a link that carried a message in the last second
    "message": "#7fdbff",
}
# Variables whose values are not colors but text styles (as are all of Textual's with "style" in the name:
# block-cursor-text-style, link-style-hover, ...).
NON_COLOR_VARIABLES = {"input-cursor-text-style"}


@dataclass
class ThemeLoad:
    themes: dict[str, Theme] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    sources: dict[str, Path] = field(default_factory=dict)


def project_themes_dirs() -> list[Path]:
    """Where the project's theme files are: the repository's themes/ (source or editable
    install) and the installed copy under the environment's share/ folder."""
    here = Path(__file__).resolve().parent.parent.parent / "themes"
    installed = Path(sys.prefix) / "share" / "swarm-tui" / "themes"
    return [p for p in (here, installed) if p.is_dir()]


def _color(value: object, key: str, path: Path) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{path}: {key}: expected a color string, got {brief(value)}")
    try:  # ANSI names too: ansi_red, ansi_bright_black, ansi_default
        Color.parse(value)
    except ColorParseError:
        raise ValueError(f"{path}: {key}: {brief(value)} is not a color") from None
    return value


def _text_style(value: object, key: str, path: Path) -> str:
    words = value.split() if isinstance(value, str) else []
    valid = bool(words) and set(words) <= VALID_STYLE_FLAGS
    try:
        Style.parse(" ".join(words))  # also refuses a "not" with nothing after it
    except StyleSyntaxError:
        valid = False
    if not valid:
        raise ValueError(
            f'{path}: {key}: expected a text style such as "bold", "reverse" or "none", got {brief(value)}'
        )
    return " ".join(words)


def load_theme_file(path: Path) -> Theme:
    """One theme file; raises ValueError with a one-line message naming the file and key."""
    data = read_toml(path)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or not name.isprintable():
        raise ValueError(f"{path}: name: expected a theme name (one line of text)")
    if "primary" not in data:
        raise ValueError(f"{path}: primary: required")
    allowed = {"name", "dark", "ansi", "variables", *COLOR_KEYS}
    for key in data:
        if key not in allowed:
            raise ValueError(f"{path}: {shown(key)}: unknown key")
    colors = {k: _color(data[k], k, path) for k in COLOR_KEYS if k in data}
    for flag in ("dark", "ansi"):
        if flag in data and not isinstance(data[flag], bool):
            raise ValueError(f"{path}: {flag}: expected true or false")
    raw_vars = data.get("variables", {})
    if not isinstance(raw_vars, dict):
        raise ValueError(f"{path}: variables: expected a table")
    variables = dict(SWARM_VARIABLES)
    for key, value in raw_vars.items():
        if key in NON_COLOR_VARIABLES or "style" in key.split("-"):
            variables[key] = _text_style(value, f"variables.{shown(key)}", path)
        else:
            variables[key] = _color(value, f"variables.{shown(key)}", path)
    return Theme(
        name.strip(),
        dark=bool(data.get("dark", True)),
        ansi=bool(data.get("ansi", False)),
        variables=variables,
        **colors,  # type: ignore[arg-type]  # the color keys of Theme, checked above
    )


def load_themes(extra_dirs: list[Path] | None = None) -> ThemeLoad:
    """Every theme file of the project and the user; problems are collected, not raised."""
    out = ThemeLoad()
    dirs = [*project_themes_dirs(), config_dir() / "themes", *(extra_dirs or [])]
    for folder in dirs:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                theme = load_theme_file(path)
            except ValueError as exc:
                out.problems.append(str(exc))
                continue
            out.themes[theme.name] = theme
            out.sources[theme.name] = path
    if DEFAULT_THEME not in out.themes:
        # The project's themes are missing (an unusual install): keep a built-in fallback.
        out.themes[DEFAULT_THEME] = Theme(
            name=DEFAULT_THEME,
            primary="#4fa3ff",
            secondary="#2f6db5",
            accent="#ffb454",
            warning="#ffb454",
            error="#ff5f6d",
            success="#4ec97a",
            foreground="#dde3ea",
            background="#0f1419",
            surface="#161d25",
            panel="#1d2630",
            dark=True,
            variables=dict(SWARM_VARIABLES),
        )
    return out
