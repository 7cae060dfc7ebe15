"""Faults done to an agent from outside, for agents that do not perform them themselves.

An agent's hello may claim fault commands (``faults``, docs/agent-protocol.md); the built-in
agent claims them all. For a fault an agent does not claim, the backend acts on it from outside:

* ``error-rate`` (and ``bad-version``), ``slow``, ``byzantine``: on its answers, as a proxy in
  front of it would (:class:`AnswerFaults`): an answer replaced by an error at the rate, held
  back ``factor - 1`` times as long as the agent took, its decision drawn at random;
* ``cpu-spike``: the agent is frozen (SIGSTOP) for ``1 - 1/factor`` of every 100 ms and let go
  (SIGCONT) for the rest, so it gets ``1/factor`` of the time it had (:data:`FREEZE_SCRIPT`);
* ``memory-leak``: a helper process in the agent's sandbox allocates at the rate; when the
  sandbox (the agent, its children and the helper) reaches the limit, the helper kills the
  agent as the kernel's OOM killer would kill the sandbox (:data:`LEAK_SCRIPT`).

The helpers are small Python scripts (standard library, Linux ``/proc``) that run beside the
agent: a local process, or a command in the E2B sandbox. ``crash`` and the network faults never
need the agent: the sandbox is killed, the router delays, drops and partitions.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from swarm_tui.engine.faults import Fault

ANSWER_FAULTS = frozenset({"error-rate", "bad-version", "slow", "byzantine"})
ACTIONS = ("buy", "sell", "hold")
FREEZE_PERIOD_S = 0.1
LIMIT_LINE = "limit"  # what the leak helper prints when it kills the agent at the limit

# The processes of a sandbox: the agent (``root``), its descendants, from /proc.
_TREE = r"""
import os, signal, sys, time

def tree(root):
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack.extend(children.get(pid, ()))
    return [p for p in out if p != os.getpid()]

def signal_all(pids, signum):
    for pid in pids:
        try:
            os.kill(pid, signum)
        except OSError:
            pass
"""

# argv: root pid, factor, duration (s). Freezes the agent's processes for 1 - 1/factor of every period.
FREEZE_SCRIPT = _TREE + (
    r"""
root, factor, duration = int(sys.argv[1]), max(1.0, float(sys.argv[2])), float(sys.argv[3])
period = @PERIOD@
stopped = period * (1.0 - 1.0 / factor)
end = time.monotonic() + duration
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
try:
    while time.monotonic() < end and os.path.exists("/proc/%d" % root):
        pids = tree(root)
        signal_all(pids, signal.SIGSTOP)
        time.sleep(stopped)
        signal_all(pids, signal.SIGCONT)
        time.sleep(period - stopped)
finally:
    signal_all(tree(root), signal.SIGCONT)
""".replace("@PERIOD@", repr(FREEZE_PERIOD_S))
)

# argv: root pid, rate (MB/s), limit (MB). Allocates beside the agent until the sandbox's memory
# reaches the limit, then kills the agent (and itself) as an OOM kill of the sandbox would.
LEAK_SCRIPT = _TREE + (
    r"""
root, rate, limit = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
page = os.sysconf("SC_PAGE_SIZE")

def resident(pid):
    try:
        with open("/proc/%d/statm" % pid) as handle:
            return int(handle.read().split()[1]) * page / 1048576.0
    except (OSError, ValueError, IndexError):
        return 0.0

held = []
step = 0.05
started = time.monotonic()
while os.path.exists("/proc/%d" % root):
    # Paced by the clock: a loop that wakes late on a busy machine catches up (the leak's rate holds).
    due = min(max(1, round(rate * (time.monotonic() - started + step))), limit + 64)
    while len(held) < due:
        block = bytearray(1 << 20)
        block[::4096] = b"x" * len(block[::4096])  # touch every page: real resident memory
        held.append(block)
    pids = tree(root)
    if sum(resident(p) for p in pids) + resident(os.getpid()) >= limit:
        print(@LINE@, flush=True)
        signal_all(pids, signal.SIGKILL)
        break
    time.sleep(step)
""".replace("@LINE@", repr(LIMIT_LINE))
)


@dataclass
class AnswerFaults:
    """Faults applied to an agent's answers on their way to the engine (a proxy's view).

    ``sent`` notes when each task went to the agent, so ``slow`` can hold an answer back in
    proportion to the time the agent took; each fault lasts its ``duration`` (or for good).
    """

    seed: str
    rng: random.Random = field(init=False)
    active: dict[str, tuple[float | None, dict[str, Any]]] = field(default_factory=dict)
    _sent: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"outside:{self.seed}")

    def apply(self, fault: Fault, now: float) -> None:
        kind = "error-rate" if fault.kind == "bad-version" else fault.kind
        until = now + fault.duration if fault.duration is not None else None
        self.active[kind] = (until, dict(fault.params))

    def _get(self, kind: str, now: float) -> dict[str, Any] | None:
        entry = self.active.get(kind)
        if entry is None:
            return None
        until, params = entry
        if until is not None and now >= until:
            del self.active[kind]
            return None
        return params

    def note_sent(self, message: dict[str, Any], now: float) -> None:
        if self.active and message.get("type") == "task" and isinstance(message.get("id"), int):
            self._sent[message["id"]] = now

    def on_answer(self, message: dict[str, Any], now: float) -> tuple[dict[str, Any], float]:
        """The answer as the engine gets it, and how long to hold it back (s)."""
        if message.get("type") != "result":
            return message, 0.0
        sent = self._sent.pop(message["id"], None) if isinstance(message.get("id"), int) else None
        if not self.active:
            return message, 0.0
        errors = self._get("error-rate", now)
        if errors is not None and self.rng.random() < float(errors.get("rate", 1.0)):
            message = {"type": "result", "id": message.get("id"), "ok": False, "error": "injected error (from outside)"}
        elif self._get("byzantine", now) is not None and message.get("ok") is True:
            message = {**message, "value": self._scramble(message.get("value"))}
        slow = self._get("slow", now)
        delay = 0.0
        if slow is not None:
            took = now - sent if sent is not None else 0.0
            delay = (float(slow.get("factor", 3.0)) - 1.0) * max(took, 0.02)
        return message, delay

    def _scramble(self, value: Any) -> Any:
        if isinstance(value, dict) and "action" in value:
            return {**value, "action": self.rng.choice(ACTIONS)}
        if isinstance(value, dict) and "vote" in value:
            return {**value, "vote": self.rng.choice(ACTIONS), "confidence": round(self.rng.random(), 4)}
        return value


def claimed(hello: dict[str, Any]) -> frozenset[str]:
    """The fault commands a hello claims (none when it names none)."""
    faults = hello.get("faults")
    return frozenset(f for f in faults if isinstance(f, str)) if isinstance(faults, list) else frozenset()


def command_of(fault: Fault) -> str:
    """The fault command that performs ``fault`` (bad-version is an error rate)."""
    return str(fault.command()["fault"])


class Screened(Protocol):
    """What a backend keeps per agent for the faults it does from outside."""

    hello: bool
    program: Any  # the user's AgentProgram, or None for the built-in agent
    claims: frozenset[str] | None
    answers: AnswerFaults | None


def screen(target: Screened, msg: dict[str, Any], now: float) -> tuple[dict[str, Any], float]:
    """An agent's message before the engine sees it, the same on every backend: a user's
    program's hello says which fault commands it claims; a result goes through the answer
    faults done from outside. The message (perhaps replaced) and how long to hold it back."""
    mtype = msg.get("type")
    if mtype == "hello" and not target.hello:
        target.hello = True
        if target.program is not None:
            target.claims = claimed(msg)
    elif mtype == "result" and target.answers is not None:
        return target.answers.on_answer(msg, now)
    return msg, 0.0


SELF = "self"  # how_to_do: the agent performs the fault itself (its fault command is sent)
ANSWERS = "answers"  # how_to_do: on its answers (AnswerFaults)


def how_to_do(
    fault: Fault, user_program: bool, claims: frozenset[str] | None, memory_limit_mb: float
) -> str | tuple[str, tuple[float, ...]]:
    """How a backend does an agent fault other than a crash: SELF, ANSWERS, or a helper script
    beside the agent with its arguments (the same rule on every backend)."""
    if not user_program or (claims is not None and command_of(fault) in claims):
        return SELF
    if fault.kind in ANSWER_FAULTS:
        return ANSWERS
    if fault.kind == "cpu-spike":
        duration = fault.duration if fault.duration is not None else 10.0
        return FREEZE_SCRIPT, (float(fault.params.get("factor", 6.0)), duration)
    if fault.kind == "memory-leak":
        limit = min(float(fault.params.get("limit_mb", memory_limit_mb)), memory_limit_mb)
        return LEAK_SCRIPT, (float(fault.params.get("rate_mb_s", 40.0)), limit)
    return SELF


def monotonic() -> float:
    return time.monotonic()
