"""The command line as real processes: the same seed gives the same results whatever the
interpreter's hash seed, the issue's acceptance command over the whole catalogue, Ctrl-C on a
compare. Each starts Python processes of its own (seconds each), so they live in this tier."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from support import cli_env, validate_results


def swarm(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swarm_tui", *args], capture_output=True, text=True, env=cli_env(), cwd=cwd, timeout=300
    )


def _run_json(seed: int, hashseed: str, path: str, *selection: str) -> dict:
    env = dict(os.environ, PYTHONHASHSEED=hashseed)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "swarm_tui",
            "run",
            *(selection or ("--pattern", "all")),
            "--seed",
            str(seed),
            "--quiet",
            "--export",
            path,
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    with open(path) as handle:
        data = json.load(handle)
    for key in ("run_id", "started_at", "finished_at"):
        data.pop(key)
    for s in data["scenarios"]:
        s.pop("duration_s")
    return data


SAME_SEED = ("--scenario", "mesh.failover", "--scenario", "ring.circuit-breaker", "--scenario", "canary.rollout")


def test_two_runs_with_one_seed_are_identical(tmp_path) -> None:
    # Three scenarios here (in other processes, with other hash seeds); the whole catalogue in
    # the slow tier (tests/slow/test_seeds.py).
    a = _run_json(5, "1", str(tmp_path / "a.json"), *SAME_SEED)
    b = _run_json(5, "12345", str(tmp_path / "b.json"), *SAME_SEED)
    assert a == b
    c = _run_json(6, "1", str(tmp_path / "c.json"), *SAME_SEED)
    assert c != a


def test_done_when_command(tmp_path: Path) -> None:
    """The issue's acceptance command: all 23 passed, files that follow the schema."""
    out = tmp_path / "out"
    proc = swarm(
        "run",
        "--pattern",
        "all",
        "--seed",
        "7",
        "--export",
        f"{out}.json",
        "--export",
        f"{out}.xml",
        "--export",
        f"{out}.md",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(Path(f"{out}.json").read_text())
    validate_results(data)
    assert len(data["scenarios"]) == 23 and all(s["status"] == "passed" for s in data["scenarios"])
    assert data["seed"] == 7
    suites = ET.parse(f"{out}.xml").getroot()
    assert suites.tag == "testsuites" and suites.get("tests") == "23" and suites.get("failures") == "0"
    assert len(suites.findall(".//testcase")) == 23
    report = Path(f"{out}.md").read_text()
    assert "## Figures" in report and "## Recommendations" in report
    # Like with like: 23 different workloads, 23 tables, and no ranking across them.
    assert len({row["workload"] for row in data["comparison"]}) == 23
    assert report.count("| scenario | status | mechanisms off |") == 23
    assert "faster" not in report and "prefer" not in report.lower()
    assert "23 passed" in proc.stdout


def test_ctrl_c_writes_what_finished_and_exits_130(tmp_path: Path) -> None:

    proc = subprocess.Popen(
        [sys.executable, "-m", "swarm_tui", "compare", "--seeds", "0..29", "--jobs", "2", "--export", "r.json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=tmp_path,
    )
    try:
        time.sleep(6.0)  # a real process: let it start its workers and finish a few runs
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["interrupted"] is True
    assert report["units"]["finished"] < report["units"]["planned"] == 300
