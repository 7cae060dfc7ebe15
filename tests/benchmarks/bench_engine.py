"""Engine benchmarks: prints numbers, asserts nothing (CI machines are noisy).

    python tests/benchmarks/bench_engine.py [--runs 5] [--messages 200000]

1. Wall time of `swarm-tui run --pattern all --backend mock` (a fresh process each time, so
   start-up is included): median and spread over several runs, against the 5 s target and the
   3+ minutes the public suite took.
2. Router throughput on one core: agent messages (ticks, agent to agent, through the router's
   link checks and counters, into the mock sandboxes' agent cores) per second, and full task
   round trips (request -> mock agent computes -> reply matched) per second.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

from swarm_tui.backends.mock import MockBackend
from swarm_tui.engine.agents import AgentSpec
from swarm_tui.engine.clock import Clock, VirtualTimeLoop
from swarm_tui.engine.events import EventBus
from swarm_tui.engine.swarm import Swarm
from swarm_tui.engine.topology import Topology

PUBLIC_SUITE_S = 180.0  # the replaced suite took "over 3 minutes"


def bench_run_all(runs: int) -> None:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "swarm_tui", "run", "--pattern", "all", "--quiet"], capture_output=True, text=True
        )
        times.append(time.perf_counter() - started)
        if proc.returncode != 0:
            print("run --pattern all failed:", proc.stdout, proc.stderr)
            return
    median = statistics.median(times)
    print(
        f"run --pattern all (23 scenarios, mock, fresh process): median {median:.2f} s, "
        f"min {min(times):.2f} s, max {max(times):.2f} s over {runs} runs"
    )
    print(
        f"  target < 5 s: {'met' if median < 5.0 else 'MISSED'} ({median / 5.0:.0%} of the budget); "
        f"{PUBLIC_SUITE_S / median:.0f}x faster than the public suite's {PUBLIC_SUITE_S:.0f}+ s"
    )
    print(f"  last run said: {proc.stdout.strip()}")


async def _swarm(n_agents: int) -> Swarm:
    clock = Clock()
    swarm = Swarm(MockBackend(seed=0), clock, EventBus(), Topology("mesh"), scenario="bench")
    await swarm.deploy_many([AgentSpec(kind="momentum", symbols=("SPY",)) for _ in range(n_agents)])
    return swarm


def bench_router(messages: int, agents: int = 10) -> None:
    loop = VirtualTimeLoop()

    async def main() -> tuple[float, float]:
        swarm = await _swarm(agents)
        ids = [a.id for a in swarm.agents.values()]
        router = swarm.router
        msg = {"type": "tick", "prices": {"SPY": 450.0}}
        pairs = [(ids[i % agents], ids[(i + 1 + i // agents) % agents]) for i in range(agents * agents)]
        pairs = [(a, b) for a, b in pairs if a != b]
        n_pairs = len(pairs)
        started = time.process_time()
        for i in range(messages):
            src, dst = pairs[i % n_pairs]
            router.send(src, dst, msg)
        routed = messages / (time.process_time() - started)
        # Full round trips: request, the mock agent computes a momentum signal, reply matched.
        live = swarm.live()
        window = [450.0 + (i % 7) for i in range(40)]
        n = messages // 10
        started = time.process_time()
        futures = [swarm.request(live[i % len(live)], "signal", {"prices": window}) for i in range(n)]
        await asyncio.gather(*futures)
        trips = n / (time.process_time() - started)
        await swarm.shutdown()
        return routed, trips

    routed, trips = loop.run_until_complete(main())
    loop.close()
    print(
        f"router: {routed:,.0f} agent messages/s on one core (CPU time; target >= 100,000: "
        f"{'met' if routed >= 100_000 else 'MISSED'}, {routed / 100_000:.1f}x)"
    )
    print(f"round trips: {trips:,.0f} tasks/s (request + agent computes a signal + reply matched)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--messages", type=int, default=200_000)
    args = parser.parse_args()
    bench_run_all(args.runs)
    bench_router(args.messages)


if __name__ == "__main__":
    main()
