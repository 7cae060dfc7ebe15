"""The command line: exit codes, one-line errors, exports that follow the results schema."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support import ROOT, cli_env, validate_results

from swarm_tui.cli import main


def swarm(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swarm_tui", *args], capture_output=True, text=True, env=cli_env(), cwd=cwd, timeout=120
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert needle in lines[0]


def test_a_failing_check_exits_1_and_lands_in_every_export(tmp_path: Path) -> None:
    base = tmp_path / "r"
    proc = swarm(
        "run",
        "--scenario",
        "mesh.failover",
        "--off",
        "failover",
        "--quiet",
        "--export",
        f"{base}.json",
        "--export",
        f"{base}.xml",
        "--export",
        f"{base}.csv",
        "--export",
        f"{base}.jsonl",
        "--export",
        f"{base}.md",
    )
    assert proc.returncode == 1, proc.stderr
    data = json.loads(Path(f"{base}.json").read_text())
    validate_results(data)
    scenario = data["scenarios"][0]
    assert scenario["status"] == "failed" and scenario["mechanisms_off"] == ["failover"]
    failed = [c for c in scenario["checks"] if not c["passed"]]
    failures = ET.parse(f"{base}.xml").getroot().findall(".//failure")
    assert len(failures) == len(failed) >= 1
    assert all("expected" in f.get("message", "") for f in failures)
    with Path(f"{base}.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {r["metric"] for r in rows} >= {"decisions", "latency_ms.p95", "success_rate"}
    assert all(r["scenario"] == "mesh.failover" for r in rows)
    journal = [json.loads(line) for line in Path(f"{base}.jsonl").read_text().splitlines()]
    kinds = [e["kind"] for e in journal]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert "fault_injected" in kinds and "scenario_finished" in kinds
    assert "**FAIL**" in Path(f"{base}.md").read_text()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "--pattern", "blob"], "unknown pattern 'blob'"),
        (["run", "--scenario", "mesh.nope"], "unknown scenario 'mesh.nope'"),
        (["run", "--export", "out.pdf"], "unknown extension '.pdf'"),
        (["run", "--export", "/no/such/dir/out.json"], "does not exist"),
        (["run", "--seed", "x"], "'x' is not a valid integer"),
        (["run", "--seed", "-3"], "--seed must be >= 0"),
        (["run", "--backend", "cloud"], "'cloud' is not one of"),
        (["run", "--off", "warp-drive"], "--off warp-drive"),
        (["run", "--config", "/no/such.toml"], "no such file"),
        (["run", "--market", "/no/such.csv"], "cannot read"),
        (["frobnicate"], "No such command"),
        (["run", "--bogus"], "No such option"),
        (["patterns", "--params", "nope"], "unknown scenario"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(args: list[str], needle: str, tmp_path: Path) -> None:
    assert_one_line_error(swarm(*args, cwd=tmp_path), needle)


def test_bad_market_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "m.csv"
    bad.write_text("time,symbol,price\n0,SPY,cheap\n")
    assert_one_line_error(swarm("run", "--market", str(bad)), "m.csv:2: price 'cheap' is not a number")


def test_patterns_lists_every_scenario() -> None:
    proc = swarm("patterns", "--mechanisms")
    assert proc.returncode == 0
    for sid in ("mesh.failover", "canary.abort", "chaos.cpu-spike", "--off failover"):
        assert sid in proc.stdout
    params = swarm("patterns", "--params", "ring.circuit-breaker")
    assert params.returncode == 0 and "open_s" in params.stdout


def test_quiet_prints_one_line() -> None:
    proc = swarm("run", "--scenario", "mesh.equal-coordination", "--quiet")
    assert proc.returncode == 0
    assert len(proc.stdout.strip().splitlines()) == 1 and "1 passed" in proc.stdout


def test_live_display_and_summary_table() -> None:
    proc = swarm("run", "--pattern", "ring")
    assert proc.returncode == 0
    for sid in ("ring.pipeline", "ring.data-flow", "ring.circuit-breaker"):
        assert sid in proc.stdout
    assert "3 passed, 0 failed" in proc.stdout


def test_main_returns_codes_in_process(capsys) -> None:
    assert main(["run", "--scenario", "star.hub-specialists", "-q"]) == 0
    assert main(["run", "--scenario", "star.hub-specialists", "--off", "capability_routing", "-q"]) == 1
    assert main(["run", "--pattern", "nope"]) == 2
    assert "unknown pattern" in capsys.readouterr().err


def test_ci_script_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line.strip() for line in readme.splitlines() if line.strip().startswith("python3 -m venv")]
    assert len(commands) >= 2, "the README's quick start has two commands"
    assert commands[1] in ci
