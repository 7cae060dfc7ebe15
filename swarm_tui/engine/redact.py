"""Secrets never leave the process: anything written out passes through :func:`scrub`.

The secrets are the E2B credentials of the environment and every value of an agent program's
``env`` (registered with :func:`register_secrets` when a scenario file or a run names them).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

SECRET_VARIABLES = ("E2B_API_KEY", "E2B_ACCESS_TOKEN")
MASK = "***"
# Shorter values of an agent's env are not masked: a value like "1" or "true" would mask every
# "1" and "true" of a journal (and break its JSON). Secrets are longer than this.
MIN_REGISTERED = 8

_registered: set[str] = set()


def register_secrets(values: Iterable[str]) -> None:
    """Treat these values as secrets from now on (those of at least MIN_REGISTERED characters),
    as written and as JSON writes them (escaped quotes, backslashes, non-ASCII)."""
    for value in values:
        if len(value) >= MIN_REGISTERED:
            _registered.add(value)
            escaped = json.dumps(value)[1:-1]
            if escaped != value:
                _registered.add(escaped)


def registered_secrets() -> list[str]:
    return sorted(_registered, key=len, reverse=True)


def secrets_in_environment() -> list[str]:
    """The secret values known right now: the environment's (long enough to be worth masking)
    and the registered ones, longest first (so a secret inside another is masked whole)."""
    found = [v for name in SECRET_VARIABLES if len(v := os.environ.get(name, "")) >= 4]
    return sorted({*found, *_registered}, key=len, reverse=True)


def scrub(text: str, secrets: list[str] | None = None) -> str:
    """``text`` with every secret of the environment (or of ``secrets``) replaced by ``***``."""
    for secret in secrets_in_environment() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
