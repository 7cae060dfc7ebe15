"""What the engine records besides the happenings: readings once a second, the checks so far.

Every view of a run (the dashboard live, a replay, a report) is built from the event stream
alone, so whatever a view shows that is not a happening must be an event too:

* :class:`~swarm_tui.engine.events.Sampled`, once a second of scenario time: each agent's CPU
  and memory where they changed, the silence of agents whose heartbeat is late, and the
  market's VIX and prices;
* :class:`~swarm_tui.engine.events.ChecksEvaluated`, every ``live_checks_every_s``: the
  scenario's checks judged so far (pending, holding, failed), when they changed.

Reading costs no randomness of the experiment (the mock's readings come from its own model), so
a seed still gives the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from swarm_tui.engine.agents import AgentState
from swarm_tui.engine.events import ChecksEvaluated, Sampled
from swarm_tui.engine.judge import all_checks
from swarm_tui.engine.sandbox import BackendError, SandboxMetrics
from swarm_tui.engine.scenario import ScenarioContext
from swarm_tui.engine.swarm import Swarm

SAMPLE_EVERY_S = 1.0
CPU_STEP, MEM_STEP = 0.5, 0.5  # a reading is recorded again once it moved this far (points, MB)
READ_TIMEOUT_S = 2.0
_READ = (AgentState.STARTING, AgentState.HEALTHY, AgentState.DEGRADED, AgentState.DRAINING)
_WATCHED = (AgentState.HEALTHY, AgentState.DEGRADED, AgentState.DRAINING)


class RunObserver:
    """Publishes a run's readings and its checks so far; started and cancelled by the runner."""

    def __init__(self, ctx: ScenarioContext[Any, Any]) -> None:
        self.ctx = ctx
        self._last: dict[str, tuple[float, float]] = {}
        self._checks: list[dict[str, Any]] | None = None
        self._next_read = 0.0
        self._next_checks = 0.0

    async def run(self) -> None:
        ctx = self.ctx
        every_checks = max(SAMPLE_EVERY_S, float(ctx.scenario.live_checks_every_s))
        read_every = max(SAMPLE_EVERY_S, ctx.backend.capabilities.metrics_every_s)
        k = 0
        while True:
            k += 1
            await ctx.clock.sleep_until(k * SAMPLE_EVERY_S)
            now = ctx.clock.now()
            if ctx.swarms:
                await self.sample(ctx.swarms[0], read=now + 1e-9 >= self._next_read)
                if now + 1e-9 >= self._next_read:
                    self._next_read = now + read_every
            if now + 1e-9 >= self._next_checks:
                self._next_checks = now + every_checks
                self.judge()

    async def _readings(self, swarm: Swarm) -> dict[str, SandboxMetrics]:
        backend = swarm.backend
        agents = [a for a in list(swarm.agents.values()) if a.sandbox is not None and a.state in _READ]
        out: dict[str, SandboxMetrics] = {}
        slow = []
        for agent in agents:
            assert agent.sandbox is not None
            quick = backend.metrics_now(agent.sandbox)
            if quick is not None:
                out[agent.id] = quick
            else:
                slow.append(agent)
        if slow:

            async def read(handle: Any) -> SandboxMetrics | None:
                with contextlib.suppress(BackendError, TimeoutError, OSError):
                    return await asyncio.wait_for(backend.metrics(handle), READ_TIMEOUT_S)
                return None

            results = await asyncio.gather(*(read(a.sandbox) for a in slow))
            for agent, m in zip(slow, results, strict=True):
                if m is not None:
                    out[agent.id] = m
        return out

    async def sample(self, swarm: Swarm, *, read: bool = True) -> None:
        ctx = self.ctx
        changed: dict[str, list[float]] = {}
        if read:
            for agent_id, m in (await self._readings(swarm)).items():
                agent = swarm.agents.get(agent_id)
                if agent is None or not m.alive:
                    continue
                cpu, mem = round(float(m.cpu_pct), 1), round(float(m.mem_mb), 1)
                agent.cpu_pct, agent.mem_mb = cpu, mem
                last = self._last.get(agent_id)
                if last is None or abs(cpu - last[0]) >= CPU_STEP or abs(mem - last[1]) >= MEM_STEP:
                    self._last[agent_id] = (cpu, mem)
                    changed[agent_id] = [cpu, mem]
        now = ctx.clock.now()
        interval = swarm.heartbeat_s
        late = {
            a.id: round(now - a.last_heartbeat, 3)
            for a in list(swarm.agents.values())
            if a.state in _WATCHED and now - a.last_heartbeat > interval
        }
        market = ctx.market
        vix = float(market.last.vix) if market.history else None
        prices = {k: float(v) for k, v in market.last.prices.items()} if market.history else {}
        ctx.bus.publish(Sampled(t=now, scenario=ctx.scenario.id, agents=changed, late=late, vix=vix, prices=prices))

    def judge(self) -> None:
        """The checks as they stand (a scenario not far enough along to be judged is skipped)."""
        ctx = self.ctx
        try:
            checks = all_checks(ctx)
        except Exception:
            return
        rows = [c.row(final=False) for c in checks]
        if rows != self._checks:
            self._checks = rows
            ctx.bus.publish(ChecksEvaluated(t=ctx.clock.now(), scenario=ctx.scenario.id, checks=rows))
