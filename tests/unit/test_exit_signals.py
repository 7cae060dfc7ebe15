"""Once swarm-tui has its exit code, signals cannot change it: Python puts signal handlers back to
the default while the interpreter shuts down, and a second Ctrl-C landing there killed the process
with SIGINT (-2) instead of exit 130."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import signal, sys
import swarm_tui.cli as cli
import swarm_tui.__main__ as entry
cli.main = lambda **kwargs: 130  # the command ran and was interrupted
cli.wait_for_foreign_threads = lambda: None
def leave(code):
    ignored = [signal.getsignal(s) is signal.SIG_IGN for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)]
    print(ignored, code)
    raise SystemExit(0)
sys.exit = leave
entry.run()
"""


def test_signals_are_ignored_once_the_exit_code_is_decided() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[True,", "True,", "True]", "130"]
