"""Sandbox backends behind one protocol: mock (in-process), local (processes), e2b (cloud)."""

from __future__ import annotations

from typing import Any

from swarm_tui.backends.base import Backend, BackendError

BACKEND_NAMES = ("mock", "local", "e2b")


def make_backend(name: str, *, seed: int = 0, **options: Any) -> Backend:
    """A new backend by name. Raises ValueError for an unknown or unavailable one."""
    if name == "mock":
        from swarm_tui.backends.mock import MockBackend

        return MockBackend(seed=seed, **options)
    if name == "local":
        from swarm_tui.backends.local import LocalBackend

        return LocalBackend(seed=seed, **options)
    if name == "e2b":
        from swarm_tui.backends.e2b import E2BBackend

        return E2BBackend(seed=seed, **options)
    raise ValueError(f"unknown backend {name!r} (choose from {', '.join(BACKEND_NAMES)})")


__all__ = ["BACKEND_NAMES", "Backend", "BackendError", "make_backend"]
