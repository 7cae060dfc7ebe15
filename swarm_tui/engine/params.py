"""Scenario parameters as validated models: what a scenario runs with, and what a file may set.

Every scenario declares a :class:`ScenarioParams` subclass. Its fields are the experiment's
parameters (:func:`param`) and the thresholds its checks judge against (:func:`threshold`), each
with a default, a range and a one-line description; the same model validates scenario files,
prints ``swarm-tui patterns --params ID`` and writes the catalogue in docs/. Agents and faults
are models too (:class:`AgentEntry`, :class:`FaultEntry`), shared with scenario files.

Validation is strict: a number is a number (``"3"`` is not), an unknown key is an error, NaN and
infinity are refused, and every error is one line naming the key and what was expected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo

from swarm_tui.agent.kinds import DEFAULT_STRATEGY, KINDS, capabilities_of
from swarm_tui.engine.agents import AgentSpec
from swarm_tui.engine.faults import FAULT_KINDS, Fault
from swarm_tui.engine.sandbox import AgentProgram

Pool = Literal["stable", "blue", "green", "canary"]
CHECK_MARK = "check"  # json_schema_extra flag of a field that is a check's threshold


class Model(BaseModel):
    """Strict, closed and immutable: what a file says is what runs."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True, defer_build=True)


def param(default: Any, description: str, **constraints: Any) -> Any:
    """A parameter of the experiment (``[params]`` in a scenario file)."""
    return Field(default, description=description, **constraints)


def threshold(default: Any, description: str, **constraints: Any) -> Any:
    """A threshold a check judges against (``[checks]`` in a scenario file)."""
    return Field(default, description=description, json_schema_extra={CHECK_MARK: True}, **constraints)


def brief(value: Any, limit: int = 60) -> str:
    """``repr(value)`` for a one-line message, cut short when it is long."""
    try:
        text = repr(value)
    except ValueError:  # an integer too long to print in decimal
        digits = int(value.bit_length() * 0.30103) + 1 if isinstance(value, int) else 0
        text = f"<an integer of about {digits} digits>" if digits else "<unprintable value>"
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def shown(text: str, limit: int = 80) -> str:
    """A key or path as it can go in a one-line message (quoted when odd or long)."""
    return text if text.isprintable() and len(text) <= limit else brief(text, limit)


def _loc(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("literal[", "function-")):
            continue
        else:
            out += ("." if out else "") + shown(str(part))
    return out or "(top level)"


def _friendly(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected', '')}"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "finite_number":
        return "expected a finite number"
    plain = {
        "float_type": "expected a number",
        "float_parsing": "expected a number",
        "int_type": "expected a whole number",
        "int_from_float": "expected a whole number",
        "int_parsing": "expected a whole number",
        "bool_type": "expected true or false",
        "bool_parsing": "expected true or false",
        "string_type": "expected a string",
        "list_type": "expected a list",
        "dict_type": "expected a table",
        "model_type": "expected a table",
        "model_attributes_type": "expected a table",
    }
    if kind in plain:
        return plain[kind]
    text = str(err.get("msg", "invalid"))
    if text.startswith("Value error, "):
        text = text[len("Value error, ") :]
    return text.replace("Input should be", "expected").replace("input should be", "expected")


def validation_message(exc: ValidationError, prefix: str = "") -> str:
    """The first error of a validation as one line: ``prefix.key: what was expected, got value``."""
    errors = exc.errors()
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    got = first.get("input")
    got_text = "" if first.get("type") == "missing" or isinstance(got, dict) else f", got {brief(got)}"
    where = _loc([*(p for p in prefix.split(".") if p), *first["loc"]])
    return f"{where}: {_friendly(first)}{got_text}{more}"


def one_of(value: str, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices``; otherwise ValueError saying which are."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"expected one of {', '.join(repr(c) for c in choices)}")
    return value


# -- agents and faults ---------------------------------------------------------------------------------
class Defect(Model):
    """A deliberate defect of a version: errors at a rate, answers slower by a factor."""

    error_rate: float = Field(0.0, ge=0.0, le=1.0, description="share of answers that are errors")
    latency_factor: float = Field(1.0, ge=1.0, le=100.0, description="answers take this many times longer")


class AgentEntry(Model):
    """A group of agents: kind, symbols, role, version and pool, how many, and any defect."""

    kind: str = Field(description=f"one of {', '.join(KINDS)}")
    role: str = Field("worker", min_length=1, max_length=40)
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,40}$", description="id prefix (default: kind)")
    symbol: str | None = Field(None, min_length=1, max_length=12)
    symbols: list[str] | None = Field(None, min_length=1, max_length=4)
    strategy: str | None = None
    version: str = Field("v1", min_length=1, max_length=20)
    pool: Pool = "stable"
    count: int = Field(1, ge=1, le=10000)
    defect: Defect | None = None
    params: dict[str, float] = Field(default_factory=dict)
    # A program of the user's instead of the built-in agent (docs/agent-protocol.md).
    command: list[str] | None = Field(
        None, min_length=1, max_length=100, description="the agent's own program, as argv (default: the built-in)"
    )
    workdir: str | None = Field(
        None, min_length=1, description="where the program runs (local) or what is uploaded (e2b); relative to the file"
    )
    env: dict[str, str] = Field(default_factory=dict, description="added to the program's environment (kept secret)")
    setup: str | None = Field(None, min_length=1, description="e2b: a shell command run once per sandbox first")
    template: str | None = Field(None, min_length=1, max_length=200, description="e2b: the template to start from")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        return one_of(value, KINDS)

    @field_validator("command")
    @classmethod
    def _plain_words(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not word or "\x00" in word for word in value):
            raise ValueError("expected non-empty words without NUL characters")
        return value

    @field_validator("env")
    @classmethod
    def _variable_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not name or not (name[0].isalpha() or name[0] == "_") or not all(c.isalnum() or c == "_" for c in name):
                raise ValueError(f"{brief(name)} is not a variable name (letters, digits and _)")
            if "\x00" in text:
                raise ValueError(f"the value of {name} holds a NUL character")
        return value

    @model_validator(mode="after")
    def _program_settings_need_a_program(self) -> Self:
        for name in ("workdir", "setup", "template"):
            if getattr(self, name) is not None and self.command is None:
                raise ValueError(f"{name} is a setting of the agent's own program: give command too")
        if self.env and self.command is None:
            raise ValueError("env is a setting of the agent's own program: give command too")
        return self

    def program(self) -> AgentProgram | None:
        """The user's program this group runs (None: the built-in agent)."""
        if self.command is None:
            return None
        return AgentProgram(
            command=tuple(self.command),
            workdir=self.workdir,
            env=tuple(sorted(self.env.items())),
            setup=self.setup,
            template=self.template,
        )

    def spec(self) -> AgentSpec:
        """One agent of this group, as the engine deploys it."""
        symbols = self.symbols if self.symbols is not None else ([self.symbol] if self.symbol else [])
        return AgentSpec(
            kind=self.kind,
            role=self.role,
            strategy=self.strategy or "",
            symbols=tuple(symbols),
            version=self.version,
            pool=self.pool,
            defect=self.defect.model_dump() if self.defect is not None else {},
            params=dict(self.params),
            name=self.name or "",
            program=self.program(),
        )

    @property
    def resolved_strategy(self) -> str:
        return self.strategy or DEFAULT_STRATEGY.get(self.kind, "compute")

    @property
    def capabilities(self) -> tuple[str, ...]:
        return capabilities_of(self.kind)


def agent_specs(entries: Iterable[AgentEntry]) -> list[AgentSpec]:
    """One spec per agent (a group's ``count`` expanded), in order."""
    return [entry.spec() for entry in entries for _ in range(entry.count)]


def agents_default(*entries: Mapping[str, Any], description: str = "the agents deployed") -> Any:
    """A field default of agent groups, written as plain tables."""
    return Field(
        default_factory=lambda: [AgentEntry.model_validate(dict(e)) for e in entries],
        description=description,
    )


class FaultEntry(Model):
    """A fault of the schedule: kind, target, when (s), for how long, and its settings."""

    kind: str = Field(description=f"one of {', '.join(FAULT_KINDS)}")
    at: float = Field(0.0, ge=0.0, le=86400.0)
    duration: float | None = Field(None, gt=0.0, le=86400.0)
    target: str = ""
    rate: float | None = Field(None, ge=0.0, le=1.0)
    factor: float | None = Field(None, ge=1.0, le=100.0)
    delay_ms: float | None = Field(None, ge=0.0, le=60000.0)
    loss: float | None = Field(None, ge=0.0, le=1.0)
    rate_mb_s: float | None = Field(None, gt=0.0, le=10000.0)
    limit_mb: float | None = Field(None, gt=0.0, le=1_000_000.0)
    groups: list[list[str]] | None = None

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        return one_of(value, FAULT_KINDS)

    def fault(self) -> Fault:
        settings = self.model_dump(exclude_none=True, exclude={"kind", "at", "duration", "target"})
        return Fault(self.kind, target=self.target, at=self.at, duration=self.duration, params=settings)


# -- the parameters of a scenario -------------------------------------------------------------------------
class ScenarioParams(Model):
    """What every scenario takes; each scenario's model adds its own parameters and thresholds."""

    agents: list[AgentEntry] = Field(default_factory=list, description="the agents deployed")
    heartbeat_s: float | None = param(None, "heartbeat interval (s); default: the backend's", gt=0.0, le=60.0)
    detector_threshold: float = param(
        2.0, "an agent silent for this many heartbeat intervals is failed", gt=0.0, le=100.0
    )
    memory_limit_mb: float = param(512.0, "each sandbox's memory limit (MB): above it the agent is killed", gt=0.0)
    p95_budget_ms: float | None = threshold(
        None, "p95 decision latency budget (ms); default: the backend's", gt=0.0, le=600000.0
    )
    recovery_budget_s: float | None = threshold(
        None,
        "a failed agent's place is served again within this long (s); default: the backend's",
        gt=0.0,
        le=86400.0,
    )
    deadline_ms: float | None = threshold(
        None,
        "a decision answered later than this is not available (ms); default: 10x the backend's p95 budget",
        gt=0.0,
        le=3_600_000.0,
    )
    detect_intervals: float = threshold(
        3.0, "a crash (or a leak's kill) is detected within this many heartbeat intervals", gt=0.0, le=1000.0
    )
    detect_within_s: float = threshold(
        3.0, "a degradation (slowness, errors) is noticed within this long of its start (s)", gt=0.0, le=86400.0
    )
    recover_within_s: float = threshold(
        8.0, "service is restored within this long of a timed fault's end (s)", gt=0.0, le=86400.0
    )
    min_availability: float | None = threshold(
        0.5,
        "share of decisions submitted during faults answered correctly in time, at least (none: the fault "
        "takes service down by design, and the recovery bound is the outage bound)",
        gt=0.0,
        le=1.0,
    )

    COMMON: ClassVar[frozenset[str]] = frozenset(
        {
            "agents",
            "heartbeat_s",
            "detector_threshold",
            "memory_limit_mb",
            "p95_budget_ms",
            "recovery_budget_s",
            "deadline_ms",
            "detect_intervals",
            "detect_within_s",
            "recover_within_s",
            "min_availability",
        }
    )

    @classmethod
    def build(cls, data: Mapping[str, Any] | BaseModel | None = None) -> Self:
        """Validated parameters: the defaults, with ``data`` on top. Raises ValueError (one line)."""
        if isinstance(data, cls):
            return data
        values = data.model_dump() if isinstance(data, BaseModel) else dict(data or {})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ValueError(validation_message(exc)) from None

    @classmethod
    def fields(cls) -> dict[str, FieldInfo]:
        return dict(cls.model_fields)

    @classmethod
    def is_threshold(cls, name: str) -> bool:
        extra = cls.model_fields[name].json_schema_extra
        return isinstance(extra, dict) and bool(extra.get(CHECK_MARK))

    def agent_specs(self) -> list[AgentSpec]:
        return agent_specs(self.agents)


def fault_entries(entries: Iterable[Mapping[str, Any] | FaultEntry]) -> list[FaultEntry]:
    """Faults from plain tables (a scenario's defaults) or models. Raises ValueError (one line)."""
    out: list[FaultEntry] = []
    for i, entry in enumerate(entries):
        if isinstance(entry, FaultEntry):
            out.append(entry)
            continue
        try:
            out.append(FaultEntry.model_validate(dict(entry)))
        except ValidationError as exc:
            raise ValueError(validation_message(exc, f"faults[{i}]")) from None
    return out
