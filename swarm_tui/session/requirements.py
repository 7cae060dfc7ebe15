"""What each scenario of the catalogue asks of an agent: the operations (and strategies) of its
tasks, the faults it injects, whether it sends ticks.

Measured, not declared: every scenario runs once on the mock backend (virtual time, about three
seconds for the whole catalogue) behind a recorder that notes every message sent to an agent.
The answer is cached in the state directory under a key made of the catalogue's source code, so
it is measured again whenever a scenario changes. The same recording checks that every task the
engine sends has the shape docs/agent-protocol.md promises (:func:`task_violations`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

import swarm_tui
from swarm_tui.backends.mock import MockBackend
from swarm_tui.engine.events import Event, FaultInjected
from swarm_tui.engine.faults import Fault
from swarm_tui.engine.messages import ENGINE_MESSAGES, OPS
from swarm_tui.engine.runner import run_one
from swarm_tui.engine.sandbox import SandboxHandle
from swarm_tui.patterns.catalogue import Catalogue, load_catalogue
from swarm_tui.results.journal import state_dir

CACHE_VERSION = 1


@dataclass
class Needs:
    """What one scenario asks of its agents."""

    ops: set[str] = field(default_factory=set)  # "signal:momentum", "vote", ...
    faults: set[str] = field(default_factory=set)
    ticks: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"ops": sorted(self.ops), "faults": sorted(self.faults), "ticks": self.ticks}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Needs:
        return cls(set(data.get("ops", [])), set(data.get("faults", [])), bool(data.get("ticks")))


def op_name(message: dict[str, Any]) -> str:
    """A task's operation as the requirements name it: ``signal:<strategy>`` for a signal."""
    op = str(message.get("op"))
    strategy = (message.get("data") or {}).get("strategy") if op == "signal" else None
    return f"signal:{strategy}" if strategy else op


def task_violations(message: dict[str, Any]) -> str | None:
    """Why a message the engine sends breaks docs/agent-protocol.md (None: it does not)."""
    model = ENGINE_MESSAGES.get(str(message.get("type")))
    if model is None:
        return f"unknown message type {message.get('type')!r}"
    try:
        model.model_validate(message)
        if message["type"] == "task":
            data_model = OPS.get(str(message["op"]), (None, None))[0]
            if data_model is None:
                return f"unknown op {message['op']!r}"
            data_model.model_validate(message["data"])
    except ValidationError as exc:
        first = exc.errors()[0]
        return f"{message.get('type')} {message.get('op', '')}: {'.'.join(map(str, first['loc']))}: {first['msg']}"
    return None


class RecordingBackend(MockBackend):
    """The mock backend, noting what the engine sends to agents."""

    def __init__(self, seed: int = 0, *, validate: bool = False) -> None:
        super().__init__(seed=seed)
        self.needs = Needs()
        self.validate = validate  # check every message against the protocol's models (slower)
        self.violations: list[str] = []

    def send(self, handle: SandboxHandle, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "task":
            self.needs.ops.add(op_name(message))
        elif kind == "tick":
            self.needs.ticks = True
        if self.validate and len(self.violations) < 20:
            problem = task_violations(message)
            if problem is not None:
                self.violations.append(problem)
        super().send(handle, message)

    async def inject(self, handle: SandboxHandle, fault: Fault) -> None:
        self.needs.faults.add(fault.kind)
        await super().inject(handle, fault)


def measure(scenario_ids: Iterable[str] | None = None, catalogue: Catalogue | None = None) -> dict[str, Needs]:
    """Run the scenarios on the recording mock backend; what each asked of its agents."""
    catalogue = catalogue or load_catalogue()
    out: dict[str, Needs] = {}
    for cls in catalogue.main():
        if scenario_ids is not None and cls.id not in scenario_ids:
            continue
        backend = RecordingBackend(seed=0)

        def note(event: Event, needs: Needs = backend.needs) -> None:
            if isinstance(event, FaultInjected):
                needs.faults.add(event.fault)  # network faults never reach the backend

        run_one(cls(), backend, seed=0, run_id="requirements", subscribers=[note])
        out[cls.id] = backend.needs
    return out


def _catalogue_key() -> str:
    """A digest of the code the requirements depend on (the scenarios and the engine)."""
    digest = hashlib.sha256(f"{CACHE_VERSION}:{swarm_tui.__version__}".encode())
    root = Path(swarm_tui.__file__).parent
    for folder in ("patterns", "engine"):
        for path in sorted((root / folder).rglob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _cache_path() -> Path:
    return state_dir() / f"requirements-{_catalogue_key()}.json"


def cached() -> dict[str, Needs] | None:
    """The requirements measured for this very code before, if they are in the cache."""
    try:
        data = json.loads(_cache_path().read_text(encoding="utf-8"))
        return {sid: Needs.from_dict(needs) for sid, needs in data.items()}
    except (OSError, ValueError, AttributeError):
        return None


def parse(text: str) -> dict[str, Needs]:
    """Requirements as :func:`main` prints them."""
    return {sid: Needs.from_dict(needs) for sid, needs in json.loads(text).items()}


def requirements(catalogue: Catalogue | None = None) -> dict[str, Needs]:
    """What each catalogue scenario asks of its agents (from the cache, or measured now)."""
    found_before = cached()
    if found_before is not None:
        return found_before
    path = _cache_path()
    found = measure(catalogue=catalogue)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({k: v.to_dict() for k, v in found.items()}, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only state directory: measured again next time
    return found


def main() -> None:
    """``python -m swarm_tui.session.requirements``: measure (or read) and print them as JSON."""
    print(json.dumps({k: v.to_dict() for k, v in requirements().items()}, sort_keys=True))


if __name__ == "__main__":
    main()
