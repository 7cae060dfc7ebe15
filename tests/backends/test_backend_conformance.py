"""One conformance suite for the backend protocol (mock here; local and e2b join it later)."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from support import while_it_lasts

from swarm_tui.agent.strategies import momentum
from swarm_tui.engine.agents import AgentSpec, AgentState
from swarm_tui.engine.clock import Clock, new_loop
from swarm_tui.engine.controllers.failover import HeartbeatDetector
from swarm_tui.engine.events import EventBus
from swarm_tui.engine.faults import Fault
from swarm_tui.engine.sandbox import Backend, BackendError, create_backend
from swarm_tui.engine.swarm import AgentError, RequestFailed, Swarm
from swarm_tui.engine.topology import Topology

BACKENDS = ["mock", "local", "e2b"]


@pytest.fixture(autouse=True)
def _backend_env(request: pytest.FixtureRequest) -> None:
    """The e2b variant runs against the loopback fake of E2B (the real SDK as the client)."""
    name = request.node.callspec.params.get("name") if hasattr(request.node, "callspec") else None
    if name == "e2b":
        request.getfixturevalue("e2b_fake")


WINDOW = [100.0 + 0.3 * i for i in range(40)]
SPIKE_S = 6.0  # how long the cpu-spike of the slowness test lasts


def run_with(backend_name: str, body: Callable[[Swarm, Backend], Awaitable[Any]]) -> Any:
    backend = create_backend(backend_name, seed=3)
    loop = new_loop(virtual=not backend.capabilities.real)

    async def main() -> Any:
        swarm = Swarm(backend, Clock(), EventBus(), Topology("mesh"), scenario="conformance", seed=3)
        try:
            return await body(swarm, backend)
        finally:
            await swarm.shutdown()
            assert backend.alive_count() == 0

    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


@pytest.mark.parametrize("name", BACKENDS)
def test_create_says_hello_and_heartbeats(name: str) -> None:
    async def body(swarm: Swarm, backend: Backend) -> None:
        agent = await swarm.deploy(AgentSpec(kind="momentum", symbols=("SPY",)))
        assert agent.state == AgentState.HEALTHY and agent.sandbox is not None
        assert backend.alive_count() == 1
        first = agent.last_heartbeat
        await swarm.clock.sleep(swarm.heartbeat_s * 2.5)
        assert agent.last_heartbeat > first
        owned = await backend.list_owned()
        assert [o.agent_id for o in owned] == [agent.id]

    run_with(name, body)


@pytest.mark.parametrize("name", BACKENDS)
def test_tasks_are_computed_by_the_agent(name: str) -> None:
    async def body(swarm: Swarm, backend: Backend) -> None:
        agent = await swarm.deploy(AgentSpec(kind="momentum", symbols=("SPY",)))
        value = await swarm.request(agent, "signal", {"prices": WINDOW}, cap="momentum_detection")
        assert value["action"] == momentum(WINDOW)["action"] == "buy"
        assert value["change"] == pytest.approx(momentum(WINDOW)["change"])
        with pytest.raises(AgentError, match="capability forecast not supported"):
            await swarm.request(agent, "vote", {"prices": WINDOW}, cap="forecast")
        with pytest.raises(AgentError, match="unknown op"):
            await swarm.request(agent, "teleport", {})
        with pytest.raises(AgentError, match="bad task"):
            await swarm.request(agent, "fill", {"side": "buy"})
        assert agent.live  # bad tasks get error answers, not a dead agent

    run_with(name, body)


@pytest.mark.parametrize("name", BACKENDS)
def test_error_rate_fault_and_its_end(name: str) -> None:
    async def body(swarm: Swarm, backend: Backend) -> None:
        agent = await swarm.deploy(AgentSpec(kind="momentum", symbols=("SPY",)))
        await swarm.inject(agent, Fault("error-rate", duration=2.0, params={"rate": 1.0}))
        with pytest.raises(AgentError, match="injected error"):
            await swarm.request(agent, "signal", {"prices": WINDOW})
        await swarm.clock.sleep(2.5)
        assert (await swarm.request(agent, "signal", {"prices": WINDOW}))["action"] == "buy"

    run_with(name, body)


@pytest.mark.parametrize("name", BACKENDS)
def test_crash_is_detected_by_heartbeats(name: str) -> None:
    async def body(swarm: Swarm, backend: Backend) -> None:
        agent = await swarm.deploy(AgentSpec(kind="momentum", symbols=("SPY",)))
        detector = HeartbeatDetector(swarm)
        swarm.spawn(detector.run())
        pending = swarm.request(agent, "signal", {"prices": WINDOW}, cost=5.0, timeout=30.0)
        await swarm.clock.sleep(0.01)
        crashed_at = swarm.clock.now()
        await swarm.inject(agent, Fault("crash"))
        with pytest.raises(RequestFailed) as info:
            await pending  # in-flight work fails with the agent, it does not hang
        assert info.value.reason == "agent-failed"
        assert agent.state == AgentState.FAILED
        assert agent.failed_at - crashed_at <= 3 * swarm.heartbeat_s

    run_with(name, body)


@pytest.mark.parametrize("name", BACKENDS)
def test_memory_leak_ends_in_a_kill_at_the_limit(name: str) -> None:
    async def body(swarm: Swarm, backend: Backend) -> None:
        agent = await swarm.deploy(AgentSpec(kind="momentum", symbols=("SPY",)))
        before = (await backend.metrics(agent.sandbox)).mem_mb
        await swarm.inject(agent, Fault("memory-leak", params={"rate_mb_s": 100.0, "limit_mb": 300.0}))
        await swarm.clock.sleep(1.0)
        growing = (await backend.metrics(agent.sandbox)).mem_mb
        assert growing > before
        for _ in range(100):
            if agent.state == AgentState.FAILED:
                break
            await swarm.clock.sleep(0.1)
        assert agent.state == AgentState.FAILED

    run_with(name, body)


@pytest.mark.parametrize("name", BACKENDS)
def test_cpu_spike_and_slow_make_answers_slower(name: str) -> None:
    async def body(swarm: Swarm, backend: Backend) -> None:
        agent = await swarm.deploy(AgentSpec(kind="momentum", symbols=("SPY",)))

        async def latency(cpu: bool = True) -> float:
            t0 = swarm.clock.now()
            await swarm.request(agent, "work", {"prices": WINDOW}, cost=0.05, cpu=cpu)
            return swarm.clock.now() - t0

        base = statistics.median([await latency() for _ in range(7)])
        # The slow fault is judged on answers that wait rather than compute: how much computation
        # fits in a second depends on what else the CI machine runs, a wait does not.
        base_wait = statistics.median([await latency(cpu=False) for _ in range(7)])
        await swarm.clock.sleep(1.0)
        idle = (await backend.metrics(agent.sandbox)).cpu_pct
        spike_at = swarm.clock.now()
        await swarm.inject(agent, Fault("cpu-spike", duration=SPIKE_S, params={"factor": 6.0}))
        await swarm.clock.sleep(1.0)
        # One core burning: 100 % of a process, 50 % of a 2-vCPU sandbox (E2B counts all its CPUs);
        # on a busy machine the burner gets a share of a core (18 % of the sandbox under two busy
        # loops, against 8 % at rest then), so the bar is relative: twice the rest, 5 points more.
        burning = (await backend.metrics(agent.sandbox)).cpu_pct
        assert burning > max(2.0 * idle, idle + 5.0), (idle, burning)
        # Only answers given while the spike lasts: on a loaded machine one spiked answer can take
        # a second, and seven of them outlasted a shorter spike (a CI run's median then came from
        # answers after it). Answers start at most 1.5 s before the spike ends.
        spiked_s = await while_it_lasts(swarm.clock.now, spike_at + SPIKE_S, latency, 7, lead=1.5)
        assert len(spiked_s) >= 3, f"only {len(spiked_s)} answers within the {SPIKE_S} s spike"
        spiked = statistics.median(spiked_s)
        # Medians, and 1.5x: on a CI machine busy with other tests the baseline is slow too.
        assert spiked > 1.5 * base, (base, spiked_s)
        await swarm.clock.sleep_until(spike_at + SPIKE_S + 0.2)  # the spike is over
        await swarm.inject(agent, Fault("slow", duration=5.0, params={"factor": 4.0}))
        slowed = statistics.median([await latency(cpu=False) for _ in range(7)])
        # 4x the wait, but the answer's fixed overhead is not multiplied: 1.5x, well above what no
        # fault gives (about 1x). (On computing answers, CI runs on e2b saw 1.17x-1.75x.)
        assert slowed > 1.5 * base_wait, (base_wait, slowed)

    run_with(name, body)


@pytest.mark.parametrize("name", BACKENDS)
def test_byzantine_and_bad_version(name: str) -> None:
    async def body(swarm: Swarm, backend: Backend) -> None:
        agents = await swarm.deploy_many([AgentSpec(kind="forecaster", symbols=("SPY",)) for _ in range(2)])
        await swarm.inject(agents[0], Fault("byzantine"))
        votes = [(await swarm.request(agents[0], "vote", {"prices": WINDOW}))["vote"] for _ in range(30)]
        assert len(set(votes)) > 1  # random, where an honest forecaster always says buy
        honest = {(await swarm.request(agents[1], "vote", {"prices": WINDOW}))["vote"] for _ in range(10)}
        assert honest == {"buy"}
        await swarm.inject(agents[1], Fault("bad-version"))
        outcomes = []
        for _ in range(60):
            try:
                await swarm.request(agents[1], "vote", {"prices": WINDOW})
                outcomes.append(True)
            except AgentError:
                outcomes.append(False)
        assert 5 <= outcomes.count(False) <= 35  # about 30 % errors

    run_with(name, body)


@pytest.mark.parametrize("name", BACKENDS)
def test_kill_and_close_leave_nothing(name: str) -> None:
    async def body(swarm: Swarm, backend: Backend) -> None:
        agents = await swarm.deploy_many([AgentSpec(kind="momentum", symbols=("SPY",)) for _ in range(3)])
        assert backend.alive_count() == 3
        await swarm.remove(agents[0])
        assert agents[0].state == AgentState.STOPPED and backend.alive_count() == 2
        assert agents[0].id not in swarm.topology
        await backend.close()
        assert backend.alive_count() == 0 and await backend.list_owned() == []

    run_with(name, body)


def test_mock_is_deterministic_for_a_seed() -> None:
    async def body(swarm: Swarm, backend: Backend) -> list[float]:
        agent = await swarm.deploy(AgentSpec(kind="momentum", symbols=("SPY",)))
        out = []
        for _ in range(5):
            t0 = swarm.clock.now()
            await swarm.request(agent, "work", {"prices": WINDOW}, cost=0.01)
            out.append(swarm.clock.now() - t0)
        return out

    assert run_with("mock", body) == run_with("mock", body)


def test_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(BackendError, match="unknown backend 'cloud9'"):
        create_backend("cloud9")


def test_asyncio_helpers_are_not_leaking() -> None:
    # A smoke check that the suite above does not leave loops behind.
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
