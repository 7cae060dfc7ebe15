"""``swarm-tui compare``: parallel runs give the same figures, Ctrl-C keeps what finished, every
export carries the same numbers, bad input is one line and exit 2."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from compare_support import SMALL_TOML, small

from swarm_tui.cli import main
from swarm_tui.compare.compare import Comparison, parse_seeds
from swarm_tui.compare.report import build_report
from swarm_tui.compare.runner import run_jobs
from swarm_tui.compare.writers import to_csv, to_json, to_markdown


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def swarm(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Ran]:
    """``swarm-tui ARGS`` in this process, in ``cwd`` (the Ctrl-C test below runs a real one)."""

    def run(*args: str, cwd: Path) -> Ran:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


def _strip(runs: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in runs]


def test_figures_do_not_depend_on_the_number_of_workers() -> None:
    comparison = Comparison(small(), [0, 1], rollouts=False)
    jobs = comparison.jobs_list()
    alone = run_jobs(jobs, workers=1)
    pooled = run_jobs(jobs, workers=2)
    assert not alone.interrupted and not pooled.interrupted
    assert _strip(alone.runs) == _strip(pooled.runs)


class StopAfter:
    """A stop request that arrives after ``n`` units finished."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.done = 0
        self.hurry = False

    @property
    def requested(self) -> bool:
        return self.done >= self.n

    def on_done(self, _run: dict) -> None:
        self.done += 1


@pytest.mark.parametrize("workers", [1, 2])
def test_a_stop_keeps_what_finished_and_marks_the_report(workers: int) -> None:
    comparison = Comparison(small(), [0, 1, 2], rollouts=False, jobs=workers)
    stop = StopAfter(2)
    report = comparison.run(stop=stop, on_done=stop.on_done)
    assert report["interrupted"] is True
    finished = report["units"]["finished"]
    assert 2 <= finished < report["units"]["planned"]
    assert len(report["runs"]) == finished
    assert "INTERRUPTED" in to_markdown(report).upper()


def test_no_significant_difference_is_said_plainly_with_few_seeds() -> None:
    report = Comparison(small(), [0, 1]).run()
    assert report["differences"] and not any(t["significant"] for t in report["differences"])
    assert all(t["p_holm"] is None for t in report["differences"])  # 2 seeds: below the minimum
    md = to_markdown(report)
    assert "no significant difference" in md
    for rec in report["recommendations"]:
        for finding in rec["findings"]:
            assert finding.get("best") == [] or finding["text"] == "not enough data"


def test_recommendations_come_only_from_significant_differences() -> None:
    # Made-up figures, so the rule is tested apart from the engine: ring is slower on every seed.
    runs = []
    for seed in range(8):
        for arm, p95 in (("ring", 40.0), ("mesh", 10.0), ("star", 11.0), ("hierarchical", 10.5)):
            runs.append(
                {"kind": "topology", "arm": arm, "version": "", "seed": seed, "latency_p95_ms": p95 + seed % 3 * 0.01}
            )
    report = build_report(
        runs,
        workload={"name": "w"},
        backend="mock",
        seeds=list(range(8)),
        planned=len(runs),
        interrupted=False,
        started_at="",
        finished_at="",
        jobs=1,
        wall_s=0.0,
    )
    hft = next(r for r in report["recommendations"] if r["use_case"] == "high-frequency trading")
    p95 = hft["findings"][0]
    assert p95["worse"] and "ring" in p95["worse"] and "ring" not in p95["best"]
    for t in report["differences"]:
        if t["metric"] == "latency_p95_ms" and "ring" in (t["a"], t["b"]):
            assert t["significant"] and t["better"] != "ring"
    assert "ring: significantly worse" in " ".join(hft["verdicts"])


def test_every_export_carries_the_same_figures(tmp_path: Path) -> None:
    report = Comparison(small(), [0, 1]).run()
    data = json.loads(to_json(report))
    mesh_p95 = data["topologies"]["mesh"]["latency_p95_ms"]["median"]
    rows = list(csv.DictReader(to_csv(report).splitlines()))
    row = next(r for r in rows if r["section"] == "summary" and r["arm"] == "mesh" and r["metric"] == "latency_p95_ms")
    assert float(row["value"]) == pytest.approx(mesh_p95)
    claimed = {r["pattern"]: r for r in data["claimed"]}
    assert claimed["Ring"]["claimed_latency"] == "680 ms"
    assert (
        claimed["Multi-strategy"]["measured_latency"] is None
        and "no like-for-like" in claimed["Multi-strategy"]["what"]
    )
    assert "mock backend, workload small" in claimed["Mesh"]["what"]


def test_parse_seeds() -> None:
    assert parse_seeds("0..2") == [0, 1, 2]
    assert parse_seeds("7") == [7]
    for bad in ("2..1", "a..b", "-1..3", ""):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)


def test_compare_command_with_a_workload_file(tmp_path: Path, swarm: Callable[..., Ran]) -> None:
    toml = tmp_path / "small.toml"
    toml.write_text(SMALL_TOML)
    proc = swarm(
        "compare",
        "--workload",
        str(toml),
        "--seeds",
        "0..1",
        "--jobs",
        "2",
        "--export",
        "r.json",
        "--export",
        "r.md",
        "--export",
        "r.csv",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "The replaced system's table" in proc.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["workload"]["name"] == "small" and report["units"]["finished"] == 20
    assert (tmp_path / "r.md").read_text().startswith("# swarm-tui compare")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--seeds", "5..1"], "--seeds"),
        (["--workload", "nope"], "unknown workload"),
        (["--export", "x.pdf"], "unknown extension"),
        (["--jobs", "0"], "--jobs"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], needle: str, tmp_path: Path, swarm: Callable[..., Ran]
) -> None:
    proc = swarm("compare", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in proc.stderr


def test_a_bad_workload_file_names_the_file_and_key(tmp_path: Path, swarm: Callable[..., Ran]) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text(SMALL_TOML.replace("rate = 10.0", 'rate = "fast"'))
    proc = swarm("compare", "--workload", str(toml), cwd=tmp_path)
    assert proc.returncode == 2
    assert "bad.toml" in proc.stderr and "params.rate" in proc.stderr and "Traceback" not in proc.stderr
