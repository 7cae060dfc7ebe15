"""The journal: written as events happen, read back, and rebuilt into the same results."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support import EXAMPLES, cli_env

from swarm_tui.cli import main
from swarm_tui.engine.events import Note
from swarm_tui.results.journal import (
    JournalError,
    JournalWriter,
    default_journal_path,
    prune_journals,
    read_journal,
    state_dir,
)
from swarm_tui.results.rebuild import rebuild_results


def _comparable(results: dict) -> dict:
    """Results without the fields that may differ between two runs (wall stamps)."""
    out = dict(results)
    for key in ("started_at", "finished_at"):
        out.pop(key, None)
    out["scenarios"] = [{k: v for k, v in s.items() if k != "duration_s"} for s in results["scenarios"]]
    return out


def test_a_run_writes_its_journal_and_report_rebuilds_the_same_results(tmp_path: Path, capsys) -> None:
    journal, exported = tmp_path / "run.jsonl", tmp_path / "run.json"
    code = main(
        [
            "run",
            "--pattern",
            "mesh",
            "--pattern",
            "blue-green",
            "--quiet",
            "--journal",
            str(journal),
            "--export",
            str(exported),
        ]
    )
    assert code == 0
    assert f"journal: {journal}" in capsys.readouterr().err
    rebuilt = tmp_path / "rebuilt.json"
    assert main(["report", str(journal), "--export", str(rebuilt), "--quiet"]) == 0
    original, again = json.loads(exported.read_text()), json.loads(rebuilt.read_text())
    assert again["run_id"] == original["run_id"]
    assert _comparable(again) == _comparable(original)
    assert len(again["scenarios"]) == 6


def test_default_journal_goes_to_the_state_directory(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SWARM_TUI_STATE_DIR", str(tmp_path / "state"))
    assert main(["run", "--scenario", "ring.data-flow", "--quiet"]) == 0
    err = capsys.readouterr().err
    journals = list((tmp_path / "state" / "runs").glob("*.jsonl"))
    assert len(journals) == 1 and f"journal: {journals[0]}" in err
    assert read_journal(journals[0]).finished
    assert main(["run", "--scenario", "ring.data-flow", "--quiet", "--no-journal"]) == 0
    assert len(list((tmp_path / "state" / "runs").glob("*.jsonl"))) == 1


def test_state_directory_follows_xdg(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SWARM_TUI_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert state_dir() == tmp_path / "swarm-tui"
    assert default_journal_path("r1") == tmp_path / "swarm-tui" / "runs" / "r1.jsonl"


def test_prune_keeps_the_newest(tmp_path: Path) -> None:
    for i in range(5):
        path = tmp_path / f"{i}.jsonl"
        path.write_text("{}\n")
        stamp = time.time() - 100 + i
        import os

        os.utime(path, (stamp, stamp))
    assert prune_journals(tmp_path, keep=2) == 3
    assert sorted(p.name for p in tmp_path.glob("*.jsonl")) == ["3.jsonl", "4.jsonl"]


def test_writer_flushes_on_its_timer_without_closing(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    writer = JournalWriter(path, "r1", flush_s=0.5)
    writer.open({"backend": "mock"})
    for i in range(100):
        writer(Note(t=float(i), scenario="s", text=f"note {i}"))
    # The timer fires after 0.5 s; the bound is wide for a loaded machine's thread scheduling.
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and path.read_text().count("\n") < 101:
        time.sleep(0.05)
    assert path.read_text().count("\n") == 101, "events not on disk 10 s after they were written"
    writer.close({"finished_at": "now"})
    journal = read_journal(path)
    assert journal.finished and len(journal.events) == 100 and not journal.truncated


def test_writer_keeps_lines_strict_json(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    writer = JournalWriter(path, "r1")
    writer.open({"backend": "mock"})
    writer(Note(t=1.0, scenario="s", text="odd", data={"nan": float("nan"), "inf": float("inf"), "set": {1}}))
    writer.close()
    line = path.read_text().splitlines()[1]
    assert json.loads(line)["data"] == {"nan": None, "inf": None, "set": [1]}
    assert "NaN" not in line


def test_unwritable_journal_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["run", "--scenario", "ring.data-flow", "--quiet", "--journal", str(blocker / "j.jsonl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("swarm-tui: error: cannot write the journal")


def _record(tmp_path: Path) -> Path:
    journal = tmp_path / "run.jsonl"
    assert (
        main(
            ["run", "--scenario", "mesh.failover", "--scenario", "ring.data-flow", "--quiet", "--journal", str(journal)]
        )
        == 0
    )
    return journal


def test_report_on_a_journal_cut_mid_line(tmp_path: Path, capsys) -> None:
    journal = _record(tmp_path)
    data = journal.read_bytes()
    lines = data.split(b"\n")
    # Cut in the middle of the first scenario: its end never reached the disk.
    cut = b"\n".join(lines[:60]) + b"\n" + lines[60][: len(lines[60]) // 2]
    broken = tmp_path / "cut.jsonl"
    broken.write_bytes(cut)
    capsys.readouterr()
    out = tmp_path / "cut.json"
    assert main(["report", str(broken), "--export", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "(line 61) was cut short" in err and "did not finish" in err
    results = json.loads(out.read_text())
    assert results["interrupted"] is True
    [scenario] = results["scenarios"]
    assert scenario["id"] == "mesh.failover" and scenario["status"] == "error"
    assert scenario["error"].startswith("incomplete")
    assert scenario["metrics"]["decisions"] > 0, "what was measured before the cut is kept"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such journal"),
        (b"", "empty file"),
        (b"hello world\n", "line 1 is not JSON"),
        (b"\x00\xff\xfe garbage \x80\n", "line 1 is not JSON"),
        (b'{"kind": "note", "t": 1}\n', "does not start with a run_started line"),
        (b"[1, 2, 3]\n", "line 1 is not a journal record"),
        (b'{"kind":"run_started","run_id":"r"}\nnot json\n{"kind":"note","t":1}\n', "line 2 is not JSON"),
    ],
)
def test_bad_journals_are_one_line_and_exit_2(tmp_path: Path, capsys, content: bytes | None, expected: str) -> None:
    path = tmp_path / "bad.jsonl"
    if content is not None:
        path.write_bytes(content)
    for command in (["report", str(path)], ["replay", str(path)]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert err[0].startswith("swarm-tui: error:") and expected in err[0]


def test_report_of_a_directory_is_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_report_cli_has_no_traceback_in_a_subprocess(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\xff" * 100)
    proc = subprocess.run(
        [sys.executable, "-m", "swarm_tui", "report", str(bad)],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


_SAMPLE: bytes | None = None


def _sample() -> bytes:
    global _SAMPLE
    if _SAMPLE is None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "s.jsonl"
            assert main(["run", "--scenario", "ring.data-flow", "--quiet", "--journal", str(path)]) == 0
            _SAMPLE = path.read_bytes()
    return _SAMPLE


def _read(data: bytes) -> object:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "j.jsonl"
        path.write_bytes(data)
        try:
            journal = read_journal(path)
        except JournalError as exc:
            message = str(exc)
            assert "\n" not in message and str(path) in message
            return exc
        rebuild_results(journal)  # whatever was read can be reported
        return journal


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
@example(b'{"kind":"run_started"}\n{"kind":"scenario_started","t":"x"}\n{"kind":"task","t":1e400}\n')
@example(b'{"kind":"run_started"}\n{"kind":"scenario_started","t":0,"scenario":[1]}\n{"kind":"task","t":1,"ok":"x"}')
def test_reader_never_crashes_on_arbitrary_bytes(data: bytes) -> None:
    _read(data)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0), st.binary(max_size=20))
def test_any_cut_of_a_real_journal_is_readable_or_rejected_cleanly(cut_at: int, tail: bytes) -> None:
    data = _sample()
    first_line_end = data.index(b"\n")
    cut = data[: cut_at % (len(data) + 1)]
    result = _read(cut)
    if len(cut) > first_line_end:
        # SIGKILL can cut a journal anywhere: everything before the cut is still readable.
        assert not isinstance(result, JournalError), result
        result_with_junk = _read(cut + tail)
        assert result_with_junk is not None
