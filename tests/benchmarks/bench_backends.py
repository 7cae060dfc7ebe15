"""Real-backend benchmarks: prints numbers, asserts nothing.

    .venv/bin/python tests/benchmarks/bench_backends.py [--runs 5]

1. Local: 10 agent processes started and ready (hello received), median wall time; RSS of an
   idle agent.
2. E2B against the loopback fake (tests/fake_e2b, the real SDK as the client): creating,
   starting and killing 20 sandboxes through swarm-tui's backend versus the same bare SDK calls
   (create, upload the agent, start it, kill), median over runs, and the overhead ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from swarm_tui.backends.e2b import AGENT_FILES, AGENT_PACKAGE, REMOTE_DIR, E2BBackend
from swarm_tui.backends.local import LocalBackend
from swarm_tui.engine.agents import AgentSpec
from swarm_tui.engine.clock import Clock
from swarm_tui.engine.events import EventBus
from swarm_tui.engine.swarm import Swarm
from swarm_tui.engine.topology import Topology


async def _local_once() -> tuple[float, float]:
    backend = LocalBackend()
    swarm = Swarm(backend, Clock(), EventBus(), Topology("mesh"), scenario="bench")
    t0 = time.perf_counter()
    agents = await swarm.deploy_many([AgentSpec(kind="momentum", symbols=("SPY",)) for _ in range(10)])
    ready = time.perf_counter() - t0
    assert all(a.live for a in agents)
    await asyncio.sleep(2.0)
    rss = statistics.median(psutil.Process(a.sandbox.pid).memory_info().rss / (1 << 20) for a in agents)
    await swarm.shutdown()
    return ready, rss


def bench_local(runs: int) -> None:
    results = [asyncio.run(_local_once()) for _ in range(runs)]
    ready = statistics.median(r[0] for r in results)
    rss = statistics.median(r[1] for r in results)
    print(
        f"local: 10 agents started and ready in {ready:.3f} s median (worst {max(r[0] for r in results):.3f} s, "
        f"target < 1 s); idle agent RSS {rss:.1f} MB (target < 25 MB)"
    )


async def _bare_sdk(n: int) -> float:
    from e2b import AsyncSandbox

    from swarm_tui.backends.e2b import resources

    sources = {name: resources.files("swarm_tui.agent").joinpath(name).read_text() for name in AGENT_FILES}

    async def one(i: int) -> None:
        sbx = await AsyncSandbox.create(template="base", timeout=30, metadata={"app": "bench"})
        for name, text in sources.items():
            await sbx.files.write(f"{REMOTE_DIR}/{AGENT_PACKAGE}/{name}", text)
        await sbx.files.write(f"{REMOTE_DIR}/agent.json", f'{{"agent_id": "b{i}", "kind": "momentum"}}')
        hello = asyncio.get_running_loop().create_future()

        def on_stdout(chunk: str) -> None:
            if not hello.done():
                hello.set_result(chunk)

        await sbx.commands.run(
            f"python3 -u -m {AGENT_PACKAGE} --config-file agent.json",
            background=True,
            timeout=0,
            stdin=True,
            on_stdout=on_stdout,
            cwd=REMOTE_DIR,
        )
        await hello  # started = the agent program answers, as swarm-tui waits for its hello
        await sbx.kill()

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - t0


async def _ours(n: int) -> float:
    backend = E2BBackend(rate_per_s=10_000, max_sandboxes=n)
    swarm = Swarm(backend, Clock(), EventBus(), Topology("mesh"), scenario="bench", run_id="bench")
    t0 = time.perf_counter()
    agents = await swarm.deploy_many([AgentSpec(kind="momentum", symbols=("SPY",)) for _ in range(n)])
    assert all(a.live for a in agents)
    await swarm.shutdown()
    return time.perf_counter() - t0


def bench_e2b(runs: int, n: int = 20) -> None:
    from fake_e2b import FakeE2B

    with FakeE2B() as fake:
        os.environ.update(fake.env())
        bare, ours = [], []
        for _ in range(runs):
            bare.append(asyncio.run(_bare_sdk(n)))
            ours.append(asyncio.run(_ours(n)))
        b, o = statistics.median(bare), statistics.median(ours)
        print(
            f"e2b (loopback fake): {n} sandboxes created, started and killed: bare SDK {b:.2f} s, "
            f"swarm-tui {o:.2f} s (both wait for each agent's hello) -> overhead {o / b - 1:+.1%} "
            f"(target < 20 %), medians of {runs}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    bench_local(args.runs)
    bench_e2b(args.runs)


if __name__ == "__main__":
    main()
