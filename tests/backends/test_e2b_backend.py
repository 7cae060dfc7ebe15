"""The E2B backend against the loopback fake (the real `e2b` SDK as the client): faults of the
service, faults of sandboxes, credentials and secrets, and nothing left behind."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import cli_env

from swarm_tui.backends.e2b import E2BBackend, TokenBucket
from swarm_tui.engine.agents import AgentSpec, AgentState
from swarm_tui.engine.clock import Clock
from swarm_tui.engine.controllers.failover import HeartbeatDetector, Replacer
from swarm_tui.engine.events import Event, EventBus
from swarm_tui.engine.sandbox import BackendError
from swarm_tui.engine.swarm import Swarm
from swarm_tui.engine.topology import Topology

WINDOW = [100.0 + 0.3 * i for i in range(40)]


def run(body, **backend_options: Any) -> Any:
    async def main() -> Any:
        backend = E2BBackend(**backend_options)
        bus = EventBus()
        seen: list[Event] = []
        bus.subscribe(seen.append)
        swarm = Swarm(backend, Clock(), bus, Topology("mesh"), scenario="e2b", run_id="run-e2b", pattern="mesh")
        try:
            return await body(swarm, backend, seen)
        finally:
            await swarm.shutdown()
            assert backend.alive_count() == 0

    return asyncio.run(main())


def test_sandboxes_are_tagged_and_the_agent_answers(e2b_fake) -> None:
    async def body(swarm: Swarm, backend: E2BBackend, seen: list[Event]) -> None:
        agent = await swarm.deploy(AgentSpec(kind="momentum", symbols=("SPY",)))
        assert agent.live
        box = e2b_fake.sandboxes[agent.sandbox.id]
        assert box.metadata == {"app": "swarm-tui", "run_id": "run-e2b", "agent_id": agent.id, "pattern": "mesh"}
        assert box.template == "base"
        assert (await swarm.request(agent, "signal", {"prices": WINDOW}))["action"] == "buy"
        owned = await backend.list_owned()
        assert [o.id for o in owned] == [agent.sandbox.id] and owned[0].run_id == "run-e2b"
        # Many lines in a burst arrive in order, through one writer per sandbox.
        answers = await asyncio.gather(*(swarm.request(agent, "echo", {"n": i}) for i in range(50)))
        assert [a["n"] for a in answers] == list(range(50))

    run(body)


def test_keep_alive_refreshes_the_sandbox_timeout(e2b_fake) -> None:
    async def body(swarm: Swarm, backend: E2BBackend, seen: list[Event]) -> None:
        agent = await swarm.deploy(AgentSpec(kind="momentum", symbols=("SPY",)))
        box = e2b_fake.sandboxes[agent.sandbox.id]
        first = box.expires_at
        await asyncio.sleep(4.0)
        assert box.alive and box.expires_at > first

    run(body, sandbox_timeout_s=5)


def test_missing_and_rejected_keys_are_one_clear_error(e2b_fake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("E2B_API_KEY")
    with pytest.raises(BackendError, match="E2B_API_KEY is not set"):
        asyncio.run(E2BBackend().start())
    monkeypatch.setenv("E2B_API_KEY", "e2b_wrong_key")
    with pytest.raises(BackendError, match="rejected the API key") as info:
        asyncio.run(E2BBackend().start())
    assert "e2b_wrong_key" not in str(info.value)
    # The command line: exit 2, one line, before any scenario starts.
    proc = subprocess.run(
        [sys.executable, "-m", "swarm_tui", "run", "--backend", "e2b", "--scenario", "mesh.failover"],
        capture_output=True,
        text=True,
        env={**cli_env(), **dict(os.environ)},
    )
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "rejected the API key" in proc.stderr and "e2b_wrong_key" not in proc.stderr + proc.stdout
    assert e2b_fake.created_total == 0


def test_bursts_of_429_slow_the_bucket_and_creation_goes_on(e2b_fake) -> None:
    e2b_fake.fail_creates(8, status=429)

    async def body(swarm: Swarm, backend: E2BBackend, seen: list[Event]) -> None:
        agents = await swarm.deploy_many([AgentSpec(kind="momentum", symbols=("SPY",)) for _ in range(2)])
        assert all(a.live for a in agents)
        assert backend.bucket.slowdowns >= 1 and backend.bucket.rate < backend.bucket.base_rate

    run(body)


def test_503s_are_retried_with_backoff(e2b_fake) -> None:
    e2b_fake.fail_creates(6, status=503)

    async def body(swarm: Swarm, backend: E2BBackend, seen: list[Event]) -> None:
        agent = await swarm.deploy(AgentSpec(kind="momentum", symbols=("SPY",)))
        assert agent.live and backend.retries >= 1

    run(body)


def test_creation_that_never_succeeds_fails_the_agent_not_the_engine(e2b_fake) -> None:
    e2b_fake.fail_creates(100, status=503)

    async def body(swarm: Swarm, backend: E2BBackend, seen: list[Event]) -> None:
        agent = await swarm.deploy(AgentSpec(kind="momentum", symbols=("SPY",)))
        assert agent.state == AgentState.FAILED and "cannot create an E2B sandbox" in seen[-1].to_dict()["reason"]

    run(body, create_retries=2)


def test_slow_creation_still_deploys(e2b_fake) -> None:
    e2b_fake.slow_create(1.5)

    async def body(swarm: Swarm, backend: E2BBackend, seen: list[Event]) -> None:
        agents = await swarm.deploy_many([AgentSpec(kind="momentum", symbols=("SPY",)) for _ in range(2)])
        assert all(a.live for a in agents)

    run(body)


@pytest.mark.parametrize("how", ["killed-from-outside", "stream-dropped"])
def test_a_sandbox_lost_mid_run_is_an_agent_failure_and_is_replaced(e2b_fake, how: str) -> None:
    async def body(swarm: Swarm, backend: E2BBackend, seen: list[Event]) -> None:
        swarm.spawn(HeartbeatDetector(swarm).run())
        Replacer(swarm)
        agent = await swarm.deploy(AgentSpec(kind="momentum", symbols=("SPY",)))
        if how == "killed-from-outside":
            assert e2b_fake.kill_from_outside(agent.sandbox.id)
        else:
            assert e2b_fake.drop_streams(agent.sandbox.id) >= 1
        for _ in range(200):
            replacement = next((a for a in swarm.agents.values() if a.replaces == agent.id and a.live), None)
            if replacement is not None:
                break
            await asyncio.sleep(0.05)
        assert agent.state in (AgentState.FAILED, AgentState.STOPPED)
        assert replacement is not None
        detected = [e for e in seen if e.kind == "failure_detected"]
        assert detected and detected[0].to_dict()["agent"] == agent.id
        assert (await swarm.request(replacement, "signal", {"prices": WINDOW}))["action"] == "buy"

    run(body)


def test_the_creation_cap_holds(e2b_fake) -> None:
    async def body(swarm: Swarm, backend: E2BBackend, seen: list[Event]) -> None:
        peak = 0

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, e2b_fake.alive_count())
                await asyncio.sleep(0.01)

        watcher = asyncio.ensure_future(watch())
        agents = await swarm.deploy_many([AgentSpec(kind="momentum", symbols=("SPY",)) for _ in range(2)])
        third = asyncio.ensure_future(swarm.deploy(AgentSpec(kind="momentum", symbols=("SPY",))))
        await asyncio.sleep(1.0)
        assert not third.done()  # waits for a free place
        await swarm.remove(agents[0])
        assert (await asyncio.wait_for(third, 20)).live
        watcher.cancel()
        assert peak <= 2

    run(body, max_sandboxes=2)


def test_token_bucket_paces_creations() -> None:
    async def main() -> list[float]:
        bucket = TokenBucket(rate=20.0)
        loop = asyncio.get_running_loop()
        times = []
        for _ in range(5):
            await bucket.acquire()
            times.append(loop.time())
        return times

    times = asyncio.run(main())
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.04  # 20 per second: 50 ms apart (a little scheduling slack)


def test_cleanup_lists_and_kills_tagged_sandboxes(e2b_fake) -> None:
    async def leave_two() -> list[str]:
        from e2b import AsyncSandbox

        boxes = [
            await AsyncSandbox.create(metadata={"app": "swarm-tui", "run_id": "old-run", "agent_id": f"a{i}"})
            for i in range(2)
        ]
        await AsyncSandbox.create(metadata={"app": "someone-else"})
        return [b.sandbox_id for b in boxes]

    ids = asyncio.run(leave_two())
    env = {**cli_env(), **dict(os.environ)}
    listed = subprocess.run(
        [sys.executable, "-m", "swarm_tui", "cleanup", "--where", "e2b"], capture_output=True, text=True, env=env
    )
    assert listed.returncode == 0 and all(i in listed.stdout for i in ids) and "old-run" in listed.stdout
    assert e2b_fake.alive_count() == 3
    killed = subprocess.run(
        [sys.executable, "-m", "swarm_tui", "cleanup", "--where", "e2b", "--yes"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert "killed 2 of 2" in killed.stdout
    assert e2b_fake.alive_count() == 1  # someone else's sandbox is left alone
    other = next(sid for sid, s in e2b_fake.sandboxes.items() if s.alive)
    asyncio.run(_kill(other))


async def _kill(sandbox_id: str) -> None:
    from e2b import AsyncSandbox

    await AsyncSandbox.kill(sandbox_id)


def test_a_scenario_runs_end_to_end_and_the_key_never_leaks(
    e2b_fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "e2b_SECRET_canary_7f3a9c"
    monkeypatch.setenv("E2B_API_KEY", secret)
    e2b_fake.api_key = secret
    out = tmp_path / "r"
    env = {**cli_env(), **dict(os.environ)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "swarm_tui",
            "run",
            "--backend",
            "e2b",
            "--scenario",
            "ring.data-flow",
            "--export",
            f"{out}.json",
            "--export",
            f"{out}.jsonl",
            "--export",
            f"{out}.md",
            "--export",
            f"{out}.xml",
            "--export",
            f"{out}.csv",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(Path(f"{out}.json").read_text())
    assert data["backend"] == "e2b" and data["scenarios"][0]["status"] == "passed"
    everything = (
        proc.stdout
        + proc.stderr
        + "".join(Path(f"{out}.{ext}").read_text() for ext in ("json", "jsonl", "md", "xml", "csv"))
    )
    assert secret not in everything
    # And on the error path: a rejected key.
    e2b_fake.reject_key()
    bad = subprocess.run(
        [sys.executable, "-m", "swarm_tui", "run", "--backend", "e2b"], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 2 and secret not in bad.stdout + bad.stderr


@pytest.mark.skipif(
    not os.environ.get("E2B_API_KEY") or os.environ.get("E2B_API_URL", "").startswith("http://127."),
    reason="live E2B test: needs E2B_API_KEY (runs against the real service)",
)
def test_live_e2b_sandbox() -> None:  # pragma: no cover - needs the real service
    async def body(swarm: Swarm, backend: E2BBackend, seen: list[Event]) -> None:
        agent = await swarm.deploy(AgentSpec(kind="momentum", symbols=("SPY",)))
        assert agent.live
        assert (await swarm.request(agent, "signal", {"prices": WINDOW}, timeout=30))["action"] == "buy"

    run(body)
