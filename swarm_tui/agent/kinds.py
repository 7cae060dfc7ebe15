"""Agent kinds, their capabilities and default strategies (the catalogue's table).

Standard library only (shipped into sandboxes with the agent program).
"""

from __future__ import annotations

CAPABILITIES: dict[str, tuple[str, ...]] = {
    "forecaster": ("forecast", "trend_analysis"),
    "momentum": ("momentum_detection", "trade_execution"),
    "mean_reversion": ("mean_reversion", "pair_trading"),
    "pairs": ("pair_trading",),
    "arbitrage": ("arbitrage",),
    "risk": ("risk_assessment", "position_sizing"),
    "coordinator": ("optimization", "allocation"),
    "portfolio": ("optimization", "allocation"),
    "hub": ("routing",),
    "collector": ("data_collection",),
    "analyzer": ("signal_analysis", "momentum_detection"),
    "executor": ("trade_execution",),
    "performance": ("performance_tracking",),
    "worker": ("compute",),
}

DEFAULT_STRATEGY: dict[str, str] = {
    "forecaster": "forecast",
    "momentum": "momentum",
    "mean_reversion": "mean_reversion",
    "pairs": "pairs",
    "arbitrage": "arbitrage",
    "risk": "risk",
    "coordinator": "allocation",
    "portfolio": "allocation",
    "hub": "routing",
    "collector": "collect",
    "analyzer": "momentum",
    "executor": "execution",
    "performance": "performance",
    "worker": "compute",
}

# The capability a task needs, by the strategy it asks for.
STRATEGY_CAPABILITY: dict[str, str] = {
    "momentum": "momentum_detection",
    "mean_reversion": "mean_reversion",
    "pairs": "pair_trading",
    "arbitrage": "arbitrage",
    "forecast": "forecast",
    "risk": "risk_assessment",
    "allocation": "allocation",
    "execution": "trade_execution",
    "performance": "performance_tracking",
    "collect": "data_collection",
    "compute": "compute",
}

KINDS = tuple(CAPABILITIES)


def capabilities_of(kind: str) -> tuple[str, ...]:
    """Capabilities of an agent kind (empty for an unknown kind)."""
    return CAPABILITIES.get(kind, ())
