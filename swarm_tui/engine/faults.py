"""Faults: what can be injected, and where each kind acts.

Agent faults go through the backend's ``inject`` (the sandbox really crashes, burns CPU, leaks
memory, or answers with errors); network faults act in the engine's message router, through
which all agent traffic passes. Detection and recovery are always the engine's own detectors,
never a state field set by a scenario.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

AGENT_FAULTS = ("crash", "cpu-spike", "memory-leak", "error-rate", "bad-version", "byzantine", "slow")
NETWORK_FAULTS = ("net-delay", "net-loss", "partition")
FAULT_KINDS = AGENT_FAULTS + NETWORK_FAULTS

FAULT_HELP = {
    "crash": "the agent dies at once",
    "cpu-spike": "the agent burns CPU: slower answers, CPU metric high",
    "memory-leak": "memory grows until the sandbox's memory limit, where it is killed",
    "error-rate": "the agent answers with errors at a rate",
    "bad-version": "the agent runs a defective build (30 % errors)",
    "byzantine": "the agent answers at random (wrong votes and signals)",
    "slow": "the agent answers slowly",
    "net-delay": "the router delays the agent's messages",
    "net-loss": "the router drops a share of the agent's messages",
    "partition": "the router splits the swarm into groups that cannot talk",
}

# Parameters each kind understands, with defaults.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "crash": {},
    "cpu-spike": {"factor": 6.0},
    "memory-leak": {"rate_mb_s": 40.0},  # grows until the sandbox's memory limit kills it
    "error-rate": {"rate": 1.0},
    "bad-version": {"rate": 0.3},
    "byzantine": {},
    "slow": {"factor": 3.0},
    "net-delay": {"delay_ms": 200.0},
    "net-loss": {"loss": 0.3},
    "partition": {"groups": []},
}


@dataclass
class Fault:
    """A fault: its kind, target agent (or agents), when, for how long, and parameters."""

    kind: str
    target: str = ""
    at: float = 0.0
    duration: float | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r} (expected one of {', '.join(FAULT_KINDS)})")
        merged = dict(DEFAULT_PARAMS[self.kind])
        merged.update(self.params)
        self.params = merged

    @property
    def is_network(self) -> bool:
        return self.kind in NETWORK_FAULTS

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "at": self.at,
            "duration": self.duration,
            "params": dict(self.params),
        }

    def command(self) -> dict[str, Any]:
        """The fault as a message for the agent program (faults the agent itself performs)."""
        msg: dict[str, Any] = {"type": "fault", "fault": self.kind, **self.params}
        if self.kind == "bad-version":
            msg["fault"] = "error-rate"
        if self.duration is not None:
            msg["duration"] = self.duration
        return msg
