"""Replay: opening a 20k-event journal and seeking in it (medians of several seeks).

.venv/bin/python tests/benchmarks/bench_replay.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "engine")]

from test_replay import synthetic_journal  # noqa: E402

from swarm_tui.results.journal import read_journal  # noqa: E402
from swarm_tui.session.replay import ReplayRun  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.jsonl"
        synthetic_journal(path)
        journal = read_journal(path)
        opens, seeks = [], []
        for _ in range(5):
            t0 = time.perf_counter()
            replay = ReplayRun(journal)
            opens.append(time.perf_counter() - t0)
            for target in (150.0, 20.0, 199.0, 1.0, 120.0, 60.0, 180.0, 5.0, 100.0, 0.0):
                t0 = time.perf_counter()
                replay.seek(target)
                seeks.append(time.perf_counter() - t0)
        print(f"journal of {len(journal.events)} events")
        print(f"open: median {statistics.median(opens) * 1000:.0f} ms over {len(opens)}")
        print(
            f"seek: median {statistics.median(seeks) * 1000:.1f} ms, "
            f"p90 {sorted(seeks)[int(len(seeks) * 0.9)] * 1000:.1f} ms over {len(seeks)}"
        )


if __name__ == "__main__":
    main()
