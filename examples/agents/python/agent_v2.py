"""Version 2 of the desk (examples/agents/python/agent.py): a sound change.

Its momentum signal scales the threshold with the window's volatility (a calm market needs a
smaller move to count, a wild one a larger move). It answers as fast and as reliably as
version 1, so a canary of it is promoted (examples/scenarios/canary-user-v2-sound.toml).
"""

from __future__ import annotations

import itertools
import math
import sys
from typing import Any

from agent import DeskAgent

from swarm_tui.agent import sdk


class DeskAgentV2(DeskAgent):
    program = "example-python/2.0"

    def momentum(self, prices: list[float], data: dict[str, Any]) -> dict[str, Any]:
        lookback = int(self.setting(data, "lookback", 10))
        if len(prices) <= lookback:
            return {"action": "hold", "strength": 0.0, "reason": "warming up"}
        returns = [b / a - 1.0 for a, b in itertools.pairwise(prices[-lookback - 1 :])]
        volatility = math.sqrt(sum(r * r for r in returns) / len(returns)) * math.sqrt(lookback)
        threshold = max(0.005, min(0.05, 1.5 * volatility))
        return super().momentum(prices, {**data, "threshold": threshold})


if __name__ == "__main__":
    sys.exit(sdk.main(DeskAgentV2))
