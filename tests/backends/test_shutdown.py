"""Whatever ends a run, no sandbox outlives it and nothing measured is lost.

Each ending is tried with the local backend and with e2b on the loopback fake: SIGINT, SIGTERM,
SIGHUP (the terminal closing), a second Ctrl-C while tearing down, an exception in a scenario,
and SIGKILL of swarm-tui itself (E2B sandboxes then expire; `swarm-tui cleanup` finds them).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from support import agent_processes_of, cli_env

from swarm_tui.engine.sandbox import create_backend
from swarm_tui.patterns.catalogue import load_catalogue
from swarm_tui.results.journal import read_journal
from swarm_tui.session.run import RunSession

REGISTRY = load_catalogue()

SCENARIO = "mesh.failover"
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


def _count(journal: Path, needle: str) -> int:
    try:
        text = journal.read_text(errors="replace")
    except FileNotFoundError:
        return 0
    return text.count(needle)


def _healthy(journal: Path) -> int:
    return _count(journal, '"new":"healthy"')


def _measuring(journal: Path) -> bool:
    """Its agents up and a decision already made: something measured that the signal must keep
    (a loaded machine once took longer than the agents' start to make the first one)."""
    return _healthy(journal) >= 4 and _count(journal, '"kind":"task"') > 0


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for proc in procs:
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except psutil.NoSuchProcess:
            pass
    return out


def _start(tmp_path: Path, backend: str, *extra: str) -> tuple[subprocess.Popen[str], Path, Path]:
    journal, exported = tmp_path / "run.jsonl", tmp_path / "run.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "swarm_tui",
            "run",
            "--backend",
            backend,
            "--scenario",
            SCENARIO,
            "--scenario",
            "ring.data-flow",
            "--quiet",
            "--journal",
            str(journal),
            "--export",
            str(exported),
            *extra,
        ],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not _measuring(journal):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _out, err = proc.communicate()
            pytest.fail(f"the run never got its agents up and deciding (rc={proc.returncode}): {err[-2000:]}")
        time.sleep(0.1)
    return proc, journal, exported


def _check_results_so_far(journal: Path, exported: Path, signame: str) -> None:
    recorded = read_journal(journal)
    assert recorded.finished and recorded.footer and recorded.footer["interrupted"] is True
    results = json.loads(exported.read_text())
    assert results["interrupted"] is True
    [first] = results["scenarios"]  # the run stopped there: ring.data-flow never started
    assert first["id"] == SCENARIO and first["status"] == "error"
    assert first["error"].startswith(f"interrupted by {signame}")
    assert first["metrics"]["decisions"] > 0, "what was measured before the signal is kept"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_local_signal_kills_agents_and_keeps_results(tmp_path: Path, sig: signal.Signals) -> None:
    proc, journal, exported = _start(tmp_path, "local")
    agents = agent_processes_of(proc.pid)
    assert len(agents) >= 4
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == EXIT[sig], err
    assert "Traceback" not in err
    _gone, alive = psutil.wait_procs(agents, timeout=2.0)
    assert not _alive(alive), "agent processes outlived the run"
    _check_results_so_far(journal, exported, sig.name)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_e2b_signal_kills_sandboxes_and_keeps_results(tmp_path: Path, e2b_fake, sig: signal.Signals) -> None:
    proc, journal, exported = _start(tmp_path, "e2b")
    assert e2b_fake.alive_count() >= 4
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT[sig], err
    assert "Traceback" not in err
    assert e2b_fake.alive_count() == 0, "sandboxes outlived the run"
    _check_results_so_far(journal, exported, sig.name)


@pytest.mark.parametrize("backend", ["local", "e2b"])
def test_second_ctrl_c_hurries_but_still_kills(tmp_path: Path, request: pytest.FixtureRequest, backend: str) -> None:
    fake = request.getfixturevalue("e2b_fake") if backend == "e2b" else None
    proc, journal, exported = _start(tmp_path, backend)
    agents = agent_processes_of(proc.pid)
    if fake is not None:
        fake.slow_kill(1.5)  # a teardown long enough for the second Ctrl-C to land in it
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    if fake is not None:
        assert "hurrying" in err
        assert fake.alive_count() == 0, "hurrying must not skip killing the sandboxes"
    _gone, alive = psutil.wait_procs(agents, timeout=2.0)
    assert not _alive(alive)
    assert json.loads(exported.read_text())["interrupted"] is True
    assert read_journal(journal).finished


class _Boom:
    """mesh.failover with a bug: it raises a few seconds in, with its agents deployed."""

    @staticmethod
    def make():
        base = REGISTRY[SCENARIO]

        class Boom(base):  # type: ignore[misc, valid-type]
            async def run(self, ctx) -> None:
                inner = asyncio.ensure_future(base.run(self, ctx))
                await ctx.clock.sleep(3.0)
                inner.cancel()
                raise RuntimeError("a bug in the scenario")

        return Boom()


@pytest.mark.parametrize("backend", ["local", "e2b"])
def test_an_exception_in_a_scenario_kills_its_sandboxes_and_the_run_goes_on(
    request: pytest.FixtureRequest, backend: str
) -> None:
    fake = request.getfixturevalue("e2b_fake") if backend == "e2b" else None
    created: list = []

    def factory(seed: int):
        created.append(create_backend(backend, seed=seed))
        return created[-1]

    session = RunSession(backend=backend, seed=0, journal=False)
    session.backend_factory = lambda: factory  # type: ignore[method-assign]
    result = session.run([_Boom.make(), REGISTRY["ring.data-flow"]()])
    first, second = result.scenarios
    assert first.status == "error" and "RuntimeError: a bug in the scenario" in (first.error or "")
    assert second.status == "passed"
    assert all(b.alive_count() == 0 for b in created)
    assert not _alive(agent_processes_of(os.getpid()))
    if fake is not None:
        assert fake.alive_count() == 0


def test_e2b_after_sigkill_sandboxes_expire_and_cleanup_finds_them(tmp_path: Path, e2b_fake) -> None:
    # Long enough that listing them (a fresh interpreter, on a loaded machine) comes first.
    timeout_s = 15
    proc, journal, _exported = _start(tmp_path, "e2b", "--e2b-timeout", str(timeout_s))
    run_id = read_journal(journal).run_id
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    left = e2b_fake.alive_count()
    assert left >= 4, "SIGKILL left nothing behind: the test proves nothing"
    wide = {**cli_env(), "COLUMNS": "250"}  # the table folds long ids at the terminal's width
    listed = subprocess.run(
        [sys.executable, "-m", "swarm_tui", "cleanup", "--where", "e2b"],
        env=wide,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert run_id in listed.stdout and f"{left} left behind" in listed.stdout
    # Nobody refreshes their keep-alive any more: they expire within the timeout.
    deadline = time.monotonic() + timeout_s + 10
    while e2b_fake.alive_count() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert e2b_fake.alive_count() == 0, "sandboxes of a killed run did not expire"


def test_e2b_after_sigkill_cleanup_yes_kills_them(tmp_path: Path, e2b_fake) -> None:
    proc, _journal, _exported = _start(tmp_path, "e2b", "--e2b-timeout", "600")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    left = e2b_fake.alive_count()
    assert left >= 4
    killed = subprocess.run(
        [sys.executable, "-m", "swarm_tui", "cleanup", "--where", "e2b", "--yes"],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert killed.returncode == 0, killed.stderr
    assert f"killed {left} of {left}" in killed.stdout
    assert e2b_fake.alive_count() == 0


def test_e2b_signal_during_creation_kills_what_e2b_was_still_creating(tmp_path: Path, e2b_fake) -> None:
    """Ctrl-C while E2B is still answering create requests: those sandboxes come into being
    after the run gave up on them; the teardown waits for the answers and kills them."""
    e2b_fake.slow_create(2.0)
    journal = tmp_path / "run.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "swarm_tui",
            "run",
            "--backend",
            "e2b",
            "--scenario",
            SCENARIO,
            "--quiet",
            "--journal",
            str(journal),
            "--e2b-timeout",
            "600",
        ],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not journal.exists() or '"kind":"scenario_started"' not in journal.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, "the run never started"
        time.sleep(0.05)
    time.sleep(0.8)  # the create requests are out; E2B answers them 2 s after they came in
    assert e2b_fake.created_total == 0
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    deadline = time.monotonic() + 5  # the fake finishes what it was asked, run or no run
    while e2b_fake.created_total < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert e2b_fake.created_total >= 4, "no sandbox was being created when the signal came: proves nothing"
    time.sleep(0.3)
    assert e2b_fake.alive_count() == 0, "sandboxes created after the signal were left alive"
