"""Which scenarios of the catalogue an agent can run, and how each fault is done to it.

An agent can run a scenario when it answers every operation (and strategy) the scenario's tasks
ask for (:mod:`swarm_tui.session.requirements` measures them) and every fault the scenario
injects can be done to it on the backend: by the agent, if it claims the fault command, or from
outside (:meth:`~swarm_tui.engine.sandbox.Backend.fault_methods`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from swarm_tui.engine.faults import FAULT_KINDS
from swarm_tui.engine.sandbox import backend_class
from swarm_tui.session.requirements import Needs


@dataclass(frozen=True)
class Fit:
    """One scenario against one agent."""

    scenario: str
    missing: tuple[str, ...]  # operations or faults it lacks
    outside: tuple[str, ...]  # faults of the scenario done from outside the agent

    @property
    def runnable(self) -> bool:
        return not self.missing

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.scenario,
            "runnable": self.runnable,
            "missing": list(self.missing),
            "outside": list(self.outside),
        }


def answered(ops: Iterable[str], strategies: Iterable[str]) -> set[str]:
    """Operations in the requirements' words: ``signal:<strategy>`` for each strategy of signal."""
    out = {op for op in ops if op != "signal"}
    if "signal" in set(ops):
        out |= {f"signal:{s}" for s in strategies}
    return out


def fault_methods(backend: str, faults: frozenset[str] | None) -> dict[str, str]:
    """How each fault kind is done on ``backend`` to an agent that performs ``faults`` itself."""
    methods = backend_class(backend)().fault_methods(faults)
    return {kind: methods.get(kind, "not possible") for kind in FAULT_KINDS}


def fit(needs: dict[str, Needs], ops: set[str], methods: dict[str, str]) -> list[Fit]:
    """Every scenario of ``needs`` against an agent answering ``ops`` with these fault methods."""
    out = []
    for scenario, need in needs.items():
        missing = sorted(need.ops - ops)
        missing += [f"fault {f}" for f in sorted(need.faults) if methods.get(f, "").startswith("not possible")]
        outside = sorted(f for f in need.faults if methods.get(f, "").startswith("from outside"))
        out.append(Fit(scenario, tuple(missing), tuple(outside)))
    return out
