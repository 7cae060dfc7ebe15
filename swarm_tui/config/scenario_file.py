"""Scenario files (TOML): define a new scenario or override one from the catalogue.

See ``swarm_tui/examples/scenarios/`` and the README for the format. Every error names the file, the key
and what was expected, in one line.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from swarm_tui.agent.kinds import KINDS
from swarm_tui.config.user import brief, read_toml, shown
from swarm_tui.engine.faults import FAULT_KINDS
from swarm_tui.engine.scenario import Scenario, ScenarioError
from swarm_tui.patterns import REGISTRY  # importing the patterns fills the catalogue

ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,79}$")


class ConfigError(ValueError):
    """A scenario file that cannot be used; the message is one line for the user."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Defect(_Strict):
    error_rate: float = Field(0.0, ge=0.0, le=1.0)
    latency_factor: float = Field(1.0, ge=1.0, le=100.0)


class AgentEntry(_Strict):
    kind: Literal[KINDS]  # type: ignore[valid-type]
    role: str = "worker"
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,40}$")
    symbol: str | None = Field(None, min_length=1, max_length=12)
    symbols: list[str] | None = Field(None, min_length=1, max_length=4)
    strategy: str | None = None
    version: str = Field("v1", min_length=1, max_length=20)
    pool: Literal["stable", "blue", "green", "canary"] = "stable"
    count: int = Field(1, ge=1, le=10000)
    defect: Defect | None = None
    params: dict[str, float] = Field(default_factory=dict)


class FaultEntry(_Strict):
    kind: Literal[FAULT_KINDS]  # type: ignore[valid-type]
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


class Header(_Strict):
    id: str
    base: str | None = None
    title: str | None = Field(None, max_length=120)
    summary: str | None = Field(None, max_length=400)
    market: str | None = None


class ScenarioFile(_Strict):
    scenario: Header
    params: dict[str, Any] = Field(default_factory=dict)
    checks: dict[str, Any] = Field(default_factory=dict)
    agents: list[AgentEntry] | None = None
    faults: list[FaultEntry] | None = None
    mechanisms: dict[str, bool] = Field(default_factory=dict)


@dataclass
class ScenarioDef:
    """A scenario as a file defines it: ready to instantiate."""

    cls: type[Scenario]
    id: str
    title: str | None
    params: dict[str, Any]
    mechanisms: dict[str, bool]
    faults: list[dict[str, Any]] | None
    source: Path
    market: str | None = None
    overrides: bool = False  # True: replaces the catalogue scenario of the same id

    def build(self) -> Scenario:
        scenario = self.cls(
            self.params, mechanisms=self.mechanisms, faults=self.faults, scenario_id=self.id, title=self.title
        )
        scenario.source = str(self.source)  # type: ignore[attr-defined]
        return scenario


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("literal[", "function-")):
            continue
        else:
            out += ("." if out else "") + shown(str(part))
    return out or "(top level)"


def _friendly(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected', '')}"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    return str(err.get("msg", "invalid")).replace("Input should be", "expected").replace("input should be", "expected")


def _type_error(key: str, default: Any, value: Any) -> str | None:
    """Why ``value`` does not fit a parameter whose default is ``default`` (None when it fits)."""
    if default is None:
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "expected true or false"
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "expected a whole number"
        if isinstance(value, float) and not value.is_integer():
            return "expected a whole number"
        return None if value >= 0 else "expected a number >= 0"
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "expected a number"
        if not math.isfinite(value):
            return "expected a finite number"
        return None if value >= 0 else "expected a number >= 0"
    if isinstance(default, str):
        return None if isinstance(value, str) else "expected a string"
    if isinstance(default, list):
        return None if isinstance(value, list) else "expected a list"
    if isinstance(default, dict):
        return None if isinstance(value, dict) else "expected a table"
    return None


def load_scenario_file(path: str | Path) -> ScenarioDef:
    """Read and validate a scenario file. Raises ConfigError with a one-line message."""
    path = Path(path)
    try:
        data = read_toml(path)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    try:
        parsed = ScenarioFile.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        got = first.get("input")
        got_text = "" if first.get("type") in ("missing",) or isinstance(got, dict) else f", got {brief(got)}"
        raise ConfigError(f"{path}: {_loc(tuple(first['loc']))}: {_friendly(first)}{got_text}{more}") from None
    return _resolve(path, parsed)


def _resolve(path: Path, parsed: ScenarioFile) -> ScenarioDef:
    head = parsed.scenario
    if not ID_RE.match(head.id):
        raise ConfigError(
            f"{path}: scenario.id: expected lowercase letters, digits, '.', '-' or '_', got {brief(head.id)}"
        )
    overrides = head.id in REGISTRY
    if overrides:
        if head.base is not None and head.base != head.id:
            raise ConfigError(
                f"{path}: scenario.base: {head.id} is a catalogue scenario; drop 'base' to override it,"
                " or choose a new id"
            )
        cls = REGISTRY[head.id]
    else:
        if head.base is None:
            raise ConfigError(
                f"{path}: scenario.base: required for a new scenario id {brief(head.id)} "
                "(the catalogue scenario whose experiment it runs)"
            )
        if head.base not in REGISTRY:
            raise ConfigError(f"{path}: scenario.base: unknown scenario {brief(head.base)} (see `swarm-tui patterns`)")
        cls = REGISTRY[head.base]
    params: dict[str, Any] = {}
    for section in ("params", "checks"):
        for key, value in getattr(parsed, section).items():
            if key in ("agents", "faults"):
                raise ConfigError(f"{path}: {section}.{key}: use [[{key}]] tables instead")
            key_shown = shown(key)
            if key not in cls.defaults and key not in (
                "p95_budget_ms",
                "recovery_budget_s",
                "heartbeat_s",
                "detector_threshold",
            ):
                known = ", ".join(sorted(k for k in cls.defaults if k not in ("agents",)))
                raise ConfigError(f"{path}: {section}.{key_shown}: unknown parameter of {cls.id} (known: {known})")
            problem = _type_error(key, cls.defaults.get(key, 0.0), value)
            if problem:
                raise ConfigError(f"{path}: {section}.{key_shown}: {problem}, got {brief(value)}")
            params[key] = value
    if parsed.agents is not None:
        params["agents"] = [a.model_dump(exclude_none=True) for a in parsed.agents]
    unknown = [m for m in parsed.mechanisms if m not in cls.mechanism_help]
    if unknown:
        known = ", ".join(cls.mechanism_help) or "none"
        raise ConfigError(f"{path}: mechanisms.{shown(unknown[0])}: unknown mechanism of {cls.id} (known: {known})")
    faults = None
    if parsed.faults is not None:
        faults = []
        for i, f in enumerate(parsed.faults):
            entry = f.model_dump(exclude_none=True)
            if entry["kind"] == "partition" and len(entry.get("groups") or []) < 2:
                raise ConfigError(f"{path}: faults[{i}].groups: a partition needs at least two groups of agents")
            if entry["kind"] != "partition" and not entry.get("target"):
                raise ConfigError(
                    f"{path}: faults[{i}].target: required for a {entry['kind']} fault "
                    "(an agent id, '#N' for the N-th agent, 'role:NAME' or 'random')"
                )
            faults.append(entry)
    market = None
    if head.market:
        market_path = path.parent / head.market
        try:
            market_path = market_path.resolve()
            found = market_path.is_file()
        except (OSError, ValueError):  # a NUL in the name, a name too long
            found = False
        if not found:
            raise ConfigError(f"{path}: scenario.market: no such file {shown(str(market_path), 300)}")
        market = str(market_path)
    try:
        definition = ScenarioDef(
            cls=cls,
            id=head.id,
            title=head.title,
            params=params,
            mechanisms=dict(parsed.mechanisms),
            faults=faults,
            source=path,
            market=market,
            overrides=overrides,
        )
        definition.build()  # fail now, not halfway through a run
    except ScenarioError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError(f"{path}: cannot build the scenario: {exc}") from None
    return definition
