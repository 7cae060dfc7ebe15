"""``python -m swarm_tui`` and the ``swarm-tui`` command.

Signals are taken over first, before the rest of the program is even imported: a SIGTERM or
Ctrl-C that arrives while swarm-tui starts up is remembered and ends it with its exit code
(143, 130, 129), not with the signal's raw death.
"""

import signal
import sys

_EARLY: list[int] = []


def _remember(signum: int, _frame: object) -> None:
    _EARLY.append(signum)


def run() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _remember)
    from swarm_tui.cli import main, wait_for_foreign_threads

    code = main(early_signals=_EARLY)
    # The exit code is decided. A signal from now on (a second Ctrl-C while the interpreter shuts
    # down, where Python puts its handlers back to the default) must not replace it with the
    # signal's raw death (-2 instead of 130, seen once numpy and scipy made the shutdown longer).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    # The interpreter is about to shut down: first let the e2b SDK's own threads finish (see there).
    wait_for_foreign_threads()
    sys.exit(code)


if __name__ == "__main__":
    run()
