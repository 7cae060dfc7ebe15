"""The agent program and the local backend: real processes, real faults, nothing left behind."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from support import cli_env

from swarm_tui.backends.local import MARKER, find_stray_agents
from swarm_tui.session.agent_check import reference_burn, spike_bar

AGENT = [sys.executable, "-u", "-m", "swarm_tui.agent"]


def agent_proc(config: dict | None = None) -> subprocess.Popen[bytes]:
    cfg = {"agent_id": "a1", "kind": "momentum", "heartbeat_s": 0.2, **(config or {})}
    return subprocess.Popen(
        [*AGENT, "--config", json.dumps(cfg)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=cli_env()
    )


def read_json(proc: subprocess.Popen[bytes], kinds: set[str], timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        msg = json.loads(line)
        if msg.get("type") in kinds:
            return msg
    raise AssertionError(f"no {kinds} from the agent")


def send(proc: subprocess.Popen[bytes], data: bytes) -> None:
    assert proc.stdin is not None
    proc.stdin.write(data)
    proc.stdin.flush()


def test_agent_says_hello_beats_and_answers() -> None:
    proc = agent_proc()
    try:
        hello = read_json(proc, {"hello"})
        assert hello["capabilities"] == ["momentum_detection", "trade_execution"] and hello["pid"] == proc.pid
        assert read_json(proc, {"heartbeat"})["seq"] >= 1
        prices = [100.0 + i for i in range(12)]
        send(proc, json.dumps({"type": "task", "id": 5, "op": "signal", "data": {"prices": prices}}).encode() + b"\n")
        result = read_json(proc, {"result"})
        assert result["id"] == 5 and result["ok"] and result["value"]["action"] == "buy"
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b"garbage\n", "not JSON"),
        (b"[1, 2, 3]\n", "not a JSON object"),
        (b"\xff\xfe\n", "not UTF-8"),
        (b'{"type": "launch-missiles"}\n', "unknown message type"),
        (b"x" * (2 << 20) + b"\n", "longer than"),
    ],
    ids=["garbage", "array", "not-utf8", "unknown-type", "2MiB-line"],
)
def test_malformed_input_gets_an_error_line_not_a_crash(line: bytes, error: str) -> None:
    proc = agent_proc()
    try:
        read_json(proc, {"hello"})
        send(proc, line)
        assert error in read_json(proc, {"error"})["error"]
        send(proc, b'{"type": "ping", "id": 9}\n')
        assert read_json(proc, {"pong"})["id"] == 9  # still alive and well
    finally:
        proc.kill()
        proc.wait()


def test_agent_exits_when_stdin_closes() -> None:
    proc = agent_proc()
    read_json(proc, {"hello"})
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(timeout=5) == 0


def test_memory_leak_kills_the_agent_at_its_limit() -> None:
    proc = agent_proc({"memory_limit_mb": 120})
    try:
        read_json(proc, {"hello"})
        send(proc, b'{"type": "fault", "fault": "memory-leak", "rate_mb_s": 200, "limit_mb": 120}\n')
        peak = 0.0
        ps = psutil.Process(proc.pid)
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                peak = max(peak, ps.memory_info().rss / (1 << 20))
            except psutil.Error:
                break
            time.sleep(0.05)
        assert proc.wait(timeout=5) == 137
        assert peak >= 80  # it really allocated
    finally:
        proc.kill()


def test_cpu_spike_burns_real_cpu() -> None:
    """The spiking agent burns CPU in its own process; an idle one beside it does not. Compared
    by CPU seconds over the same wall second, so a machine busy with other work (which slows
    both) does not flake it."""
    burning, idle = agent_proc(), agent_proc()
    try:
        read_json(burning, {"hello"})
        read_json(idle, {"hello"})
        procs = [psutil.Process(burning.pid), psutil.Process(idle.pid)]
        before = [sum(p.cpu_times()[:2]) for p in procs]
        send(burning, b'{"type": "fault", "fault": "cpu-spike", "duration": 2, "factor": 3}\n')
        started = time.monotonic()
        reference = asyncio.run(reference_burn(0.9))  # what any burner gets here now, meanwhile
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
        wall = time.monotonic() - started
        used = [(sum(p.cpu_times()[:2]) - b) / wall for p, b in zip(procs, before, strict=True)]
        # A whole core when idle; on a loaded machine, as much as agent check asks (spike_bar).
        assert used[0] >= spike_bar(reference), (used, reference)
        assert used[0] >= 5 * max(used[1], 0.01), used
    finally:
        for proc in (burning, idle):
            proc.kill()
            proc.wait()


def _agents_of(run_marker: str) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["cmdline"]):
        if run_marker in (p.info.get("cmdline") or []):
            out.append(p)
    return out


def _status(proc: psutil.Process) -> str:
    try:
        return proc.status()
    except psutil.NoSuchProcess:
        return "gone"


def test_no_agent_survives_a_sigkilled_engine(tmp_path: Path) -> None:
    """The engine is SIGKILLed mid-run: its local agents exit by themselves within 2 s."""
    engine = subprocess.Popen(
        [sys.executable, "-m", "swarm_tui", "run", "--backend", "local", "--scenario", "mesh.failover", "--quiet"],
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        agents: list[psutil.Process] = []
        while time.monotonic() < deadline:
            agents = [
                p
                for p in psutil.process_iter(["cmdline", "ppid"])
                if p.info.get("ppid") == engine.pid
                and any(c.startswith(f"{MARKER}:") for c in (p.info.get("cmdline") or []))
            ]
            if len(agents) >= 4:
                break
            time.sleep(0.1)
        assert len(agents) >= 4, "the engine never started its agents"
        os.kill(engine.pid, signal.SIGKILL)
        engine.wait(timeout=5)
        killed_at = time.monotonic()
        _gone, alive = psutil.wait_procs(agents, timeout=2.0)
        # A zombie has exited; it only waits for its new parent (init here) to reap it.
        alive = [p for p in alive if _status(p) not in (psutil.STATUS_ZOMBIE, "gone")]
        assert not alive, f"{len(alive)} agent(s) outlived the engine"
        assert time.monotonic() - killed_at <= 2.5
    finally:
        if engine.poll() is None:
            engine.kill()


def test_cleanup_finds_and_kills_strays() -> None:
    # A process carrying an agent's marker whose parent is gone (double fork: adopted by init),
    # as an agent of a killed run would be if it had not exited by itself.
    code = "import time; time.sleep(120)"
    launcher = subprocess.run(
        [
            "/bin/sh",
            "-c",
            f"({sys.executable} -c '{code}' --config '{{\"agent_id\": \"stray-1\"}}' "
            f"{MARKER}:test-run >/dev/null 2>&1 </dev/null & echo $!)",
        ],
        capture_output=True,
        text=True,
        timeout=5,
    )
    pid = int(launcher.stdout.strip())
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(s.id == f"local-{pid}" for s in find_stray_agents()):
            time.sleep(0.05)
        strays = {s.id: s for s in find_stray_agents()}
        assert f"local-{pid}" in strays, strays
        assert "orphan" in strays[f"local-{pid}"].detail and strays[f"local-{pid}"].run_id == "test-run"
        listed = subprocess.run(
            [sys.executable, "-m", "swarm_tui", "cleanup", "--where", "local"],
            capture_output=True,
            text=True,
            env=cli_env(),
        )
        assert f"local-{pid}" in listed.stdout and "--yes" in listed.stdout
        assert psutil.pid_exists(pid)
        killed = subprocess.run(
            [sys.executable, "-m", "swarm_tui", "cleanup", "--where", "local", "--yes"],
            capture_output=True,
            text=True,
            env=cli_env(),
        )
        assert "killed" in killed.stdout, killed.stdout + killed.stderr
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.NoSuchProcess:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the stray survived cleanup --yes")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
