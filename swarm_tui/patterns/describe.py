"""The catalogue described from its code: a scenario's parameters as a scenario file, and the
whole catalogue as Markdown (``docs/scenarios.md``, written by ``swarm-tui patterns --markdown``).

Parameters, ranges, descriptions, faults and mechanisms come from the scenario classes and their
parameter models; the checks are those a run with the defaults judges (mock backend, seed 0),
so the catalogue can never promise a check the code does not make.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic.fields import FieldInfo

from swarm_tui.engine.params import AgentEntry, ScenarioParams
from swarm_tui.patterns.catalogue import Catalogue, ScenarioClass

# Lab scenarios are long (an hour of scenario time, thousands of agents): the catalogue lists
# their checks from a shortened run, and says so.
SHORTENED: dict[str, dict[str, Any]] = {
    "lab.large-swarm": {"size": 20, "duration_s": 40.0},
    "lab.soak": {"size": 10, "duration_s": 1200.0},
}


def toml_value(value: Any) -> str:
    """A TOML literal for the values parameters take (no library needed for these)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else '"nan"'
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return toml_value(str(value))


def _constraints(info: FieldInfo) -> str:
    parts = []
    for meta in info.metadata:
        for name, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            bound = getattr(meta, name, None)
            if bound is not None:
                parts.append(f"{sign} {bound:g}" if isinstance(bound, int | float) else f"{sign} {bound}")
    return ", ".join(parts)


def _plain(value: Any) -> Any:
    if isinstance(value, ScenarioParams | AgentEntry) or hasattr(value, "model_dump"):
        return value.model_dump(exclude_none=True)
    return value


def parameter_rows(cls: ScenarioClass) -> list[tuple[str, Any, str, str, bool]]:
    """(name, default, range, description, is a check threshold) of every parameter but the agents."""
    model: type[ScenarioParams] = cls.Params
    defaults = model()
    rows = []
    for name, info in model.model_fields.items():
        if name == "agents":
            continue
        rows.append(
            (
                name,
                _plain(getattr(defaults, name)),
                _constraints(info),
                info.description or "",
                model.is_threshold(name),
            )
        )
    return rows


def scenario_toml(cls: ScenarioClass) -> str:
    """A scenario file that restates every default of a scenario (``patterns --params ID``)."""
    defaults = cls.Params()
    out = [
        f"# {cls.id}: {cls.title}. {cls.summary}",
        "# Every parameter with its default; a scenario file sets any of them (swarm-tui run --config FILE).",
        "",
        "[scenario]",
        f'id = "{cls.id}"                # keep it to override the scenario, or choose a new id',
        f'# base = "{cls.id}"           # a new id runs this scenario\'s experiment',
        "",
    ]
    for section, thresholds in (("params", False), ("checks", True)):
        rows = [r for r in parameter_rows(cls) if r[4] == thresholds]
        if not rows:
            continue
        out.append(f"[{section}]" + ("                      # thresholds of the checks" if thresholds else ""))
        nested = []
        for name, default, bounds, description, _ in rows:
            note = "; ".join(x for x in (description, bounds) if x)
            if isinstance(default, dict):
                nested.append((name, default, note))
                continue
            line = f"{name} = {toml_value(default)}" if default is not None else f"# {name} ="
            out.append(f"{line:<28} # {note}" if note else line)
        for name, table, note in nested:
            out.append("")
            out.append(f"[{section}.{name}]" + (f"  # {note}" if note else ""))
            for key, value in table.items():
                out.append(f"{key} = {toml_value(value)}")
        out.append("")
    for agent in defaults.agents:
        out.append("[[agents]]")
        for key, value in agent.model_dump(exclude_none=True, exclude_defaults=True).items():
            out.append(f"{key} = {toml_value(value)}")
        if agent.kind and "kind" not in agent.model_dump(exclude_defaults=True):
            out.append(f'kind = "{agent.kind}"')
        out.append("")
    for fault in cls.default_faults:
        out.append("[[faults]]")
        for key, value in fault.items():
            out.append(f"{key} = {toml_value(value)}")
        out.append("")
    if cls.mechanism_help:
        out.append("[mechanisms]                 # false switches one off (the scenario should then fail)")
        for name, text in cls.mechanism_help.items():
            out.append(f"{name + ' = true':<28} # {text}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def catalogue_markdown(catalogue: Catalogue, checks: Mapping[str, Sequence[dict[str, Any]]]) -> str:
    """The catalogue as Markdown: every pattern, scenario, parameter, fault, mechanism and check."""
    out = [
        "# Scenario catalogue",
        "",
        "Generated from the code by `swarm-tui patterns --markdown > docs/scenarios.md`; a test fails",
        "when this file and the code disagree. Every scenario is an experiment whose checks can fail:",
        "each mechanism listed can be switched off (`--off NAME`) to watch the scenario fail.",
        "",
        "Thresholds of the checks are the parameters marked **check**; a scenario file sets them under",
        "`[checks]`, the others under `[params]` (`swarm-tui patterns --params ID` prints a file with",
        "every default). The checks listed are those a run with the defaults judges on the mock",
        "backend (seed 0).",
        "",
        "## Contents",
        "",
    ]
    for pattern, text in catalogue.all_patterns().items():
        ids = ", ".join(f"[`{cls.id}`](#{cls.id.replace('.', '')})" for cls in catalogue.scenarios_of(pattern))
        out.append(f"* **{pattern}**: {text}. {ids}")
    out.append("")
    for pattern, text in catalogue.all_patterns().items():
        out += [f"## {pattern}", "", f"{text[0].upper()}{text[1:]}.", ""]
        for cls in catalogue.scenarios_of(pattern):
            out += [f"### {cls.id}", "", f"**{cls.title}.** {cls.summary}", ""]
            out.append(f"Topology: {cls.topology}.")
            out.append("")
            agents = cls.Params().agents
            if agents:
                out.append("Agents: " + "; ".join(_agent_text(a) for a in agents) + ".")
                out.append("")
            if cls.default_faults:
                out.append("Faults: " + "; ".join(_fault_text(f) for f in cls.default_faults) + ".")
                out.append("")
            out += ["| parameter | default | range | meaning |", "|---|---|---|---|"]
            for name, default, bounds, description, is_check in parameter_rows(cls):
                shown = "backend's" if default is None else f"`{toml_value(default)}`"
                label = f"`{name}`" + (" **check**" if is_check else "")
                out.append(f"| {label} | {_md(shown)} | {_md(bounds)} | {_md(description)} |")
            out.append("")
            if cls.mechanism_help:
                out.append("Mechanisms (`--off NAME`):")
                out.append("")
                for name, text in cls.mechanism_help.items():
                    out.append(f"* `{name}`: {text}")
                out.append("")
            judged = checks.get(cls.id, ())
            if judged:
                note = " (from a shortened run)" if cls.id in SHORTENED else ""
                out += [f"Checks{note}:", "", "| check | expected |", "|---|---|"]
                for c in judged:
                    out.append(f"| {_md(c['name'])} | {_md(c['expected'])} |")
                out.append("")
    return "\n".join(out).rstrip() + "\n"


def _agent_text(agent: AgentEntry) -> str:
    parts = [f"{agent.count} x {agent.kind}" if agent.count > 1 else agent.kind]
    if agent.role != "worker":
        parts.append(f"role {agent.role}")
    symbols = agent.symbols or ([agent.symbol] if agent.symbol else [])
    if symbols:
        parts.append("/".join(symbols))
    if agent.pool != "stable" or agent.version != "v1":
        parts.append(f"{agent.pool} {agent.version}")
    if agent.defect is not None:
        parts.append(f"defect {agent.defect.model_dump()}")
    return " ".join(parts)


def _fault_text(fault: dict[str, Any]) -> str:
    extra = ", ".join(f"{k} {v}" for k, v in fault.items() if k not in ("kind", "target", "at"))
    target = f" into {fault['target']}" if fault.get("target") else ""
    return f"{fault['kind']}{target} at t={fault.get('at', 0)} s" + (f" ({extra})" if extra else "")
