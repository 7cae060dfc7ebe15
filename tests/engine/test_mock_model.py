"""The mock backend is faithful to its model: seeded idle drift, a leak the limit kills."""

from __future__ import annotations

from typing import Any

from swarm_tui.engine.agents import AgentSpec, AgentState
from swarm_tui.engine.clock import Clock, new_loop
from swarm_tui.engine.events import EventBus
from swarm_tui.engine.faults import Fault
from swarm_tui.engine.sandbox import create_backend
from swarm_tui.engine.swarm import Swarm
from swarm_tui.engine.topology import Topology


def run(seed: int, body: Any, **swarm_options: Any) -> Any:
    backend = create_backend("mock", seed=seed)
    loop = new_loop(virtual=True)

    async def main() -> Any:
        swarm = Swarm(backend, Clock(), EventBus(), Topology("mesh"), scenario="model", seed=seed, **swarm_options)
        try:
            return await body(swarm, backend)
        finally:
            await swarm.shutdown()

    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


async def idle_readings(swarm: Swarm, backend: Any) -> list[list[tuple[float, float]]]:
    agents = [await swarm.deploy(AgentSpec(kind="momentum", symbols=("SPY",))) for _ in range(3)]
    out = []
    for _ in range(20):
        await swarm.clock.sleep(1.0)
        row = []
        for agent in agents:
            m = await backend.metrics(agent.sandbox)
            row.append((m.cpu_pct, m.mem_mb))
        out.append(row)
    return out


def test_idle_agents_drift_as_the_seeded_model_says() -> None:
    first = run(5, idle_readings)
    assert first == run(5, idle_readings)  # the same seed: the same readings
    assert first != run(6, idle_readings)  # another seed: other readings
    per_agent = list(zip(*first, strict=True))
    # Agents differ from each other, and each one varies over time (no frozen figures) ...
    assert len({series[0] for series in per_agent}) == 3
    for series in per_agent:
        assert len({mem for _, mem in series}) > 5 and len({cpu for cpu, _ in series}) > 5
        # ... within a plausible idle band.
        assert all(0.0 < cpu < 25.0 and 20.0 < mem < 80.0 for cpu, mem in series)


async def leak_until_killed(swarm: Swarm, backend: Any, fault_limit: float | None = None) -> tuple[float, float, str]:
    agent = await swarm.deploy(AgentSpec(kind="momentum", symbols=("SPY",)))
    t0 = swarm.clock.now()
    params: dict[str, Any] = {"rate_mb_s": 40.0}
    if fault_limit is not None:
        params["limit_mb"] = fault_limit
    await swarm.inject(agent, Fault("memory-leak", params=params))
    peak = 0.0
    while agent.state != AgentState.FAILED and swarm.clock.now() - t0 < 120.0:
        await swarm.clock.sleep(0.1)
        if agent.state != AgentState.FAILED:
            peak = max(peak, (await backend.metrics(agent.sandbox)).mem_mb)
    assert agent.state == AgentState.FAILED
    return swarm.clock.now() - t0, peak, agent.reason


def test_memory_limit_sets_where_the_leak_is_killed() -> None:
    for limit in (128.0, 512.0, 1024.0):
        took, peak, reason = run(1, leak_until_killed, memory_limit_mb=limit)
        assert 0.8 * limit < peak <= limit + 40.0, (limit, peak)
        assert f"limit {limit:g} MB" in reason
        # 40 MB/s on average from an idle ~42 MB: the time it takes follows the limit.
        expected = (limit - 42.0) / 40.0
        assert 0.6 * expected < took < 1.5 * expected + 3.0, (limit, took)
    # A fault may name a lower limit of its own (the agent program honours it too).
    took, peak, reason = run(1, lambda s, b: leak_until_killed(s, b, fault_limit=200.0))
    assert peak <= 240.0 and "limit 200 MB" in reason


def test_leak_steps_are_uneven_and_seeded() -> None:
    """The peak before the kill is not one formula: it varies with the seed."""
    peaks = {round(run(seed, leak_until_killed)[1], 1) for seed in range(6)}
    assert len(peaks) >= 4


def test_a_limit_below_the_resident_size_kills_at_start() -> None:
    async def body(swarm: Swarm, backend: Any) -> str:
        agent = await swarm.deploy(AgentSpec(kind="momentum", symbols=("SPY",)))
        await swarm.clock.sleep(swarm.heartbeat_s * 4)
        assert agent.state == AgentState.FAILED
        return agent.reason

    assert "oom-killed" in run(2, body, memory_limit_mb=20.0)
    # A limit above it: nothing is killed (a dead sandbox reads 0 % CPU).
    readings = run(2, idle_readings, memory_limit_mb=100.0)
    assert all(cpu > 0.0 for row in readings for cpu, _ in row)
