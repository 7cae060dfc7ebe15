"""``swarm-tui compare`` benchmarks: prints numbers, asserts nothing (CI machines are noisy).

    python tests/benchmarks/bench_compare.py [--runs 1] [--skip-default] [--skip-seeds] [--skip-agents]

1. The default comparison on mock (4 topologies x 30 seeds, plus the rollout comparison: 300
   runs) in a fresh process, with --jobs 1 and with --jobs 2: wall time (median over --runs)
   against the 60 s target on 2 cores, and the speed-up of the second worker.
2. Cost against seeds: the same comparison over 4, 8 and 16 seeds on one worker; wall time per
   seed (flat when the cost is linear in seeds).
3. Cost against agents: one unit per topology of the desk workload scaled to 5, 50 and 500
   agents (same load), on one core: wall time per unit and per agent.
The load average of the machine is printed: other work on it slows every wall figure; the CPU
time of the compare's processes does not depend on it, and CPU / workers is what idle cores take.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from swarm_tui.compare.experiment import Job, Unit, run_unit
from swarm_tui.patterns.workloads import named_workload, scaled

TARGET_S = 60.0


def machine() -> str:
    load = os.getloadavg()
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


CPU: list[float] = []  # CPU seconds (user + system) of each compare's process tree


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def compare_wall(seeds: str, jobs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cpu0 = _children_cpu()
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "swarm_tui", "compare", "--seeds", seeds, "--jobs", str(jobs), "-q"],
            capture_output=True,
            text=True,
            cwd=tmp,
        )
        wall = time.perf_counter() - started
        CPU.append(_children_cpu() - cpu0)
    if proc.returncode != 0:
        raise SystemExit(f"compare failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    return wall


def bench_default(runs: int) -> None:
    print("1. default compare on mock (300 runs: 4 topologies x 30 seeds + 3 rollouts x 2 versions x 30 seeds)")
    walls = {}
    for jobs in (1, 2):
        CPU.clear()
        times = [compare_wall("0..29", jobs) for _ in range(runs)]
        walls[jobs] = statistics.median(times)
        spread = f" (min {min(times):.1f}, max {max(times):.1f})" if len(times) > 1 else ""
        cpu = statistics.median(CPU)
        print(
            f"   --jobs {jobs}: median {walls[jobs]:.1f} s wall over {runs} run(s){spread}; "
            f"CPU {cpu:.1f} s (user + system, every process), so about {cpu / jobs:.0f} s on {jobs} idle core(s)"
        )
    print(f"   target: < {TARGET_S:.0f} s with --jobs 2 -> {'met' if walls[2] < TARGET_S else 'NOT met'}")
    print(f"   speed-up of the second worker: {walls[1] / walls[2]:.2f}x")


def bench_seeds() -> None:
    print("2. cost against seeds (--jobs 1, fresh process, start-up included)")
    for n in (4, 8, 16):
        wall = compare_wall(f"0..{n - 1}", 1)
        print(f"   {n:3d} seeds: {wall:6.1f} s, {wall / n:.2f} s per seed")


def bench_agents() -> None:
    print("3. cost against agents (one unit per topology, seed 0, same load, one core)")
    desk = named_workload("desk")
    for size in (5, 50, 500):
        workload = scaled(desk, size).model_dump(mode="json", exclude_none=True)
        cells = []
        total = 0.0
        for topology in ("mesh", "hierarchical", "ring", "star"):
            started = time.perf_counter()
            run_unit(Job(Unit("topology", topology, 0), workload))
            wall = time.perf_counter() - started
            total += wall
            cells.append(f"{topology} {wall:5.2f} s")
        print(f"   {size:4d} agents: {', '.join(cells)}; {1000 * total / (4 * size):.1f} ms per agent and unit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--skip-default", action="store_true")
    parser.add_argument("--skip-seeds", action="store_true")
    parser.add_argument("--skip-agents", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    if not args.skip_default:
        bench_default(args.runs)
    if not args.skip_seeds:
        bench_seeds()
    if not args.skip_agents:
        bench_agents()
    print(f"machine after: {machine()}")


if __name__ == "__main__":
    main()
