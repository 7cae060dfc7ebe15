"""What killed runs left behind, on every registered backend (``swarm-tui cleanup``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from swarm_tui.engine.sandbox import BackendError, OwnedSandbox, backend_class, backend_names


@dataclass
class Found:
    """Leftovers of the backends asked, and what could not be asked (and why)."""

    items: list[OwnedSandbox] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def in_use(self) -> list[OwnedSandbox]:
        return [i for i in self.items if i.in_use]

    @property
    def stray(self) -> list[OwnedSandbox]:
        return [i for i in self.items if not i.in_use]


def find_leftovers(where: str = "all") -> Found:
    """Ask each backend (or the one named) for what killed runs left. Raises BackendError."""
    names = backend_names() if where == "all" else (where,)
    found = Found()
    for name in names:
        leftovers = asyncio.run(backend_class(name).leftovers())
        found.items.extend(leftovers.items)
        found.notes.extend(leftovers.notes)
    return found


def kill_leftovers(items: list[OwnedSandbox]) -> tuple[int, list[str]]:
    """Kill each leftover through its backend; returns how many went and what failed."""
    killed, problems = 0, []
    for item in items:
        try:
            if asyncio.run(backend_class(item.backend).kill_leftover(item)):
                killed += 1
        except (BackendError, OSError, Exception) as exc:  # one failure must not stop the rest
            problems.append(f"could not kill {item.id}: {type(exc).__name__}")
    return killed, problems
