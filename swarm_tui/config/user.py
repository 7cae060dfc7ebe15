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
import tomllib
from pathlib import Path
from typing import Any


class UserConfigError(ValueError):
    """A user config file that cannot be used: one line naming the file and the key."""


def config_dir() -> Path:
    override = os.environ.get("SWARM_TUI_CONFIG_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "swarm-tui"


def settings_path() -> Path:
    return config_dir() / "settings.json"


def load_settings() -> dict[str, Any]:
    """Remembered settings; an unreadable file is ignored (it only holds preferences)."""
    try:
        data = json.loads(settings_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


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
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UserConfigError(f"{path}: not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserConfigError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise UserConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    unknown_tables = sorted(k for k in data if k != "keymap")
    if unknown_tables:
        raise UserConfigError(f"{path}: {unknown_tables[0]}: unknown key (expected [keymap])")
    keymap = data.get("keymap", {})
    if not isinstance(keymap, dict):
        raise UserConfigError(f"{path}: keymap: expected a table of binding id = \"key\"")
    out: dict[str, str] = {}
    for binding_id, key in keymap.items():
        if binding_id not in known_ids:
            known = ", ".join(sorted(known_ids))
            raise UserConfigError(f"{path}: keymap.{binding_id}: unknown binding id (known: {known})")
        if not isinstance(key, str) or not key.strip() or len(key) > 40:
            raise UserConfigError(f"{path}: keymap.{binding_id}: expected a key such as \"k\" or \"ctrl+k\", "
                                  f"got {key!r}")
        out[binding_id] = key.strip()
    return out
