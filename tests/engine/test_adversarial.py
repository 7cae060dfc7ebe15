"""Adversarial scenario files, run through the public ``--config`` path (seed 0).

``tests/scenarios/<scenario id>/`` holds, for every scenario of the catalogue, configurations a
user might write or an attacker would use to make a broken swarm look healthy (``fail-*.toml``)
and variations a correct swarm absorbs (``pass-*.toml``). Each file opens with comment lines
saying what it does and why; a fail file names what must go wrong in one line:

* ``# must fail: <part of a check's name>``: exit 1, the scenario ``failed`` (not an error), and
  a failed check whose name contains that text;
* ``# must error: <part of the error>``: exit 1, the scenario could not run (``error``);
* ``# must reject: <part of the message>``: exit 2 before anything runs, one line on stderr.

A pass file must exit 0 with every check passed. tests/slow/test_adversarial_seeds.py runs the
same files over seeds 1..2.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import CATALOGUE, ROOT

from swarm_tui.cli import main
from swarm_tui.config.user import read_toml

SCENARIO_FILES = ROOT / "tests" / "scenarios"
MARKER = re.compile(r"^#\s*must (fail|error|reject):\s*(\S.*?)\s*$")
EXIT_CODE = {"pass": 0, "fail": 1, "error": 1, "reject": 2}


@dataclass(frozen=True)
class Case:
    """One scenario file and what it must do."""

    path: Path
    expect: str  # pass, fail, error or reject
    what: str  # the text a failed check's name, the error or the message must contain
    header: tuple[str, ...]  # its opening comment lines
    head: dict[str, Any]  # its [scenario] table

    @property
    def name(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"


def read_case(path: Path) -> Case:
    """A file's opening comment lines and its one marker (none for a pass file)."""
    header: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    markers = [m for m in (MARKER.match(line) for line in header) if m]
    if len(markers) > 1:
        raise ValueError(f"{path}: more than one 'must' line")
    expect, what = (markers[0].group(1), markers[0].group(2)) if markers else ("pass", "")
    return Case(path, expect, what, tuple(header), dict(read_toml(path)["scenario"]))


def all_cases() -> list[Case]:
    return [read_case(p) for p in sorted(SCENARIO_FILES.glob("*/*.toml"))]


CASES = all_cases()
MAIN_IDS = [cls.id for cls in CATALOGUE.main()]


@dataclass
class Outcome:
    """What one run of a file through the command line gave."""

    code: int
    scenario: dict[str, Any] | None  # the file's scenario in the results file (None: none written)
    stderr: str

    def failed_checks(self) -> list[str]:
        return [c["name"] for c in (self.scenario or {}).get("checks", []) if not c["passed"]]

    def describe(self) -> str:
        s = self.scenario or {}
        return (
            f"exit {self.code}, status {s.get('status')}, error {s.get('error')!r}, "
            f"failed checks {self.failed_checks()}, stderr {self.stderr.strip()[:300]!r}"
        )


def run_file(path: Path, seed: int, out: Path, capsys: pytest.CaptureFixture[str]) -> Outcome:
    """``swarm-tui run --config FILE --seed N --no-journal --export out -q``, in this process."""
    capsys.readouterr()  # only this run's output
    code = main(["run", "--config", str(path), "--seed", str(seed), "--no-journal", "--export", str(out), "-q"])
    stderr = capsys.readouterr().err
    scenario = None
    if out.exists():
        scenarios = json.loads(out.read_text())["scenarios"]
        assert len(scenarios) == 1, f"{path}: one scenario per file, got {len(scenarios)}"
        scenario = scenarios[0]
        out.unlink()
    return Outcome(code, scenario, stderr)


def problem(case: Case, outcome: Outcome) -> str | None:
    """Why the outcome is not what the file says it must be (None: it is)."""
    s = outcome.scenario or {}
    if outcome.code != EXIT_CODE[case.expect]:
        return f"expected exit {EXIT_CODE[case.expect]}: {outcome.describe()}"
    if "Traceback" in outcome.stderr:
        return f"a traceback on stderr: {outcome.describe()}"
    if case.expect == "reject":
        lines = [line for line in outcome.stderr.splitlines() if line.strip()]
        if outcome.scenario is not None or len(lines) != 1 or case.what not in lines[0]:
            return f"expected one line on stderr with {case.what!r} and no results: {outcome.describe()}"
        return None
    if outcome.scenario is None:
        return f"no results written: {outcome.describe()}"
    if case.expect == "pass":
        if s.get("status") != "passed" or outcome.failed_checks() or not s.get("checks"):
            return f"expected every check passed: {outcome.describe()}"
        return None
    if case.expect == "error":
        if s.get("status") != "error" or case.what not in str(s.get("error")):
            return f"expected an error with {case.what!r}: {outcome.describe()}"
        return None
    if s.get("status") != "failed" or s.get("error"):
        return f"expected the scenario to fail its checks (not to error): {outcome.describe()}"
    if not any(case.what in name for name in outcome.failed_checks()):
        return f"expected a failed check named like {case.what!r}: {outcome.describe()}"
    return None


# -- the collection itself ----------------------------------------------------------------------------
def test_every_catalogue_scenario_has_two_fail_files_and_a_pass_file() -> None:
    folders = {p.name for p in SCENARIO_FILES.iterdir() if p.is_dir()}
    assert folders == set(MAIN_IDS), f"folders without a scenario: {folders - set(MAIN_IDS)}, " + (
        f"scenarios without a folder: {set(MAIN_IDS) - folders}"
    )
    for scenario_id in MAIN_IDS:
        files = [c for c in CASES if c.path.parent.name == scenario_id]
        fails = [c for c in files if c.path.name.startswith("fail-")]
        passes = [c for c in files if c.path.name.startswith("pass-")]
        assert len(fails) >= 2 and len(passes) >= 1, f"{scenario_id}: {len(fails)} fail, {len(passes)} pass files"
        assert len(fails) + len(passes) == len(files), f"{scenario_id}: a file is neither fail- nor pass-"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_file_says_what_it_does_and_builds_on_its_scenario(case: Case) -> None:
    prose = [line for line in case.header if not MARKER.match(line) and len(line.strip("# ")) > 0]
    assert len(prose) >= 2, f"{case.name}: the opening comments must say what the file does and why"
    if case.path.name.startswith("fail-"):
        assert case.expect != "pass", f"{case.name}: a fail file needs a '# must fail|error|reject: ...' line"
    else:
        assert case.expect == "pass", f"{case.name}: a pass file has no 'must' line"
    head = case.head
    scenario_id = case.path.parent.name
    # A new id built on the folder's scenario, so a run of the file never hides the catalogue's.
    assert head.get("base") == scenario_id, f"{case.name}: base must be {scenario_id}"
    assert head["id"] == f"adv.{scenario_id}.{case.path.stem.split('-', 1)[1]}", f"{case.name}: id {head['id']}"


# -- the runs ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_file_does_what_it_says_on_seed_0(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_file(case.path, 0, tmp_path / "r.json", capsys)
    found = problem(case, outcome)
    assert found is None, f"{case.name}: {found}"
    if outcome.scenario is not None:
        assert outcome.scenario["id"] == case.head["id"]


def test_the_judge_tells_a_failed_check_from_a_passing_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The rule itself can fail: a pass file held to a fail file's claim, and the other way round,
    # are both reported (so a broken harness cannot pass every file).
    cheap = [c for c in CASES if c.path.parent.name == "mesh.equal-coordination"]  # about 0.05 s a run
    fail_case = next(c for c in cheap if c.expect == "fail")
    pass_case = next(c for c in cheap if c.expect == "pass")
    passed = run_file(pass_case.path, 0, tmp_path / "p.json", capsys)
    failed = run_file(fail_case.path, 0, tmp_path / "f.json", capsys)
    assert problem(pass_case, passed) is None and problem(fail_case, failed) is None
    assert problem(Case(pass_case.path, "fail", "success rate", (), pass_case.head), passed) is not None
    assert problem(Case(fail_case.path, "pass", "", (), fail_case.head), failed) is not None
    assert problem(Case(fail_case.path, "fail", "no check is called this", (), fail_case.head), failed) is not None
    assert problem(Case(fail_case.path, "error", fail_case.what, (), fail_case.head), failed) is not None
