"""Users' agents: prints numbers, asserts nothing.

    .venv/bin/python tests/benchmarks/bench_agents.py [--runs 5] [--requests 300]

1. `swarm-tui agent check -- python -m swarm_tui.agent` (the built-in agent), wall time of the
   whole command: median of ``--runs`` with the scenarios' requirements cached (the usual case),
   and one run with an empty state directory (they are measured in a process of their own while
   the suite runs). Target: under 5 s.
2. Local backend, round-trip latency of the Python example (examples/agents/python, on the
   helper module) against the built-in agent: one agent of each, ``--requests`` signal tasks to
   each, sent one at a time and alternating between the two so both see the same machine; medians
   and p95s, and the ratio of the medians. Target: within 1.2x.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from swarm_tui.backends.local import LocalBackend
from swarm_tui.engine.agents import AgentSpec
from swarm_tui.engine.clock import Clock
from swarm_tui.engine.events import EventBus
from swarm_tui.engine.market import MarketSimulator
from swarm_tui.engine.metrics import percentile
from swarm_tui.engine.sandbox import AgentProgram
from swarm_tui.engine.swarm import Swarm
from swarm_tui.engine.topology import Topology

ROOT = Path(__file__).resolve().parent.parent.parent


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{platform.machine()}, {os.cpu_count()} CPUs, load {load:.1f}, Python {platform.python_version()}"


def check_once(state_dir: str) -> tuple[float, int]:
    env = {**os.environ, "SWARM_TUI_STATE_DIR": state_dir, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "swarm_tui", "agent", "check", "--", sys.executable, "-m", "swarm_tui.agent"],
        capture_output=True,
        env=env,
        cwd=ROOT,
    )
    return time.perf_counter() - t0, out.returncode


def bench_check(runs: int) -> None:
    with tempfile.TemporaryDirectory() as cold, tempfile.TemporaryDirectory() as warm:
        first, code = check_once(cold)
        check_once(warm)  # fills the cache
        times = []
        for _ in range(runs):
            took, code2 = check_once(warm)
            times.append(took)
            code = code or code2
    print(
        f"agent check on the built-in agent: {statistics.median(times):.2f} s median of {runs} "
        f"(worst {max(times):.2f} s) with the requirements cached, {first:.2f} s with an empty state "
        f"directory; exit code {code}; target < 5 s"
    )


async def _latencies(requests: int) -> dict[str, list[float]]:
    market = MarketSimulator(seed=0)
    market.warm_up(40)
    data = {"strategy": "momentum", "symbol": "SPY", "prices": market.window("SPY", 40)}
    example = AgentProgram(command=(sys.executable, str(ROOT / "examples" / "agents" / "python" / "agent.py")))
    backends = {"built-in": LocalBackend(), "python example": LocalBackend(agent_program=example)}
    swarms = {name: Swarm(b, Clock(), EventBus(), Topology("mesh"), run_id="bench") for name, b in backends.items()}
    agents = {name: await s.deploy(AgentSpec(kind="momentum", symbols=("SPY",))) for name, s in swarms.items()}
    out: dict[str, list[float]] = {name: [] for name in swarms}
    try:
        for name, swarm in swarms.items():  # warm up: first answers pay for imports and caches
            for _ in range(20):
                await swarm.request(agents[name], "signal", data)
        for _ in range(requests):
            for name, swarm in swarms.items():
                t0 = time.perf_counter()
                await swarm.request(agents[name], "signal", data)
                out[name].append((time.perf_counter() - t0) * 1000.0)
    finally:
        for swarm in swarms.values():
            await swarm.shutdown()
    return out


def bench_latency(runs: int, requests: int) -> None:
    ratios = []
    last: dict[str, list[float]] = {}
    for _ in range(runs):
        last = asyncio.run(_latencies(requests))
        ratios.append(statistics.median(last["python example"]) / statistics.median(last["built-in"]))
    parts = [f"{name} median {statistics.median(v):.3f} ms, p95 {percentile(v, 95):.3f} ms" for name, v in last.items()]
    print(
        f"local round trip of a signal task ({requests} each, alternating; last run): {'; '.join(parts)}; "
        f"ratio of medians python example / built-in: {statistics.median(ratios):.3f} median of {runs} runs "
        f"(range {min(ratios):.3f}..{max(ratios):.3f}); target <= 1.2"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    bench_check(args.runs)
    bench_latency(args.runs, args.requests)


if __name__ == "__main__":
    main()
