"""The user's configuration: where it lives, the remembered settings and the keymap.

Config directory: ``$SWARM_TUI_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/swarm-tui``, else
``~/.config/swarm-tui``. In it:

* ``config.toml``: ``[keymap]`` binding id = key (e.g. ``crash = "k"``);
* ``themes/*.toml``: the user's own themes (same format as the project's themes/);
* ``settings.json``: what the dashboard remembers (the chosen theme).
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

from swarm_tui.engine.params import brief, shown


class UserConfigError(ValueError):
    """A user config file that cannot be used: one line naming the file and the key."""


def toml_problem(exc: ValueError | RecursionError) -> str:
    """Why tomllib refused a text, in one line: its own error, or a limit of Python it runs into without one."""
    if isinstance(exc, RecursionError):
        return "invalid TOML: arrays or tables nested too deeply"
    if isinstance(exc, tomllib.TOMLDecodeError):
        return f"invalid TOML: {exc}"
    return f"invalid TOML: an integer has more than {sys.get_int_max_str_digits()} digits"


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's table. Raises ValueError with one line naming the file: missing, a folder,
    unreadable, not UTF-8, or not TOML (including what tomllib hits without an error of its own)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a folder, expected a .toml file") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text file") from None
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError, and the limits tomllib hits without one
        raise ValueError(f"{path}: {toml_problem(exc)}") from None


def config_dir() -> Path:
    override = os.environ.get("SWARM_TUI_CONFIG_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "swarm-tui"


def settings_path() -> Path:
    return config_dir() / "settings.json"


# The type of each remembered setting; a value of another type is dropped on load.
SETTING_TYPES: dict[str, type] = {"theme": str}


def load_settings() -> dict[str, Any]:
    """Remembered settings; an unreadable file is ignored (it only holds preferences)."""
    try:
        data = json.loads(settings_path().read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, SETTING_TYPES.get(k, object))}


def save_settings(**changes: Any) -> None:
    path = settings_path()
    data = {**load_settings(), **changes}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home must not break the dashboard


def load_keymap(known_ids: set[str], path: Path | None = None) -> dict[str, str]:
    """The ``[keymap]`` table of config.toml, validated against the binding ids."""
    path = path or config_dir() / "config.toml"
    if not path.exists():
        return {}
    try:
        data = read_toml(path)
    except ValueError as exc:
        raise UserConfigError(str(exc)) from None
    unknown_tables = sorted(k for k in data if k != "keymap")
    if unknown_tables:
        raise UserConfigError(f"{path}: {shown(unknown_tables[0])}: unknown key (expected [keymap])")
    keymap = data.get("keymap", {})
    if not isinstance(keymap, dict):
        raise UserConfigError(f'{path}: keymap: expected a table of binding id = "key"')
    out: dict[str, str] = {}
    for binding_id, key in keymap.items():
        if binding_id not in known_ids:
            known = ", ".join(sorted(known_ids))
            raise UserConfigError(f"{path}: keymap.{shown(binding_id)}: unknown binding id (known: {known})")
        if not isinstance(key, str) or not key.strip() or len(key) > 40:
            raise UserConfigError(
                f'{path}: keymap.{binding_id}: expected a key such as "k" or "ctrl+k", got {brief(key)}'
            )
        out[binding_id] = key.strip()
    return out
