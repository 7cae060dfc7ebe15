"""The agent protocol as models: the schema files are generated from them (and fail when they
drift), every message the engine sends has the documented shape, the scenarios' requirements
are measured, agent groups name programs, and their env values are secrets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import ROOT

from swarm_tui.config.scenario_file import ConfigError, load_scenario_file
from swarm_tui.engine import redact
from swarm_tui.engine.messages import AGENT_MESSAGES, OPS, json_schemas, schema_text
from swarm_tui.engine.params import AgentEntry
from swarm_tui.engine.protocol import check_message, check_value
from swarm_tui.engine.runner import run_one
from swarm_tui.engine.sandbox import AgentProgram
from swarm_tui.patterns.catalogue import load_catalogue
from swarm_tui.session.agent_fit import answered, fault_methods, fit
from swarm_tui.session.requirements import Needs, RecordingBackend, measure, task_violations

SCHEMAS = ROOT / "docs" / "schemas"


def test_the_schema_files_are_generated_from_the_models() -> None:
    """docs/schemas/ is what `swarm-tui agent schemas --out docs/schemas` writes: regenerate it
    when a model changes."""
    expected = json_schemas()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in SCHEMAS.glob("*.json")}
    assert sorted(on_disk) == sorted(expected), "regenerate: swarm-tui agent schemas --out docs/schemas"
    for name, schema in expected.items():
        assert on_disk[name] == schema_text(schema), f"{name} drifted: swarm-tui agent schemas --out docs/schemas"


def test_every_message_kind_has_a_schema_and_a_section_in_the_doc() -> None:
    doc = (ROOT / "docs" / "agent-protocol.md").read_text(encoding="utf-8")
    for kind in AGENT_MESSAGES:
        assert f"agent-{kind}.schema.json" in json_schemas()
        assert f"`{kind}`" in doc
    for op in OPS:
        assert f"| `{op}` |" in doc


def test_the_models_judge_what_agents_send() -> None:
    hello = {"type": "hello", "agent": "a", "kind": "momentum", "version": "v1", "protocol": 1, "capabilities": []}
    assert check_message(hello) is None
    assert check_message({**hello, "ops": ["signal"], "faults": ["crash"], "program": "x/1"}) is None
    assert check_message({**hello, "ops": "signal"}) == "hello.ops must be an array of strings, got a string"
    assert check_message({**hello, "protocol": True}) == "hello.protocol must be an integer, got a boolean"
    assert check_message({"type": "result", "id": 3, "ok": False}) == "result.error is missing"
    assert check_message({"type": "result", "id": 3, "ok": True, "value": None}) is None
    assert check_message({"type": "heartbeat", "seq": 2, "whatever": {"extra": "allowed"}}) is None
    assert check_value("work", {"var95": 0.01, "n": 3.0}) == "work.value.n must be an integer, got a number"
    assert check_value("vote", {"vote": "buy", "confidence": 1}) is None  # an integer is a number


@pytest.mark.parametrize(
    "scenario_id", ["mesh.consensus", "ring.pipeline", "star.hub-specialists", "multi-strategy.rotation"]
)
def test_every_task_the_engine_sends_has_the_documented_shape(scenario_id: str) -> None:
    backend = RecordingBackend(validate=True)
    run_one(load_catalogue()[scenario_id](), backend, seed=0, run_id="shapes")
    assert backend.needs.ops and backend.violations == []


def test_task_violations_say_what_is_wrong() -> None:
    task = {"type": "task", "id": 1, "op": "fill", "cap": None, "data": {"side": "buy", "qty": 1.0, "price": 2.0}}
    assert task_violations(task) is None
    assert "side" in (task_violations({**task, "data": {"side": "up", "qty": 1.0, "price": 2.0}}) or "")
    assert task_violations({**task, "op": "teleport"}) == "unknown op 'teleport'"
    assert task_violations({"type": "launch"}) == "unknown message type 'launch'"


def test_requirements_are_measured_from_the_scenarios() -> None:
    needs = measure(["chaos.cpu-spike", "mesh.partition", "multi-strategy.mix"])
    assert needs["chaos.cpu-spike"].ops == {"work"} and needs["chaos.cpu-spike"].faults == {"cpu-spike"}
    assert needs["mesh.partition"].faults == {"partition"}  # a network fault, seen in the events
    assert needs["multi-strategy.mix"].ops == {"signal:momentum", "signal:pairs", "signal:arbitrage"}


def test_an_agent_fits_the_scenarios_whose_operations_it_answers() -> None:
    needs = {
        "a": Needs({"signal:momentum", "vote"}, {"crash"}),
        "b": Needs({"signal:pairs"}, set()),
        "c": Needs({"work"}, {"cpu-spike"}),
    }
    ops = answered(["signal", "vote", "work"], ["momentum"])
    assert ops == {"signal:momentum", "vote", "work"}
    local = fault_methods("local", frozenset())
    fits = {f.scenario: f for f in fit(needs, ops, local)}
    assert fits["a"].runnable and not fits["b"].runnable and fits["b"].missing == ("signal:pairs",)
    assert fits["c"].runnable and fits["c"].outside == ("cpu-spike",)
    impossible = {**local, "cpu-spike": "not possible on this backend for this agent"}
    assert fit(needs, ops, impossible)[2].missing == ("fault cpu-spike",)


def test_fault_methods_follow_the_claims() -> None:
    builtin = fault_methods("local", None)
    assert all(how.startswith(("by the agent", "the sandbox", "in the router")) for how in builtin.values())
    bare = fault_methods("e2b", frozenset())
    assert bare["cpu-spike"].startswith("from outside") and bare["error-rate"].startswith("from outside")
    assert fault_methods("local", frozenset({"cpu-spike"}))["cpu-spike"].startswith("by the agent")
    assert fault_methods("mock", frozenset())["cpu-spike"].startswith("not possible")


# -- agent groups name programs ------------------------------------------------------------------------
def test_an_agent_group_names_its_program() -> None:
    entry = AgentEntry(kind="momentum", command=["node", "agent.js"], env={"API_TOKEN": "t0ps3cret-value"})
    program = entry.spec().program
    assert program == AgentProgram(command=("node", "agent.js"), env=(("API_TOKEN", "t0ps3cret-value"),))
    assert program.label == "node agent.js" and "t0ps3cret" not in repr(program)
    assert AgentProgram(command=("/usr/bin/python3", "/a/b/agent.py", "--x")).label == "python3 agent.py --x"
    assert AgentEntry(kind="momentum").spec().program is None
    for bad in ({"workdir": "x"}, {"env": {"A": "b"}}, {"command": []}, {"command": ["a"], "env": {"1x": "y"}}):
        with pytest.raises(ValueError):
            AgentEntry.model_validate({"kind": "momentum", **bad})


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_scenario_files_resolve_workdirs_and_register_env_as_secrets(tmp_path: Path) -> None:
    (tmp_path / "agents").mkdir()
    secret = "sk-live-0123456789abcdef"
    text = f"""
[scenario]
id = "mesh.mine"
base = "mesh.equal-coordination"

[[agents]]
kind = "momentum"
symbol = "SPY"
count = 2
command = ["python3", "agent.py"]
workdir = "agents"
env = {{ TOKEN = "{secret}", MODE = "fast" }}
"""
    definition = load_scenario_file(write(tmp_path / "mine.toml", text))
    spec = definition.build().params.agent_specs()[0]
    assert spec.program is not None and spec.program.workdir == str((tmp_path / "agents").resolve())
    assert redact.scrub(f"token={secret}") == "token=***"
    assert redact.scrub("mode=fast") == "mode=fast"  # shorter than 8 characters: not masked
    with pytest.raises(ConfigError, match=r"agents\[0\]\.workdir: no such folder"):
        load_scenario_file(write(tmp_path / "bad.toml", text.replace('workdir = "agents"', 'workdir = "nope"')))
    with pytest.raises(ConfigError, match="give command too"):
        load_scenario_file(write(tmp_path / "bad2.toml", text.replace('command = ["python3", "agent.py"]', "")))


def test_registered_secrets_are_masked_as_written_and_as_json_writes_them() -> None:
    value = 'pa"ss\\word-9f8e7d'
    redact.register_secrets([value, "short"])
    assert redact.scrub(value) == "***"
    assert redact.scrub(json.dumps({"v": value})) == '{"v": "***"}'
    assert redact.scrub("short") == "short"


def test_the_example_scenario_files_load() -> None:
    for path in sorted((ROOT / "examples" / "scenarios").glob("*.toml")):
        definition = load_scenario_file(path)
        programs = {s.program.command for s in definition.build().params.agent_specs() if s.program is not None}
        assert len(programs) == 2, path  # v1 and v2: two different programs


def test_the_journal_and_projection_name_each_agents_program() -> None:
    from swarm_tui.engine.events import AgentStateChanged, event_from_dict
    from swarm_tui.engine.projection import SwarmProjection

    projection = SwarmProjection()
    event = AgentStateChanged(t=0.0, agent="m-1", old="", new="starting", version="v2", program="node agent.js")
    projection(event_from_dict(json.loads(json.dumps(event.to_dict()))))
    (row,) = projection.rows(0.0)
    assert row.program == "node agent.js" and row.version == "v2"
    old: dict[str, Any] = {"kind": "agent_state", "t": 0.0, "agent": "m-2", "old": "", "new": "starting"}
    projection(event_from_dict(old))  # a journal from before programs were recorded
    assert {r.id: r.program for r in projection.rows(0.0)}["m-2"] == "built-in"
