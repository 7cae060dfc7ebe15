"""The agent protocol, version 1: every message in each direction, as a model.

One source of truth. The engine validates what agents send with these models
(:func:`swarm_tui.engine.protocol.check_message` and ``check_value``); the JSON Schema files in
``docs/schemas/`` are generated from them (:func:`json_schemas`, ``swarm-tui agent schemas``; a
test fails when the files drift); docs/agent-protocol.md explains them. The built-in agent
(``swarm_tui/agent``) is one implementation; anything that speaks these lines is another.

Messages are JSON objects, one per line, with a ``type``. Fields not listed here are allowed and
ignored, in both directions: that is how version 1 grows without breaking anyone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, RootModel

from swarm_tui.agent.core import PROTOCOL_VERSION

# -- timing and versions (docs/agent-protocol.md, "Timing" and "Versions") ------------------------------
SUPPORTED_VERSIONS = (PROTOCOL_VERSION,)  # what this engine speaks; it offers them in the config
HELLO_DEADLINE_S = 10.0  # from the start of the program to its hello
HEARTBEAT_TOLERANCE = 0.25  # the median gap between heartbeats within 25 % of the interval ...
# ... and no gap longer than 1.75 intervals (the detector fails at 2). At 1.5 a CI machine under
# load failed a sound program on a 0.308 s gap at 0.2 s: its own beat a tenth of a second late,
# which the checker's loop (8 ms late then) cannot see.
HEARTBEAT_MAX_GAP = 1.75
HEARTBEAT_MAX_GAP_BUSY = 1.9  # the bound with the checker's measured delay added, at most
EOF_EXIT_S = 2.0  # stdin closed: the program exits within this long
CONFIG_VARIABLE = "SWARM_AGENT_CONFIG"  # the agent's configuration (JSON) for programs of users

# Fault commands an agent may perform itself when its hello claims them (``faults``). The engine
# performs each of them from outside an agent that does not (see docs/agent-protocol.md).
FAULT_COMMANDS = ("cpu-spike", "memory-leak", "error-rate", "slow", "byzantine", "crash")
# Operations the scenarios ask of agents, and the strategies a ``signal`` names.
OPERATIONS = ("signal", "vote", "risk_check", "fill", "allocate", "performance", "collect", "work", "forward", "echo")
STRATEGIES = ("momentum", "mean_reversion", "pairs", "arbitrage", "forecast")


@dataclass(frozen=True)
class Expect:
    """What a field must be, in words (for the one-line reason a bad message gets)."""

    text: str


def _encodable(value: str) -> str:
    """Strings must be writable as UTF-8 (JSON allows lone surrogates; a journal cannot hold them)."""
    if not value.isascii():
        value.encode("utf-8")  # UnicodeEncodeError is a ValueError: pydantic reports it
    return value


Int = Annotated[int, Expect("an integer")]
Bool = Annotated[bool, Expect("a boolean")]
Str = Annotated[str, Expect("a string")]
Text = Annotated[str, AfterValidator(_encodable), Expect("a string")]
Number = Annotated[float, Expect("a number")]
Finite = Annotated[float, Field(allow_inf_nan=False), Expect("a finite number")]
Action = Annotated[Literal["buy", "sell", "hold"], Expect("one of buy, sell, hold")]
Strings = Annotated[list[str], Expect("an array of strings")]
Object = Annotated[dict[str, Any], Expect("an object")]


class Message(BaseModel):
    """A line of the protocol: strict types (``"1"`` is not a number, ``true`` not an integer);
    fields it does not name are allowed and ignored."""

    model_config = ConfigDict(strict=True, extra="allow")


# -- agent -> engine --------------------------------------------------------------------------------------
class Hello(Message):
    """The first line an agent writes, within the hello deadline: who it is and what it can do."""

    type: Literal["hello"]
    agent: Str = Field(description="the agent id from the configuration")
    kind: Str = Field(description="the agent kind from the configuration (momentum, hub, ...)")
    version: Str = Field(description="the version label from the configuration (v1, v2, ...)")
    protocol: Int = Field(description="the protocol version the agent speaks: one of the configuration's `protocols`")
    capabilities: Strings = Field(description="trading capabilities (from the configuration, or the agent's own)")
    pid: Int | None = Field(None, description="the agent's process id")
    program: Text | None = Field(None, description="name and version of the implementation, e.g. 'my-agent/1.2'")
    ops: Strings | None = Field(None, description="operations it answers (absent: not claimed, tasks of any op)")
    strategies: Strings | None = Field(None, description="strategies a `signal` may name that it computes")
    faults: Strings | None = Field(None, description="fault commands it performs itself (absent: none)")


class Heartbeat(Message):
    """Every ``heartbeat_s`` seconds (from the configuration), from the hello on."""

    type: Literal["heartbeat"]
    seq: Int = Field(description="1, 2, 3, ...")
    leaked_mb: Number | None = Field(None, description="memory held by a memory-leak fault (MB), if any")


class Result(Message):
    """The answer to a task (``id`` is the task's)."""

    type: Literal["result"]
    id: Int
    ok: Bool


class ResultOk(Result):
    """A task done: ``value`` holds the answer, of the shape its operation returns."""

    ok: Literal[True]
    value: Any = Field(description="the answer (see the values of each operation)")


class ResultError(Result):
    """A task that could not be done (an unknown operation, bad data, an injected error)."""

    ok: Literal[False]
    error: Text = Field(description="why, briefly (at most 4096 characters)")


class Pong(Message):
    """The answer to a ping."""

    type: Literal["pong"]
    id: Int


class ErrorLine(Message):
    """Input the agent could not read or understand (not JSON, an unknown message type, ...)."""

    type: Literal["error"]
    error: Text = Field(description="what was wrong, briefly (at most 4096 characters)")


AGENT_MESSAGES: dict[str, type[Message]] = {
    "hello": Hello,
    "heartbeat": Heartbeat,
    "result": Result,
    "pong": Pong,
    "error": ErrorLine,
}


# -- engine -> agent -------------------------------------------------------------------------------------
class Task(Message):
    """Work: answer with a ``result`` of the same ``id``."""

    type: Literal["task"]
    id: Int
    op: Str = Field(description="the operation (signal, vote, work, ...)")
    cap: Str | None = Field(None, description="the capability the task needs; answer an error if you lack it")
    data: Object = Field(description="the operation's input")
    cost: Number = Field(
        0.0, description="seconds the task takes on an idle agent: wait that long (a broker call) before answering"
    )
    cpu: Bool = Field(False, description="the cost is computation, not waiting: compute for `cost` seconds")


class Tick(Message):
    """Market prices, for agents that keep a history (a signal task without prices uses it)."""

    type: Literal["tick"]
    prices: dict[str, float] = Field(description="symbol -> price")
    t: Number | None = None


class Ping(Message):
    """Answer with a ``pong`` of the same ``id`` (membership and liveness checks)."""

    type: Literal["ping"]
    id: Int


class FaultCommand(Message):
    """Perform a fault yourself (only those your hello claims in ``faults`` are sent)."""

    type: Literal["fault"]
    fault: Literal["cpu-spike", "memory-leak", "error-rate", "slow", "byzantine", "crash", "clear"]
    duration: Number | None = Field(None, description="seconds it lasts (absent: until cleared or the end)")
    factor: Number | None = Field(None, description="cpu-spike: CPUs' worth of burning; slow: times slower")
    rate: Number | None = Field(None, description="error-rate: share of answers that are errors")
    rate_mb_s: Number | None = Field(None, description="memory-leak: MB allocated a second")
    limit_mb: Number | None = Field(None, description="memory-leak: exit with code 137 at this resident size")


ENGINE_MESSAGES: dict[str, type[Message]] = {"task": Task, "tick": Tick, "ping": Ping, "fault": FaultCommand}


# -- what each operation gets and answers -----------------------------------------------------------------
class Data(BaseModel):
    """A task's input (extra fields allowed)."""

    model_config = ConfigDict(extra="allow")


Prices = list[float]


class SignalData(Data):
    strategy: str = Field(description="momentum | mean_reversion | pairs | arbitrage | forecast")
    symbol: str | None = None
    prices: Prices | None = Field(None, description="the last prices, oldest first (absent: from ticks)")
    symbol_a: str | None = Field(None, description="pairs: first leg")
    symbol_b: str | None = Field(None, description="pairs: second leg")
    prices_a: Prices | None = None
    prices_b: Prices | None = None
    price_a: float | None = Field(None, description="arbitrage: the price on venue A")
    price_b: float | None = Field(None, description="arbitrage: the price on venue B")


class VoteData(Data):
    prices: Prices | None = None
    symbol: str | None = None
    window: int | None = None


class RiskCheckData(Data):
    order: dict[str, Any] = Field(description="symbol, side (buy|sell), qty, price")
    positions: dict[str, float] = Field(description="symbol -> signed quantity; __exposure__: gross notional")
    limits: dict[str, float] = Field(description="max_position, max_order_notional, max_exposure")


class FillData(Data):
    side: Literal["buy", "sell"]
    qty: float
    price: float = Field(description="the mid price")
    slippage_bps: float | None = None
    fee_bps: float | None = None


class AllocateData(Data):
    scores: dict[str, float] = Field(description="strategy -> risk-adjusted score")
    floor: float | None = Field(None, description="the least share any strategy gets")


class PerformanceData(Data):
    returns: list[float]


class CollectData(Data):
    symbol: str
    price: float
    t: Any = None


class WorkData(Data):
    prices: Prices | None = None
    symbol: str | None = None


class ForwardData(Data):
    to: str = Field(description="the agent the task goes to next")


class Value(Message):
    """A successful result's ``value``: the fields the engine reads (others allowed)."""


class SignalValue(Value):
    action: Action
    strength: Number | None = Field(None, description="0..1")
    confidence: Number | None = Field(None, description="0..1")


class VoteValue(Value):
    vote: Action
    confidence: Number


class RiskCheckValue(Value):
    approved: Bool
    reason: Text | None = None


class FillValue(Value):
    price: Finite = Field(description="the fill price (slippage against the side)")
    fee: Finite


class PerformanceValue(Value):
    sharpe: Number
    var95: Number


class CollectValue(Value):
    price: Number
    symbol: Str | None = None


class WorkValue(Value):
    var95: Number = Field(description="value at risk (95 %) of the window's returns")
    n: Int = Field(description="returns it was computed from")


class ForwardValue(Value):
    forward_to: Str
    via: Str = Field(description="the forwarding agent's own id")


class AllocateValue(RootModel[dict[str, Annotated[float, Field(allow_inf_nan=False)]]]):
    """strategy -> share of capital (finite numbers)."""

    model_config = ConfigDict(strict=True)


OPS: dict[str, tuple[type[BaseModel], type[BaseModel] | None]] = {
    "signal": (SignalData, SignalValue),
    "vote": (VoteData, VoteValue),
    "risk_check": (RiskCheckData, RiskCheckValue),
    "fill": (FillData, FillValue),
    "allocate": (AllocateData, AllocateValue),
    "performance": (PerformanceData, PerformanceValue),
    "collect": (CollectData, CollectValue),
    "work": (WorkData, WorkValue),
    "forward": (ForwardData, ForwardValue),
    "echo": (Data, None),  # answers its data back, whatever it is
}


# -- the configuration an agent starts with -------------------------------------------------------------
class AgentConfig(BaseModel):
    """What the engine tells an agent at its start: ``$SWARM_AGENT_CONFIG`` (JSON) for a user's
    program, ``--config JSON`` for the built-in agent. Extra fields allowed."""

    model_config = ConfigDict(extra="allow")

    agent_id: str
    kind: str
    strategy: str = ""
    symbols: list[str] = Field(default_factory=list)
    version: str = "v1"
    capabilities: list[str] | None = None
    heartbeat_s: float = Field(1.0, description="the heartbeat interval (s)")
    memory_limit_mb: float = 512.0
    params: dict[str, Any] = Field(default_factory=dict, description="strategy parameters (lookback, window, ...)")
    defect: dict[str, Any] = Field(default_factory=dict, description="error_rate, latency_factor: a deliberate defect")
    seed: int = 0
    protocols: list[int] = Field(default_factory=lambda: list(SUPPORTED_VERSIONS), description="versions offered")
    run_id: str = ""


# -- JSON Schema files ------------------------------------------------------------------------------------
def json_schemas() -> dict[str, dict[str, Any]]:
    """Every schema file of docs/schemas/, by file name (agent-to-engine, engine-to-agent, values)."""
    out: dict[str, dict[str, Any]] = {}

    def add(name: str, model: type[BaseModel], title: str) -> None:
        schema = model.model_json_schema()
        schema["title"] = title
        schema["$id"] = f"https://swarm-tui.invalid/schemas/{name}"
        out[name] = schema

    for kind, model in AGENT_MESSAGES.items():
        if kind != "result":
            add(f"agent-{kind}.schema.json", model, f"agent -> engine: {kind} (protocol {PROTOCOL_VERSION})")
    result = {
        "$id": "https://swarm-tui.invalid/schemas/agent-result.schema.json",
        "title": f"agent -> engine: result (protocol {PROTOCOL_VERSION})",
        "oneOf": [ResultOk.model_json_schema(), ResultError.model_json_schema()],
    }
    out["agent-result.schema.json"] = result
    for kind, model in ENGINE_MESSAGES.items():
        add(f"engine-{kind}.schema.json", model, f"engine -> agent: {kind} (protocol {PROTOCOL_VERSION})")
    for op, (data, value) in OPS.items():
        add(f"op-{op}.data.schema.json", data, f"task data of {op}")
        if value is not None:
            add(f"op-{op}.value.schema.json", value, f"result value of {op}")
    add("agent-config.schema.json", AgentConfig, f"the agent's configuration (protocol {PROTOCOL_VERSION})")
    return out


def schema_text(schema: dict[str, Any]) -> str:
    """A schema as its file holds it (sorted keys, two-space indent, a final newline)."""
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
