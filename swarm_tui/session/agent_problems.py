"""One clear line for each way a user's agent program broke (for the stderr of headless runs).

A program that exits at once, never says hello, prints garbage or floods is marked failed by the
engine with the reason (a ``failure_detected`` event and its ``agent_state``); this subscriber
turns the first failure of each kind per scenario into one line, so a run of 200 agents of a
broken program says so once, not 200 times. The built-in agent's failures are the experiments'
own (crashes, leaks) and are not reported here.
"""

from __future__ import annotations

from collections.abc import Callable

from swarm_tui.engine.events import AgentStateChanged, Event, FailureDetected
from swarm_tui.engine.redact import scrub
from swarm_tui.engine.sandbox import BUILTIN_PROGRAM


class AgentProblems:
    """An event subscriber: ``say(line)`` for the first failure of a user's program of each kind."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self._programs: dict[str, str] = {}  # agent id -> "program version"
        self._said: set[tuple[str, str]] = set()
        self.lines: list[str] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, AgentStateChanged):
            if not event.old:
                if event.program and event.program != BUILTIN_PROGRAM:
                    self._programs[event.agent] = f"{event.program} {event.version}".strip()
            elif event.new == "failed" and event.old == "starting":
                self._report(event.scenario, event.agent, event.reason)
        elif isinstance(event, FailureDetected) and event.detector == "protocol":
            self._report(event.scenario, event.agent, event.reason)

    def _report(self, scenario: str, agent: str, reason: str) -> None:
        program = self._programs.get(agent)
        if program is None:
            return
        kind = ":".join(reason.split(":")[:2])  # "protocol violation: output line is not JSON"
        if (scenario, kind) in self._said:
            return
        self._said.add((scenario, kind))
        line = scrub(f"{scenario}: agent {agent} ({program}) failed: {reason}")
        self.lines.append(line)
        self.say(line)
