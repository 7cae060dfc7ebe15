"""Whatever an agent writes never crashes the engine: garbage, invalid JSON, wrong types, a 10 MB
line, a flood. The agent is marked failed (detector ``protocol``), the event says why, no
exception escapes, and nothing is left running.

Misbehaving agents are the real agent program with one fault each (``BAD_AGENT`` below), run
through the backends' ``program`` option: a local process, or an E2B sandbox of the loopback fake.
The line reading and message checks are pure functions, tried with hypothesis on arbitrary input.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from typing import Any

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import EXAMPLES

from swarm_tui.backends.e2b import E2BBackend
from swarm_tui.backends.local import MARKER, LocalBackend
from swarm_tui.backends.mock import MockBackend, MockModel
from swarm_tui.engine import protocol
from swarm_tui.engine.agents import AgentSpec, AgentState
from swarm_tui.engine.clock import Clock, new_loop
from swarm_tui.engine.events import Event, EventBus, FailureDetected
from swarm_tui.engine.protocol import (
    INVALID,
    LINE_LIMIT,
    MAX_DEPTH,
    FloodGate,
    LineBuffer,
    check_message,
    check_value,
    decode_line,
)
from swarm_tui.engine.sandbox import Backend
from swarm_tui.engine.swarm import RequestFailed, Swarm
from swarm_tui.engine.topology import Topology

WINDOW = [100.0 + 0.3 * i for i in range(40)]
BIG = 10 * 1024 * 1024

# The agent program with one fault, chosen by params["misbehave"] (none: a healthy agent).
BAD_AGENT = r"""
import json, sys, threading, time

try:
    from swarm_agent import program as real  # uploaded into an E2B sandbox
except ImportError:
    from swarm_tui.agent import program as real  # a local process

ARGS = sys.argv[1:]
if "--config-file" in ARGS:
    with open(ARGS[ARGS.index("--config-file") + 1], encoding="utf-8") as handle:
        CONFIG = json.load(handle)
else:
    CONFIG = json.loads(ARGS[ARGS.index("--config") + 1])
MODE = (CONFIG.get("params") or {}).get("misbehave", "")
BIG = 10 * 1024 * 1024

RAW = {
    "garbage": lambda: b"\x00\xff\xfe garbage \x1b[31m\n",
    "not-json": lambda: b"{'type': 'heartbeat', 'seq': 1}\n",
    "array": lambda: b"[1, 2, 3]\n",
    "unknown-type": lambda: b'{"type": "launch-missiles"}\n',
    "type-not-string": lambda: b'{"type": 7}\n',
    "heartbeat-strings": lambda: b'{"type": "heartbeat", "seq": "1", "leaked_mb": "0"}\n',
    "nested-monster": lambda: b'{"type": "heartbeat", "seq": 1, "x": ' + b"[" * 200000 + b"]" * 200000 + b"}\n",
    "deep": lambda: b'{"type": "heartbeat", "seq": 1, "x": ' + b"[" * 100 + b"]" * 100 + b"}\n",
    "10mb-line": lambda: b"x" * BIG + b"\n",
    "10mb-json": lambda: b'{"type": "error", "error": "' + b"x" * BIG + b'"}\n',
    "10mb-no-newline": lambda: b"x" * BIG,
}


class Agent(real.Program):
    def write(self, data):
        with self._lock:
            self._out.write(data)
            self._out.flush()

    def emit(self, msg):
        kind = msg.get("type")
        if kind == "hello" and MODE == "hello-capabilities":
            msg = {**msg, "capabilities": "everything"}
        if kind == "result" and MODE == "result-id-string":
            msg = {**msg, "id": str(msg["id"])}
        if kind == "result" and MODE == "result-ok-string":
            msg = {**msg, "ok": "yes"}
        if kind == "result" and MODE == "signal-action-list" and msg.get("ok"):
            msg = {**msg, "value": {**msg["value"], "action": ["buy"]}}
        super().emit(msg)
        if kind == "hello" and MODE:
            threading.Thread(target=self.misbehave, daemon=True).start()

    def _heartbeats(self):
        if MODE != "10mb-no-newline":  # its heartbeats would end the endless line
            super()._heartbeats()

    def misbehave(self):
        if MODE in RAW:
            self.write(RAW[MODE]())
        elif MODE.startswith("flood"):
            block = b'{"type":"heartbeat","seq":1}\n' * 100
            count = int(MODE.split("-")[1]) // 100 if "-" in MODE else None
            while count is None or count > 0:
                self.write(block)
                if count is not None:
                    count -= 1


sys.exit(Agent(CONFIG).run())
"""

# What the engine says about each (a part of the FailureDetected reason).
LINE_FAULTS = {
    "garbage": "not UTF-8",  # E2B's SDK decodes with replacement characters: "not JSON" there
    "not-json": "output line is not JSON: \"{'type': 'heartbeat', 'seq': 1}",
    "array": "not a JSON object but an array",
    "unknown-type": "unknown message type 'launch-missiles'",
    "type-not-string": "the message type must be a string, got an integer",
    "heartbeat-strings": "heartbeat.seq must be an integer, got a string",
    "nested-monster": f"nests deeper than {MAX_DEPTH} levels",
    "deep": f"nests deeper than {MAX_DEPTH} levels",
    "hello-capabilities": "hello.capabilities must be an array of strings, got a string",
}
ANSWER_FAULTS = {
    "result-id-string": "result.id must be an integer, got a string",
    "result-ok-string": "result.ok must be a boolean, got a string",
    "signal-action-list": "signal.value.action must be one of buy, sell, hold, got an array",
}
HUGE_FAULTS = ("10mb-line", "10mb-json", "10mb-no-newline")


def spec(mode: str = "") -> AgentSpec:
    return AgentSpec(kind="momentum", symbols=("SPY",), name=mode or "good", params={"misbehave": mode} if mode else {})  # type: ignore[dict-item]


def run_swarm(backend: Backend, body: Any, timeout: float = 40.0, validate: bool | None = None) -> Any:
    """Run ``body(swarm, events)`` on a fresh swarm; no exception may escape to the loop."""
    loop_errors: list[dict[str, Any]] = []

    async def main() -> Any:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: loop_errors.append(context))
        bus = EventBus()
        seen: list[Event] = []
        bus.subscribe(seen.append)
        swarm = Swarm(
            backend, Clock(), bus, Topology("mesh"), scenario="agent-output", run_id="agent-output", validate=validate
        )
        try:
            out = await asyncio.wait_for(body(swarm, seen), timeout)
        finally:
            await swarm.shutdown()
        assert backend.alive_count() == 0
        assert swarm.errors == []
        return out

    loop = new_loop(virtual=not backend.capabilities.real)
    try:
        result = loop.run_until_complete(main())
    finally:
        loop.close()
    assert loop_errors == [], [str(c.get("exception") or c.get("message")) for c in loop_errors]
    return result


def failure_of(seen: list[Event], agent_id: str) -> FailureDetected | None:
    return next((e for e in seen if isinstance(e, FailureDetected) and e.agent == agent_id), None)


async def until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


def agent_processes() -> list[int]:
    me = os.getpid()
    return [
        p.pid
        for p in psutil.process_iter(["cmdline", "ppid"])
        if p.info.get("ppid") == me and any(c.startswith(f"{MARKER}:") for c in (p.info.get("cmdline") or []))
    ]


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / (1 << 20)


async def misbehave_and_check(swarm: Swarm, seen: list[Event], line_faults: dict[str, str]) -> None:
    """Deploy a healthy agent and one per fault; each faulty one is failed, saying why."""
    modes = [*line_faults, *ANSWER_FAULTS]
    agents = await swarm.deploy_many([spec(), *(spec(m) for m in modes)])
    good, bad = agents[0], dict(zip(modes, agents[1:], strict=True))
    assert good.live
    # Faults in answers show when the agent is asked something.
    for mode in ANSWER_FAULTS:
        with pytest.raises(RequestFailed, match="agent-failed"):
            await swarm.request(bad[mode], "signal", {"prices": WINDOW}, timeout=10)
    await until(lambda: all(a.state == AgentState.FAILED for a in bad.values()))
    for mode, agent in bad.items():
        event = failure_of(seen, agent.id)
        assert event is not None and event.detector == "protocol", mode
        expected = {**line_faults, **ANSWER_FAULTS}[mode]
        assert event.reason.startswith("protocol violation: ") and expected in event.reason, (mode, event.reason)
        # The state change says why as well (the journal and the dashboard show it).
        change = next(e for e in seen if e.kind == "agent_state" and e.agent == agent.id and e.new == "failed")
        assert change.reason == event.reason
        assert len([e for e in seen if isinstance(e, FailureDetected) and e.agent == agent.id]) == 1
    # One that failed while it started (its hello) lost its sandbox at once, as any failed start.
    owned = {o.id for o in await swarm.backend.list_owned()}
    assert bad["hello-capabilities"].sandbox.id not in owned and good.sandbox.id in owned
    # The engine goes on: the healthy agent answers.
    assert good.state == AgentState.HEALTHY
    assert (await swarm.request(good, "signal", {"prices": WINDOW}, timeout=10))["action"] == "buy"


# -- local processes ---------------------------------------------------------------------------------
def test_local_agents_that_misbehave_are_failed_with_the_reason() -> None:
    started = time.monotonic()
    run_swarm(LocalBackend(program=BAD_AGENT), lambda swarm, seen: misbehave_and_check(swarm, seen, LINE_FAULTS))
    assert agent_processes() == []
    assert time.monotonic() - started < 20  # a bad hello does not hold deploy() for its ready timeout


def test_local_10mb_lines_with_and_without_an_end() -> None:
    async def body(swarm: Swarm, seen: list[Event]) -> None:
        before = rss_mb()
        agents = await swarm.deploy_many([spec(m) for m in HUGE_FAULTS])
        await until(lambda: all(a.state == AgentState.FAILED for a in agents))
        for agent in agents:
            event = failure_of(seen, agent.id)
            assert event is not None and event.detector == "protocol"
            assert f"output line longer than {LINE_LIMIT} bytes" in event.reason
        await asyncio.sleep(0.5)
        assert rss_mb() - before < 48  # the engine holds at most about 2 MiB of a line per agent
        good = await swarm.deploy(spec())
        assert (await swarm.request(good, "signal", {"prices": WINDOW}))["action"] == "buy"
        t0 = time.monotonic()
        for agent in agents:
            await swarm.dispose(agent)  # a blocked writer with a full pipe dies promptly
        assert time.monotonic() - t0 < 3

    run_swarm(LocalBackend(program=BAD_AGENT), body)
    assert agent_processes() == []


def test_local_flood_fails_the_agent_and_costs_little_afterwards() -> None:
    async def body(swarm: Swarm, seen: list[Event]) -> None:
        good, flooder = await swarm.deploy_many([spec(), spec("flood")])
        await until(lambda: flooder.state == AgentState.FAILED)
        event = failure_of(seen, flooder.id)
        assert event is not None and event.detector == "protocol"
        assert event.reason.startswith("protocol violation: flooding: ") and " lines in " in event.reason
        # Its output is thrown away unread: the flooder, still running, costs the engine little.
        assert psutil.pid_exists(flooder.sandbox.pid)
        cpu0, t0 = time.process_time(), time.monotonic()
        answers = [await swarm.request(good, "signal", {"prices": WINDOW}) for _ in range(10)]
        await asyncio.sleep(1.0)
        used = (time.process_time() - cpu0) / (time.monotonic() - t0)
        assert all(a["action"] == "buy" for a in answers)
        assert used < 0.5, f"the engine used {used:.0%} of a core next to a drained flooder"
        assert flooder.state == AgentState.FAILED and good.state == AgentState.HEALTHY

    run_swarm(LocalBackend(program=BAD_AGENT), body)
    assert agent_processes() == []


def test_a_healthy_agent_answering_a_burst_is_not_a_flood() -> None:
    async def body(swarm: Swarm, seen: list[Event]) -> None:
        agent = await swarm.deploy(spec())
        n = protocol.FLOOD_BURST_LINES * 2
        answers = await asyncio.gather(*(swarm.request(agent, "echo", {"n": i}, timeout=30) for i in range(n)))
        assert [a["n"] for a in answers] == list(range(n))
        assert agent.state == AgentState.HEALTHY and failure_of(seen, agent.id) is None

    run_swarm(LocalBackend(), body)


# -- E2B sandboxes (the loopback fake, the real SDK) -----------------------------------------------------
def test_e2b_agents_that_misbehave_are_failed_with_the_reason(e2b_fake) -> None:
    faults = {**LINE_FAULTS, "garbage": "output line is not JSON"}  # the SDK decoded it with U+FFFD
    run_swarm(
        E2BBackend(program=BAD_AGENT, max_sandboxes=40), lambda swarm, seen: misbehave_and_check(swarm, seen, faults)
    )


def test_e2b_10mb_lines_and_a_flood(e2b_fake) -> None:
    async def body(swarm: Swarm, seen: list[Event]) -> None:
        before = rss_mb()
        modes = [*HUGE_FAULTS, "flood-40000"]
        agents = await swarm.deploy_many([spec(), *(spec(m) for m in modes)])
        good, bad = agents[0], agents[1:]
        await until(lambda: all(a.state == AgentState.FAILED for a in bad), timeout=20)
        for mode, agent in zip(modes, bad, strict=True):
            event = failure_of(seen, agent.id)
            assert event is not None and event.detector == "protocol", mode
            wanted = "flooding: " if mode.startswith("flood") else f"output line longer than {LINE_LIMIT} characters"
            assert wanted in event.reason, (mode, event.reason)
        box = swarm.backend._sandboxes[bad[0].sandbox.id]  # type: ignore[attr-defined]
        assert box.faulty and box.lines.pending == 0
        await asyncio.sleep(0.5)
        # The fake runs in this process too (it holds output in flight); the SDK keeps none.
        assert rss_mb() - before < 128
        assert (await swarm.request(good, "signal", {"prices": WINDOW}, timeout=10))["action"] == "buy"
        assert good.state == AgentState.HEALTHY

    run_swarm(E2BBackend(program=BAD_AGENT), body)


# -- the mock backend (trusted, unchecked by default; checked on request) ------------------------------------
def test_only_real_backends_are_checked_by_default() -> None:
    async def main() -> list[bool]:
        clock, bus = Clock(), EventBus()
        return [
            Swarm(backend, clock, bus, Topology("mesh"), validate=validate).validate
            for backend, validate in (
                (MockBackend(), None),
                (LocalBackend(), None),
                (E2BBackend(), None),
                (MockBackend(), True),
            )
        ]

    assert asyncio.run(main()) == [False, True, True, True]


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"type": "result", "id": "x", "ok": True, "value": {}}, "result.id must be an integer, got a string"),
        ({"type": "result", "id": True, "ok": True, "value": {}}, "result.id must be an integer, got a boolean"),
        ({"type": "result", "id": "{id}", "ok": True}, "result.value is missing"),
        ({"type": "result", "id": "{id}", "ok": False, "error": 5}, "result.error must be a string, got an integer"),
        (
            {"type": "result", "id": "{id}", "ok": True, "value": [[[[]]]]},
            "the value answering signal must be an object, got an array",
        ),
        (
            {"type": "result", "id": "{id}", "ok": True, "value": {"action": "moon"}},
            "signal.value.action must be one of buy, sell, hold, got a string",
        ),
        ({"type": "pong", "id": "{id}"}, "pong {id} answers a task"),
        ({"type": "heartbeat", "seq": "1"}, "heartbeat.seq must be an integer, got a string"),
        ({"type": "heartbeat", "seq": 1, "leaked_mb": [1]}, "heartbeat.leaked_mb must be a number, got an array"),
        ({"type": "task", "id": 1}, "unknown message type 'task'"),
        ({"type": None}, "the message type must be a string, got null"),
        ({"type": "invalid", "error": "output line is not JSON"}, "output line is not JSON"),
    ],
)
def test_mock_agent_messages_of_the_wrong_shape_fail_the_agent(message: dict[str, Any], reason: str) -> None:
    async def body(swarm: Swarm, seen: list[Event]) -> None:
        agent = await swarm.deploy(spec())
        asked = swarm.request(agent, "signal", {"prices": WINDOW}, timeout=5)
        task_id = max(swarm._pending)
        msg = {k: (task_id if v == "{id}" else v) for k, v in message.items()}
        swarm.backend._on_message(agent.sandbox, msg)
        assert agent.state == AgentState.FAILED
        event = failure_of(seen, agent.id)
        assert event is not None and event.detector == "protocol"
        assert event.reason == "protocol violation: " + reason.replace("{id}", str(task_id))
        with pytest.raises(RequestFailed, match="agent-failed"):
            await asyncio.wait_for(asked, 5)
        # Nothing it says counts any more (its late answer included).
        swarm.backend._on_message(agent.sandbox, {"type": "hello", "agent": "x"})
        assert len([e for e in seen if isinstance(e, FailureDetected)]) == 1

    run_swarm(MockBackend(), body, validate=True)


def test_an_answer_to_a_task_of_another_agent_is_a_violation() -> None:
    async def body(swarm: Swarm, seen: list[Event]) -> None:
        a, b = await swarm.deploy_many([spec(), spec()])
        asked = swarm.request(a, "vote", {"prices": WINDOW}, timeout=5)
        task_id = max(swarm._pending)
        swarm.backend._on_message(
            b.sandbox, {"type": "result", "id": task_id, "ok": True, "value": {"vote": "buy", "confidence": 1.0}}
        )
        assert b.state == AgentState.FAILED and a.live
        assert f"result {task_id} answers a task sent to another agent" in failure_of(seen, b.id).reason
        assert (await asyncio.wait_for(asked, 5))["vote"] in ("buy", "sell", "hold")  # a's own answer

    run_swarm(MockBackend(), body, validate=True)


def test_a_validating_mock_swarm_runs_healthy_agents_undisturbed() -> None:
    async def body(swarm: Swarm, seen: list[Event]) -> None:
        agent, peer = await swarm.deploy_many([AgentSpec(kind="forecaster", symbols=("SPY",))] * 2)
        for op, data in (
            ("signal", {"prices": WINDOW}),
            ("vote", {"prices": WINDOW}),
            ("work", {"prices": WINDOW}),
            ("performance", {"returns": [0.01, -0.02, 0.03]}),
            ("echo", {"deep": [[[1]]]}),
            ("forward", {"to": "x"}),
        ):
            await swarm.request(agent, op, data)
        assert await swarm.ping(peer, agent) >= 0
        await swarm.clock.sleep(5)  # heartbeats
        assert agent.state == AgentState.HEALTHY and not any(isinstance(e, FailureDetected) for e in seen)

    run_swarm(MockBackend(), body, validate=True)


# -- the pure functions -------------------------------------------------------------------------------
def test_decode_line_says_what_is_wrong() -> None:
    assert decode_line(b'{"type": "heartbeat", "seq": 1}\n') == {"type": "heartbeat", "seq": 1}
    assert decode_line("  \r\n") is None and decode_line(b"") is None
    cases = {
        b"\xff\n": "not UTF-8",
        b"garbage\n": "not JSON: 'garbage'",
        b"[1]\n": "not a JSON object but an array",
        b"7": "not a JSON object but an integer",
        b"x" * (LINE_LIMIT + 1): f"longer than {LINE_LIMIT} bytes",
        b"[" * 100_000 + b"]" * 100_000: f"nests deeper than {MAX_DEPTH}",
        b'{"a":' * 70 + b"1" + b"}" * 70: f"nests deeper than {MAX_DEPTH}",
        b'{"id": ' + b"9" * 5000 + b"}": "not JSON",  # more digits than Python converts
    }
    for line, error in cases.items():
        msg = decode_line(line)
        assert msg is not None and msg["type"] == INVALID and error in msg["error"], (line[:20], msg)
    assert decode_line('{"a":' * (MAX_DEPTH - 1) + "1" + "}" * (MAX_DEPTH - 1)) == json.loads(
        '{"a":' * (MAX_DEPTH - 1) + "1" + "}" * (MAX_DEPTH - 1)
    )
    assert decode_line("{}") == {}  # an object without a type: for the engine's check_message to refuse
    assert decode_line('{"type": "invalid", "error": "\\u001b[2J"}') == {  # an agent cannot pass for its backend
        "type": INVALID,
        "error": "unknown message type 'invalid'",
    }
    assert "longer than" in decode_line("y" * (LINE_LIMIT + 1))["error"]  # type: ignore[index]


def test_check_value_knows_what_each_operation_answers() -> None:
    assert check_value("signal", {"action": "buy", "strength": 0.5}) is None
    assert check_value("echo", [1, {"x": None}]) is None
    assert check_value("nonsense-op", "anything") is None
    assert (
        check_value("fill", {"price": math.nan, "fee": 0.1})
        == "fill.value.price must be a finite number, got the number nan"
    )
    assert (
        check_value("allocate", {"a": 0.5, "b": "0.5"}) == "the allocation of 'b' must be a finite number, got a string"
    )
    assert check_value("vote", {"vote": "buy"}) == "vote.value.confidence is missing"
    assert check_value("risk_check", {"approved": 1}) == "risk_check.value.approved must be a boolean, got an integer"
    assert (
        check_message({"type": "hello", "agent": "a", "kind": "k", "version": "v", "protocol": 9, "capabilities": []})
        == "hello.protocol is 9, the engine speaks 1"
    )
    assert (
        check_message({"type": "error", "error": "\ud800"})
        == "error.error must be a string, got a string that is not valid Unicode"
    )


def test_flood_gate_allows_bursts_and_answers_and_stops_floods() -> None:
    now = [0.0]
    gate = FloodGate(burst=100, rate=10, clock=lambda: now[0])
    assert all(gate.allow(30) for _ in range(100))  # a burst
    assert not gate.allow(30)
    assert gate.reason.startswith("flooding: 101 lines in 0.00 s")
    gate = FloodGate(burst=100, rate=8, clock=lambda: now[0])
    for _ in range(2400):  # eight lines a second for five minutes: never
        now[0] += 0.125
        assert gate.allow(30)
    gate = FloodGate(burst=100, rate=8, clock=lambda: now[0])
    gate.expect(5000)  # answers asked for are never a flood
    assert all(gate.allow(30) for _ in range(5000 + 100))
    assert not gate.allow(30)
    assert gate.reason.startswith("flooding: 5101 lines in 0.00 s")
    gate = FloodGate(burst_bytes=1000, rate_bytes=100, clock=lambda: now[0])
    assert gate.allow(900) and not gate.allow(200) and "MiB in" in gate.reason


def test_line_buffer_keeps_lines_and_drops_endless_ones() -> None:
    buf = LineBuffer(limit=10)
    assert buf.feed("abc") == [] and buf.feed("de\nfg") == ["abcde"] and buf.pending == 2
    assert buf.feed("h" * 20) == [] and buf.overflows == 1 and buf.pending == 0
    assert buf.feed("hhh\nok\n") == ["ok"] and buf.overflows == 1


# -- properties ---------------------------------------------------------------------------------------
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
MESSAGE_FIELDS = (
    "id",
    "ok",
    "value",
    "error",
    "seq",
    "leaked_mb",
    "agent",
    "kind",
    "version",
    "protocol",
    "capabilities",
    "pid",
)
messages = st.fixed_dictionaries(
    {"type": st.sampled_from([*protocol.MESSAGES, "invalid", "task", ""]) | json_values},
    optional={name: json_values | st.integers() | st.booleans() for name in MESSAGE_FIELDS},
)


def classify(line: bytes | str) -> str:
    """What the engine makes of one line: nothing, a valid message or a violation (with a reason)."""
    msg = decode_line(line)
    if msg is None:
        return "blank"
    assert type(msg) is dict
    if msg.get("type") == INVALID:
        assert isinstance(msg["error"], str) and msg["error"]
        return "invalid"
    problem = check_message(msg)
    assert problem is None or (isinstance(problem, str) and problem)
    return "valid" if problem is None else "invalid"


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_a_message_or_a_violation(line: bytes) -> None:
    assert classify(line) in ("blank", "valid", "invalid")


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_a_message_or_a_violation(line: str) -> None:
    assert classify(line) in ("blank", "valid", "invalid")
    assert classify(line.encode("utf-8", "surrogatepass")) in ("blank", "valid", "invalid")


@settings(max_examples=EXAMPLES, deadline=None)
@given(json_values)
def test_any_json_value_on_a_line_is_a_message_or_a_violation(value: Any) -> None:
    line = json.dumps(value)
    kind = classify(line)
    if type(value) is not dict:
        assert kind == "invalid"
    for op in (*protocol.VALUES, "echo"):
        problem = check_value(op, value)
        assert problem is None or isinstance(problem, str)


@settings(max_examples=EXAMPLES, deadline=None)
@given(messages)
def test_any_message_is_checked_without_raising(msg: dict[str, Any]) -> None:
    problem = check_message(msg)
    assert problem is None or (isinstance(problem, str) and problem)
    if problem is None:  # a valid message has the field types the engine relies on
        assert msg["type"] in protocol.MESSAGES
        if msg["type"] in ("result", "pong"):
            assert type(msg["id"]) is int
    line = json.dumps(msg)
    if "NaN" not in line and "Infinity" not in line and msg["type"] != INVALID:
        decoded = decode_line(line)
        assert decoded == msg and check_message(decoded) == problem  # what the agent sent, as sent


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(st.text(alphabet="ab\n", max_size=40), max_size=12), st.integers(min_value=1, max_value=12))
def test_line_buffer_returns_every_line_it_can_hold(chunks: list[str], limit: int) -> None:
    buf = LineBuffer(limit=limit)
    out: list[str] = []
    for chunk in chunks:
        out.extend(buf.feed(chunk))
        assert buf.pending <= limit
    complete = "".join(chunks).split("\n")[:-1]
    i = 0
    for line in complete:  # out is complete with only lines over the limit left out
        if i < len(out) and out[i] == line:
            i += 1
        else:
            assert len(line) > limit
    assert i == len(out)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages)
def test_the_engine_survives_any_message(msg: dict[str, Any]) -> None:
    """Straight into a (validating) swarm: no exception, and the agent is healthy or failed with a reason."""
    loop = new_loop(virtual=True)
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    msg = dict(msg)
    errors: list[BaseException] = []

    async def main() -> None:
        swarm = Swarm(MockBackend(model=MockModel(start_s=0.01)), Clock(), bus, Topology("mesh"), validate=True)
        agent = await swarm.deploy(spec())
        asked = swarm.request(agent, "signal", {"prices": WINDOW}, timeout=5)
        if "id" in msg and msg["id"] == 0:
            msg["id"] = max(swarm._pending)
        swarm.backend._on_message(agent.sandbox, msg)
        await asyncio.gather(asked, return_exceptions=True)
        failed = [e for e in seen if isinstance(e, FailureDetected)]
        if agent.state == AgentState.FAILED:
            assert len(failed) == 1 and failed[0].reason.startswith("protocol violation: ")
        else:
            assert agent.state == AgentState.HEALTHY and not failed
        await swarm.shutdown()
        errors.extend(swarm.errors)

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    assert errors == []


def test_an_overlong_error_text_is_a_protocol_violation() -> None:
    from swarm_tui.engine.protocol import MAX_ERROR_TEXT, check_message

    assert check_message({"type": "result", "id": 1, "ok": False, "error": "x" * 100}) is None
    long = {"type": "result", "id": 1, "ok": False, "error": "x" * (MAX_ERROR_TEXT + 1)}
    assert "characters long" in (check_message(long) or "")
