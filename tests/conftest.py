"""Shared helpers for the tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _state_dir(tmp_path_factory: pytest.TempPathFactory):
    """Journals of every run (headless and dashboard) go to a temporary state directory, never
    to the user's; subprocesses inherit it through the environment."""
    path = tmp_path_factory.mktemp("state")
    old = os.environ.get("SWARM_TUI_STATE_DIR")
    os.environ["SWARM_TUI_STATE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("SWARM_TUI_STATE_DIR", None)
    else:
        os.environ["SWARM_TUI_STATE_DIR"] = old


@pytest.fixture
def tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def e2b_fake(monkeypatch: pytest.MonkeyPatch):
    """A loopback fake of E2B with the SDK pointed at it (through the SDK's own environment
    variables); afterwards no sandbox may be alive and no process of it running."""
    import time

    from fake_e2b import FakeE2B

    server = FakeE2B().start()
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SWARM_TUI_E2B_RATE", "100")  # tests measure behaviour, not E2B's free-tier pace
    try:
        yield server
        deadline = time.monotonic() + 5
        while (server.alive_count() or server.live_processes()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.alive_count() == 0, "sandboxes left alive on the fake"
        assert server.live_processes() == [], "processes left running in fake sandboxes"
    finally:
        server.stop()


# The slow tier's longest tests are collected first, so that pytest-xdist (with `--dist load
# --maxschedchunk 1`, as .ci/run runs that tier) starts them first: a minute-long test that starts
# last keeps the run going alone at the end. Longest first, by file. (Not the real-process tier:
# started together, its three longest real-time scenarios made the Python example's leak late to
# be detected on two cores.)
LONGEST_FIRST = (
    "test_gate_rates.py",
    "test_soak.py",
    "test_compare_default.py",
    "test_mechanisms_off_seeds.py",
    "test_seeds.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the others keep their order
