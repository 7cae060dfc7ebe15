"""How often the rollout gates roll back, over seeds: the figures the README quotes.

    .venv/bin/python tests/benchmarks/bench_gates.py [--seeds 100]

For each case (a version with a known true defect, see tests/gates.py) it runs the real
scenario on mock for seeds 0..N-1 and prints the share of seeds on which the new version was
rolled back or aborted, its Wilson 95 % interval, the target, and how many new-version requests
the decision took (median, max). tests/slow/test_gate_rates.py holds the same targets.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gates import CASES, measure


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    args = parser.parse_args()
    print(f"# {platform.machine()} {platform.python_version()}, seeds 0..{args.seeds - 1}")
    missed = 0
    for case in CASES:
        t0 = time.perf_counter()
        outcome = measure(case, range(args.seeds))
        missed += not outcome.meets_target
        print(f"{outcome.line()}  [{time.perf_counter() - t0:.0f} s]", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
