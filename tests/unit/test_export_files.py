"""Export files as a user finds them: whole (written via a rename), secrets masked, and with the
mode any new file of the user's gets (the temporary file's 0600 made them unreadable to others)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from swarm_tui.compare.command import write_exports
from swarm_tui.results.export import atomic_write


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_export_has_the_mode_of_a_new_file(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "r.json"
    atomic_write(path, "{}\n")
    assert mode(path) == 0o644
    assert path.read_text() == "{}\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left


def test_the_mode_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        atomic_write(tmp_path / "private.md", "x")
    finally:
        os.umask(old)
    assert mode(tmp_path / "private.md") == 0o600


def test_compare_reports_have_it_too_and_mask_secrets(
    tmp_path: Path, umask_022: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("E2B_API_KEY", "e2b_0123456789abcdef0123456789abcdef")
    report_path = tmp_path / "report.json"
    problems = write_exports({"title": "e2b_0123456789abcdef0123456789abcdef"}, [str(report_path)])
    assert problems == []
    assert mode(report_path) == 0o644
    assert "0123456789abcdef0123456789abcdef" not in report_path.read_text()
