"""Version 2 of the desk with a deliberate regression: slower, and more errors.

Its signals consult a new "market data cache" before they answer: a synchronous call that
takes 60 ms and fails on a quarter of the calls. A canary of it must be aborted
(examples/scenarios/canary-user-v2-regression.toml): the analysis sees its p95 latency far
above the stable version's and its success rate far below.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from agent_v2 import DeskAgentV2

from swarm_tui.agent import sdk

CACHE_CALL_S = 0.06
CACHE_MISS_RATE = 0.25


class DeskAgentV2Regressed(DeskAgentV2):
    program = "example-python/2.0-regressed"

    def op_signal(self, data: dict[str, Any]) -> dict[str, Any]:
        time.sleep(CACHE_CALL_S)  # the regression: a slow call on every signal ...
        if self.rng.random() < CACHE_MISS_RATE:  # ... that often fails
            raise sdk.TaskError("market data cache miss")
        return super().op_signal(data)


if __name__ == "__main__":
    sys.exit(sdk.main(DeskAgentV2Regressed))
