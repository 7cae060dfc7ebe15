"""How the dashboard writes numbers: counts as integers, figures to a sensible precision.

Observed values reach the dashboard as text (a check's observed value is whatever its scenario
wrote); numbers inside that text are rewritten to the same precision as everywhere else, so
``2.283241`` reads ``2.28`` and ``inf`` reads ``∞``.
"""

from __future__ import annotations

import math
import re

_NUMBER = re.compile(r"(?<![\w.])(-?\d+\.\d{3,}|-?inf|nan)(?![\w.])", re.IGNORECASE)


def figure(value: float | int | None, unit: str = "") -> str:
    """A measured figure: integers stay integers, others get 3 significant digits or so."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}{unit}"
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return ("∞" if value > 0 else "-∞") + unit
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}{unit}"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return text + unit


def count(value: float | int) -> str:
    """A count (agents, tasks): always an integer."""
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    return f"{round(value):,}"


def observed(text: str) -> str:
    """An observed value (text): a lone number is a figure; numbers inside text are tidied."""
    stripped = text.strip()
    try:
        value = float(stripped)
    except ValueError:
        return _NUMBER.sub(lambda m: figure(float(m.group(1))), text)
    if re.fullmatch(r"-?\d+", stripped):
        return figure(int(stripped))
    return figure(value)
