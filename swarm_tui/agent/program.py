"""The built-in agent program that runs in a real sandbox (a local process or an E2B sandbox).

Standard library only, so the ``agent`` folder can be uploaded to any sandbox as is and run
with ``python3 -m <folder> --config '<json>'``.

It is one implementation of the agent protocol (docs/agent-protocol.md), built on the helper
module every Python agent may use (:mod:`.sdk`): the helper does the protocol (hello, heartbeats,
pings, error lines for bad input, exit on stdin EOF, death with its parent, a task's cost, the
CPU and memory faults); :class:`~.core.AgentCore` computes the answers, the same code the mock
backend runs in-process, so every backend answers a task alike.

Faults it performs itself (it claims them all): ``cpu-spike`` (burns CPU for ``duration`` s),
``memory-leak`` (allocates ``rate_mb_s`` until ``limit_mb``, then dies as an OOM kill would,
exit 137), ``error-rate``/``bad-version`` (answers with errors), ``slow`` (answers late),
``byzantine`` (answers at random), ``crash`` (dies at once).
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from typing import Any

from . import sdk
from .core import AgentCore

MAX_LINE = sdk.MAX_LINE
OOM_EXIT = sdk.OOM_EXIT
OPERATIONS = ("signal", "vote", "risk_check", "fill", "allocate", "performance", "collect", "work", "forward", "echo")
STRATEGIES = ("momentum", "mean_reversion", "pairs", "arbitrage", "forecast")


class Program(sdk.Agent):
    """The built-in agent: the protocol from the helper, the answers from :class:`AgentCore`."""

    program = "built-in"
    strategies = STRATEGIES
    faults = sdk.STANDARD_FAULTS

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        seed = str(config.get("seed", 0)) + str(config.get("agent_id", ""))
        self.core = AgentCore(config, time.monotonic, random.Random(seed))

    def operations(self) -> dict[str, Any]:
        return dict.fromkeys(OPERATIONS, self.core.handle)

    def hello(self) -> dict[str, Any]:
        hello = super().hello()
        hello.update(self.core.hello())  # the configuration's identity and the kind's capabilities
        return hello

    def answer(self, msg: dict[str, Any]) -> dict[str, Any]:
        try:
            reply = self.core.handle(msg)
        except Exception as exc:  # an answer, never a dead agent
            reply = {"type": "result", "id": msg.get("id"), "ok": False, "error": f"agent error: {exc!r}"}
        return reply or {"type": "result", "id": msg.get("id"), "ok": False, "error": "no answer"}

    def latency_factor(self) -> float:
        return self.core.latency_factor()

    def on_tick(self, prices: dict[str, Any]) -> None:
        try:
            self.core.handle({"type": "tick", "prices": prices})
        except (TypeError, ValueError) as exc:
            self.error(f"bad tick: {exc}")

    def handle_fault(self, msg: dict[str, Any]) -> None:
        if msg.get("fault") in ("cpu-spike", "memory-leak", "crash", "exit"):
            super().handle_fault({**msg, "fault": "crash" if msg.get("fault") == "exit" else msg.get("fault")})
        else:
            self.core.apply_fault(msg)  # error-rate, slow, byzantine, clear: the core's answers change


def main(argv: list[str] | None = None) -> int:
    try:
        config = sdk.read_config(argv)
    except (OSError, ValueError) as exc:
        print(json.dumps({"type": "error", "error": f"bad configuration: {exc}"}), flush=True)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        return Program(config).run()
    return 130
