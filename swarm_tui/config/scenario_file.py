"""Scenario files (TOML): define a new scenario or override one from the catalogue.

See ``swarm_tui/examples/scenarios/`` and the README for the format. Every error names the file, the key
and what was expected, in one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from swarm_tui.config.user import read_toml
from swarm_tui.engine.params import AgentEntry, FaultEntry, brief, shown, validation_message
from swarm_tui.engine.redact import register_secrets
from swarm_tui.engine.runner import AnyScenario
from swarm_tui.engine.scenario import ScenarioError
from swarm_tui.patterns.catalogue import Catalogue, ScenarioClass, load_catalogue

ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,79}$")


class ConfigError(ValueError):
    """A scenario file that cannot be used; the message is one line for the user."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, defer_build=True)


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

    cls: ScenarioClass
    id: str
    title: str | None
    params: dict[str, Any]
    mechanisms: dict[str, bool]
    faults: list[FaultEntry] | None
    source: Path
    market: str | None = None
    overrides: bool = False  # True: replaces the catalogue scenario of the same id

    def build(self) -> AnyScenario:
        scenario = self.cls(
            self.params, mechanisms=self.mechanisms, faults=self.faults, scenario_id=self.id, title=self.title
        )
        scenario.source = str(self.source)
        return scenario


def load_scenario_file(path: str | Path, catalogue: Catalogue | None = None) -> ScenarioDef:
    """Read and validate a scenario file. Raises ConfigError with a one-line message."""
    path = Path(path)
    try:
        data = read_toml(path)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    try:
        parsed = ScenarioFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {validation_message(exc)}") from None
    return _resolve(path, parsed, catalogue or load_catalogue())


def _params(path: Path, cls: ScenarioClass, parsed: ScenarioFile) -> dict[str, Any]:
    """[params] and [checks] (and [[agents]]), checked against the scenario's parameter model."""
    model = cls.Params
    fields = model.fields()
    params: dict[str, Any] = {}
    section_of: dict[str, str] = {}
    for section in ("params", "checks"):
        for key, value in getattr(parsed, section).items():
            if key in ("agents", "faults"):
                raise ConfigError(f"{path}: {section}.{key}: use [[{key}]] tables instead")
            if key not in fields:
                known = ", ".join(sorted(k for k in fields if k != "agents"))
                raise ConfigError(f"{path}: {section}.{shown(key)}: unknown parameter of {cls.id} (known: {known})")
            params[key] = value
            section_of[key] = section
    if parsed.agents is not None:
        params["agents"] = [_agent_group(path, i, a) for i, a in enumerate(parsed.agents)]
        section_of["agents"] = ""
    try:
        model.model_validate(params)
    except ValidationError as exc:
        key = str(exc.errors()[0]["loc"][0]) if exc.errors()[0]["loc"] else ""
        raise ConfigError(f"{path}: {validation_message(exc, section_of.get(key, 'params'))}") from None
    return params


def _agent_group(path: Path, index: int, entry: AgentEntry) -> dict[str, Any]:
    """An [[agents]] table as the parameters take it: its program's workdir made absolute (it is
    relative to the file) and checked, the values of its env registered as secrets."""
    data = entry.model_dump(exclude_none=True)
    register_secrets(entry.env.values())
    if entry.workdir is not None:
        workdir = path.parent / entry.workdir
        try:
            found = workdir.resolve().is_dir()
        except (OSError, ValueError):
            found = False
        if not found:
            raise ConfigError(f"{path}: agents[{index}].workdir: no such folder {shown(str(workdir), 300)}")
        data["workdir"] = str(workdir.resolve())
    return data


def _resolve(path: Path, parsed: ScenarioFile, catalogue: Catalogue) -> ScenarioDef:
    head = parsed.scenario
    if not ID_RE.match(head.id):
        raise ConfigError(
            f"{path}: scenario.id: expected lowercase letters, digits, '.', '-' or '_', got {brief(head.id)}"
        )
    overrides = head.id in catalogue
    if overrides:
        if head.base is not None and head.base != head.id:
            raise ConfigError(
                f"{path}: scenario.base: {head.id} is a catalogue scenario; drop 'base' to override it,"
                " or choose a new id"
            )
        cls = catalogue[head.id]
    else:
        if head.base is None:
            raise ConfigError(
                f"{path}: scenario.base: required for a new scenario id {brief(head.id)} "
                "(the catalogue scenario whose experiment it runs)"
            )
        base = catalogue.get(head.base)
        if base is None:
            raise ConfigError(f"{path}: scenario.base: unknown scenario {brief(head.base)} (see `swarm-tui patterns`)")
        cls = base
    params = _params(path, cls, parsed)
    unknown = [m for m in parsed.mechanisms if m not in cls.mechanism_help]
    if unknown:
        known = ", ".join(cls.mechanism_help) or "none"
        raise ConfigError(f"{path}: mechanisms.{shown(unknown[0])}: unknown mechanism of {cls.id} (known: {known})")
    faults = None
    if parsed.faults is not None:
        faults = []
        for i, f in enumerate(parsed.faults):
            if f.kind == "partition" and len(f.groups or []) < 2:
                raise ConfigError(f"{path}: faults[{i}].groups: a partition needs at least two groups of agents")
            if f.kind != "partition" and not f.target:
                raise ConfigError(
                    f"{path}: faults[{i}].target: required for a {f.kind} fault "
                    "(an agent id, '#N' for the N-th agent, 'role:NAME' or 'random')"
                )
            faults.append(f)
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
