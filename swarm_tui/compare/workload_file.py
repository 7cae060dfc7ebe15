"""A workload by name (built in) or from a user's TOML file (docs/workloads.md has the format)."""

from __future__ import annotations

from pathlib import Path

from swarm_tui.config.user import read_toml
from swarm_tui.patterns.workloads import WORKLOADS, Workload, named_workload, parse_workload


def load_workload(name_or_path: str) -> Workload:
    """A built-in workload's name, or a path to a ``.toml`` file. Raises ValueError (one line)."""
    if name_or_path in WORKLOADS:
        return named_workload(name_or_path)
    path = Path(name_or_path)
    if path.suffix.lower() != ".toml" and not path.exists():
        return named_workload(name_or_path)  # says which names there are
    return parse_workload(read_toml(path), str(path))
