"""Soak benchmark: prints numbers, asserts nothing (CI machines are noisy).

    python tests/benchmarks/bench_soak.py [--seed 0] [--trace] [--cases engine,journal,...]

Each case runs ``lab.soak`` (100 agents, one hour of simulated time, mock backend) in a fresh
process, so the resident set is the soak's alone, and prints its wall time, the mean RSS of the
first and last 10 minutes of load, the growth the memory check judges (< 5 %), the tasks
launched and the check's verdict:

* ``engine``: the scenario as the tests run it (``swarm-tui run --scenario lab.soak --no-journal``);
* ``journal``: with the event journal that ``swarm-tui run`` writes by default;
* ``leak-1mb``, ``leak-2mb``: the engine plus a deliberate leak of about 1 or 2 MB per hour of
  task events (a subscriber keeps 1 KB every N tasks): how small a leak the check catches;
* ``unbounded``: the ``bounded_history`` mechanism off (every task and its record kept);
* ``traced`` (with ``--trace``): the engine with tracemalloc on; prints how much more Python heap
  the engine holds in the last 10 minutes than in the first (about 3.5x slower; tracing inflates
  RSS, so that row's memory verdict means nothing).

Every case runs through ``swarm-tui run`` itself (``cli.main`` in the child process), so the
resident set the check divides by (about 43 MB) is the one of real use: a leaner process would
make the same growth a larger percentage. The leak is added by wrapping the runner's ``run_one``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CASES = ("engine", "journal", "leak-1mb", "leak-2mb", "unbounded")
LEAK_BLOCK = 1024  # bytes kept per leak step (sys.getsizeof of the kept object)


def child(case: str, seed: int) -> dict:
    """Run one case in this process, through ``swarm-tui run`` itself; returns the figures."""
    from swarm_tui import cli
    from swarm_tui.engine import runner
    from swarm_tui.engine.events import TaskFinished
    from swarm_tui.patterns.lab import Soak

    out = Path(tempfile.mkdtemp())
    args = ["run", "--scenario", "lab.soak", "--seed", str(seed), "--quiet", "--export", str(out / "soak.json")]
    args += ["--journal", str(out / "soak.jsonl")] if case == "journal" else ["--no-journal"]
    if case == "unbounded":
        args += ["--off", "bounded_history"]
    if case == "traced":
        import tracemalloc

        tracemalloc.start()
    if case.startswith("leak-"):
        mb_per_hour = float(case.removeprefix("leak-").removesuffix("mb"))
        prm = Soak.defaults
        tasks_per_hour = 3600.0 * float(prm["rate_per_agent"]) * int(prm["size"])
        every = max(1, round(LEAK_BLOCK * tasks_per_hour / (mb_per_hour * 2**20)))
        filler = LEAK_BLOCK - sys.getsizeof(b"")
        kept: list[bytes] = []

        def leak(event: object) -> None:
            if isinstance(event, TaskFinished) and event.task % every == 0:
                kept.append(bytes(filler))

        run_one = runner.run_one

        def leaking_run_one(*a: object, subscribers: list = (), **kw: object) -> object:  # type: ignore[assignment]
            return run_one(*a, subscribers=[*subscribers, leak], **kw)

        runner.run_one = leaking_run_one  # type: ignore[assignment]
    with contextlib.redirect_stdout(sys.stderr):
        cli.main(args)  # exit code 1 when a check fails: the export is written all the same
    result = json.loads((out / "soak.json").read_text())["scenarios"][0]
    memory = next(c for c in result["checks"] if "wall-process" in c["name"])
    failed = [c["name"] for c in result["checks"] if not c["passed"] and c is not memory]
    return {
        "case": case,
        "wall_s": result["duration_s"],
        "status": result["status"],
        "memory_ok": memory["passed"],
        "other_failures": failed,
        "tasks": result["metrics"].get("tasks_launched"),
        **result["metrics"].get("wall_process", {}),
    }


def run_case(case: str, seed: int) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", case, "--seed", str(seed)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        return {"case": case, "error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trace", action="store_true", help="add the tracemalloc case")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}, traced")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.seed)))
        return
    cases = [c for c in args.cases.split(",") if c]
    if args.trace and "traced" not in cases:
        cases.append("traced")
    print(f"lab.soak: 100 agents, 1 h simulated, mock, seed {args.seed}; each case in a fresh process")
    print(
        f"{'case':<10} {'wall s':>7} {'RSS first 10 min':>17} {'RSS last 10 min':>16} {'growth':>8} "
        f"{'tasks':>7}  memory check (< 5 %)"
    )
    for case in cases:
        r = run_case(case, args.seed)
        if "error" in r:
            print(f"{case:<10} failed to run: {r['error']}")
            continue
        verdict = "passed" if r["memory_ok"] else "FAILED"
        if r["other_failures"]:
            verdict += f"; other checks failed: {', '.join(r['other_failures'])}"
        print(
            f"{case:<10} {r['wall_s']:>7.1f} {r.get('rss_first_10min_mb', 0):>14.2f} MB "
            f"{r.get('rss_last_10min_mb', 0):>13.2f} MB {r.get('rss_growth_pct', 0):>7.2f}% "
            f"{r['tasks']:>7}  {verdict}"
        )
        if "traced_growth_mb" in r:
            print(
                f"{'':<10} traced Python heap: {r['traced_first_10min_mb']:.3f} MB -> "
                f"{r['traced_last_10min_mb']:.3f} MB: the engine holds {r['traced_growth_mb']:+.3f} MB more "
                "at the end than in the first 10 minutes"
            )


if __name__ == "__main__":
    main()
