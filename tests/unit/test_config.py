"""Scenario files: new scenarios and overrides; every error names the file, the key, the expectation."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import EXAMPLES, ROOT, run_scenario

from swarm_tui.config.scenario_file import ConfigError, load_scenario_file


def write(tmp: Path, text: str, name: str = "s.toml") -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def test_examples_load_and_pass() -> None:
    for path in sorted((ROOT / "swarm_tui" / "examples" / "scenarios").glob("*.toml")):
        definition = load_scenario_file(path)
        result = run_scenario(definition.build())
        assert result.status == "passed", (path, result.checks)


def test_new_scenario_from_a_base(tmp_path: Path) -> None:
    d = load_scenario_file(
        write(
            tmp_path,
            """
[scenario]
id = "my.failover"
base = "mesh.failover"
title = "Mine"
[params]
duration_s = 30.0
[[agents]]
kind = "momentum"
symbol = "SPY"
count = 5
[[faults]]
kind = "crash"
target = "#4"
at = 10
""",
        )
    )
    scenario = d.build()
    assert scenario.id == "my.failover" and scenario.pattern == "mesh" and scenario.title == "Mine"
    assert not d.overrides
    result = run_scenario(scenario)
    assert result.status == "passed"
    assert result.metrics["recovery_s"] is not None
    assert any(c["observed"] == 4 for c in result.checks if "replacement linked to every peer" in c["name"])


def test_override_changes_thresholds_and_can_fail(tmp_path: Path) -> None:
    d = load_scenario_file(
        write(
            tmp_path,
            """
[scenario]
id = "mesh.equal-coordination"
[checks]
p95_budget_ms = 1.0
""",
        )
    )
    assert d.overrides
    result = run_scenario(d.build())
    assert result.status == "failed"
    assert any(not c["passed"] and "p95" in c["name"] for c in result.checks)


def test_mechanisms_can_be_switched_off_in_a_file(tmp_path: Path) -> None:
    d = load_scenario_file(
        write(
            tmp_path,
            """
[scenario]
id = "ring.circuit-breaker"
[mechanisms]
breaker = false
""",
        )
    )
    assert run_scenario(d.build()).status == "failed"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[scenario\nid=1", "invalid TOML"),
        ("[params]\nx = 1\n", "scenario: required key is missing"),
        ('[scenario]\nid = "Bad Id"\nbase = "mesh.failover"', "scenario.id: expected lowercase"),
        ('[scenario]\nid = "new.one"', "scenario.base: required for a new scenario"),
        ('[scenario]\nid = "new.one"\nbase = "mesh.nothing"', "scenario.base: unknown scenario 'mesh.nothing'"),
        ('[scenario]\nid = "mesh.failover"\n[params]\nwarp = 9', "params.warp: unknown parameter of mesh.failover"),
        ('[scenario]\nid = "mesh.failover"\n[params]\nduration_s = "long"', "params.duration_s: expected a number"),
        ('[scenario]\nid = "mesh.consensus"\n[params]\nrounds = 2.5', "params.rounds: expected a whole number"),
        ('[scenario]\nid = "mesh.failover"\n[[agents]]\nkind = "wizard"', "agents[0].kind: expected one of"),
        (
            '[scenario]\nid = "mesh.failover"\n[[agents]]\nkind = "momentum"\ncount = 0',
            "agents[0].count: expected greater than or equal to 1",
        ),
        (
            '[scenario]\nid = "mesh.failover"\n[[faults]]\nkind = "crash"\nat = -1\ntarget = "#1"',
            "faults[0].at: expected greater than or equal to 0",
        ),
        ('[scenario]\nid = "mesh.failover"\n[[faults]]\nkind = "meteor"', "faults[0].kind: expected one of"),
        ('[scenario]\nid = "mesh.failover"\n[[faults]]\nkind = "crash"\nat = 3', "faults[0].target: required"),
        (
            '[scenario]\nid = "mesh.partition"\n[[faults]]\nkind = "partition"\ngroups = [["#1"]]',
            "faults[0].groups: a partition needs at least two groups",
        ),
        ('[scenario]\nid = "mesh.failover"\n[mechanisms]\nwarp = false', "mechanisms.warp: unknown mechanism"),
        (
            '[scenario]\nid = "mesh.failover"\n[mechanisms]\nfailover = "no"',
            "mechanisms.failover: expected true or false",
        ),
        ('[scenario]\nid = "mesh.failover"\nmarket = "nope.csv"', "scenario.market: no such file"),
        ('[scenario]\nid = "mesh.failover"\ncolour = "red"', "scenario.colour: unknown key"),
    ],
)
def test_errors_name_file_key_and_expectation(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_scenario_file(path)
    message = str(info.value)
    assert message.startswith(str(path) + ":"), message
    assert needle in message, message
    assert "\n" not in message


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_scenario_file(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="is a folder"):
        load_scenario_file(tmp_path)
    p = tmp_path / "bin.toml"
    p.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="not a UTF-8"):
        load_scenario_file(p)


TOML_VALUES = st.recursive(
    st.one_of(st.integers(-5, 1000), st.floats(-10, 100, allow_nan=False), st.text(max_size=8), st.booleans()),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(
        st.sampled_from(["scenario", "params", "checks", "agents", "faults", "mechanisms", "x"]),
        TOML_VALUES,
        max_size=4,
    ),
    st.sampled_from(["mesh.failover", "new.id", "ring.pipeline", ""]),
)
def test_scenario_file_parser_never_crashes(tmp_path: Path, body: dict, sid: str) -> None:
    import tomli_w

    data = dict(body)
    if sid:
        data["scenario"] = {"id": sid, **({"base": "mesh.failover"} if sid == "new.id" else {})}
    path = tmp_path / "fuzz.toml"
    try:
        path.write_text(tomli_w.dumps(data))
    except (TypeError, ValueError):
        return
    try:
        load_scenario_file(path)
    except ConfigError as exc:
        assert str(exc).startswith(str(path))
