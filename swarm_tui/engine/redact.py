"""Secrets never leave the process: anything written out passes through :func:`scrub`."""

from __future__ import annotations

import os

SECRET_VARIABLES = ("E2B_API_KEY", "E2B_ACCESS_TOKEN")
MASK = "***"


def secrets_in_environment() -> list[str]:
    """The secret values set right now (long enough to be worth masking)."""
    return [v for name in SECRET_VARIABLES if len(v := os.environ.get(name, "")) >= 4]


def scrub(text: str, secrets: list[str] | None = None) -> str:
    """``text`` with every secret of the environment (or of ``secrets``) replaced by ``***``."""
    for secret in secrets_in_environment() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
