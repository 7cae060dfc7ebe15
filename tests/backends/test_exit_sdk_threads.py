"""The command line never dies at exit (SIGABRT, exit -6) because of the e2b SDK's own threads.

The SDK's HTTP client (pyqwest) completes each await from a Rust thread through the loop's
``call_soon_threadsafe``, which lets go of the GIL to wake the loop. On a loaded machine that
thread may not get the GIL back before the CLI, resumed by that very wake-up, has printed its
answer and started interpreter shutdown; the thread is then ended with ``pthread_exit`` and the
process aborts. Here that thread is kept in Python for half a second right after the wake-up,
sleeping in 1 ms steps (each lets go of the GIL and takes it back), as a thread left waiting by a
busy machine would be, so every run goes through the window.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import cli_env

HELD_MS = 500  # how long a thread Python did not start stays in Python after waking a loop

SLOW_WAKER = f"""
import runpy, sys, threading, time
import asyncio.selector_events as selector_events

wake = selector_events.BaseSelectorEventLoop._write_to_self

def held_wake(self):
    wake(self)
    if threading.get_ident() not in {{t.ident for t in threading.enumerate()}}:
        for _ in range({HELD_MS}):
            time.sleep(0.001)  # each return takes the GIL back: fatal once shutdown has begun

selector_events.BaseSelectorEventLoop._write_to_self = held_wake
sys.argv[0] = "swarm-tui"
runpy.run_module("swarm_tui", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("command", ["rejected-key", "cleanup"])
def test_no_abort_at_exit_while_an_sdk_thread_finishes_waking_the_loop(e2b_fake, tmp_path: Path, command: str) -> None:
    script = tmp_path / "slow_waker.py"
    script.write_text(SLOW_WAKER)
    if command == "rejected-key":
        e2b_fake.reject_key()
        args, code, stderr_lines = ["run", "--backend", "e2b"], 2, 1
    else:
        args, code, stderr_lines = ["cleanup", "--where", "e2b"], 0, 0
    env = {**cli_env(), **dict(os.environ), "PYTHONFAULTHANDLER": "1"}
    for _ in range(2):
        proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode == code, proc.stderr
        assert len(proc.stderr.splitlines()) == stderr_lines, proc.stderr
        if command == "rejected-key":
            assert "rejected the API key" in proc.stderr
        else:
            assert "nothing left behind" in proc.stdout
