"""Every way a headless run can end gives its documented exit code, also on a machine whose cores
are busy: never a crash at exit (SIGABRT), never a signal's raw death, never 0 by accident.

Two busy-loop processes occupy both cores for the whole test; each path runs once here
(tests/backends/test_exit_sdk_threads.py and the CLI tests run them again).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_e2b import FakeE2B
from support import cli_env

RUNS = 1


@pytest.fixture(scope="module")
def busy_cores() -> Iterator[None]:
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        yield
    finally:
        for proc in loops:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def rejecting_e2b() -> Iterator[dict[str, str]]:
    server = FakeE2B().start()
    server.reject_key()
    try:
        yield {**server.env(), "E2B_API_KEY": "e2b_wrong_key_0000"}
    finally:
        server.stop()


def swarm(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swarm_tui", *args],
        capture_output=True,
        text=True,
        env={**cli_env(), **(env or {})},
        timeout=timeout,
    )


def signalled(sig: signal.Signals, after: float, *args: str) -> tuple[int, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "swarm_tui", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    time.sleep(after)
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=180)
    return proc.returncode, err


@pytest.mark.slow
def test_every_ending_gives_its_exit_code_under_load(
    busy_cores: None, rejecting_e2b: dict[str, str], tmp_path: Path
) -> None:
    seen: list[tuple[str, int, int]] = []

    def expect(name: str, code: int, got: int, stderr: str, lines: int | None = None) -> None:
        seen.append((name, code, got))
        assert got == code, f"{name}: exit {got}, expected {code}; stderr: {stderr[-500:]}"
        assert "Traceback" not in stderr and "Fatal Python error" not in stderr, f"{name}: {stderr[-500:]}"
        if lines is not None:
            assert len(stderr.strip().splitlines()) == lines, f"{name}: {stderr!r}"

    for _ in range(RUNS):
        ok = swarm("run", "--scenario", "ring.data-flow", "--quiet", "--no-journal")
        expect("a passing run", 0, ok.returncode, ok.stderr)
        failed = swarm("run", "--scenario", "ring.data-flow", "--off", "pipelining", "--quiet", "--no-journal")
        expect("a failing check", 1, failed.returncode, failed.stderr)
        usage = swarm("run", "--scenario", "no.such")
        expect("bad usage", 2, usage.returncode, usage.stderr, lines=1)
        rejected = swarm("run", "--backend", "e2b", env=rejecting_e2b)
        expect("a rejected E2B key", 2, rejected.returncode, rejected.stderr, lines=1)
        # While it starts up (imports, the backend's check): the handler is the first thing it
        # installs, so only a signal during the interpreter's own start (tens of ms) is out of reach.
        code, err = signalled(signal.SIGTERM, 0.5, "run", "--scenario", "mesh.failover", "--no-journal")
        expect("SIGTERM as it starts", 143, code, err)
        code, err = signalled(signal.SIGINT, 2.5, "run", "--pattern", "all", "--no-journal")
        expect("SIGINT during the run", 130, code, err)
        code, err = signalled(signal.SIGHUP, 2.5, "run", "--pattern", "all", "--no-journal")
        expect("SIGHUP during the run", 129, code, err)
    assert len(seen) == 7 * RUNS
    assert os.getloadavg()[0] > 0  # the busy loops really ran (a smoke check of the fixture)
