"""Every injected fault is judged, in every scenario, by one rule per kind of fault.

A scenario's own checks say what its experiment is about; these say what happened to each
fault that was injected into it, scheduled or by hand:

* a fault the swarm must *notice* (crash, memory leak, CPU spike, slowness, errors, a bad
  version) is detected within its bound and, where service can come back (a killed agent is
  replaced, a timed fault ends), recovered from within its bound, both timed from the
  injection (see :class:`~swarm_tui.engine.metrics.FaultWindow`);
* every scenario with faults has an outage bound: the share of decisions submitted during a
  fault window answered correctly within their deadline (``min_availability``);
* a scheduled fault that never happened fails the run (pending until its time).

Bounds: a crash, N heartbeat intervals (``detect_intervals``); a leak, the time the
leak needs to reach the sandbox's memory limit plus the same; a degradation,
``detect_within_s``. Recovery: a killed agent, the detection bound plus ``recovery_budget_s``
(the backend's by default); a timed fault, its duration plus ``recover_within_s``.
"""

from __future__ import annotations

from typing import Any

from swarm_tui.engine.metrics import DETECTED_FAULTS, KILLING_FAULTS, FaultWindow
from swarm_tui.engine.scenario import Check, ScenarioContext, at_least, at_most

Ctx = ScenarioContext[Any, Any]


def deadline_ms(ctx: Ctx) -> float:
    """A decision's deadline: the scenario's, or ten times the backend's p95 budget (set on the
    context's metrics when the run starts)."""
    return ctx.metrics.deadline_ms


def _heartbeat(ctx: Ctx) -> float:
    return ctx.swarms[0].heartbeat_s if ctx.swarms else ctx.params.heartbeat_s or ctx.backend.capabilities.heartbeat_s


def _lead_s(ctx: Ctx, w: FaultWindow, params: dict[str, Any]) -> float:
    """How long the fault itself takes to strike: for a leak, the time to reach the memory limit
    (the sandbox's, or the fault's own lower ``limit_mb``)."""
    if w.fault != "memory-leak":
        return 0.0
    rate = float(params.get("rate_mb_s") or 40.0)
    limit = float(ctx.params.memory_limit_mb)
    if params.get("limit_mb") is not None:
        limit = min(limit, float(params["limit_mb"]))
    return limit / rate if rate > 0 else 0.0


def _recovery_budget(ctx: Ctx) -> float:
    own = ctx.params.recovery_budget_s
    return float(own) if own else ctx.backend.capabilities.recovery_budget_s


def fault_checks(ctx: Ctx) -> list[Check]:
    """The judgement of every fault scheduled or injected so far (see the module's rules)."""
    prm = ctx.params
    hb = _heartbeat(ctx)
    checks: list[Check] = []
    windows = list(ctx.metrics.windows)
    params_of = [fault.params for _t, fault, _target in ctx.injected]
    # Scheduled faults not injected yet: pending until their time, failed if the run ends first.
    scheduled: dict[str, int] = {}
    for fault in ctx.scenario.faults():
        scheduled[fault.kind] = scheduled.get(fault.kind, 0) + 1
    for kind, count in scheduled.items():
        done = sum(1 for w in windows if w.fault == kind)
        for i in range(done, count):
            checks.append(ctx.not_yet(f"{kind} #{i + 1} injected", "at its scheduled time", "not yet", "never"))
    for i, w in enumerate(windows):
        params = params_of[i] if i < len(params_of) else {}
        if w.fault not in DETECTED_FAULTS:
            continue  # absorbed, not noticed: judged by the outage bound below
        what = f"{w.fault} of {w.target} at t={w.start:.1f} s"
        lead = _lead_s(ctx, w, params)
        if w.fault in KILLING_FAULTS:
            detect = lead + prm.detect_intervals * hb
        else:
            detect = prm.detect_within_s
        name = f"{what}: detected (s)"
        if w.detection_s is None:
            checks.append(ctx.not_yet(name, f"<= {detect:g}", "not detected yet", "not detected"))
        else:
            checks.append(at_most(name, w.detection_s, detect))
        if w.fault in KILLING_FAULTS:
            recover = detect + _recovery_budget(ctx)
        elif w.duration is not None:
            recover = w.duration + prm.recover_within_s
        else:
            continue  # it lasts: nothing to recover from while it does
        name = f"{what}: service restored (s)"
        if w.recovery_s is None:
            checks.append(ctx.not_yet(name, f"<= {recover:g}", "not restored yet", "not restored"))
        else:
            checks.append(at_most(name, w.recovery_s, recover))
    if windows and prm.min_availability is not None:
        name = f"decisions answered correctly within {deadline_ms(ctx):g} ms during faults (share)"
        availability = ctx.metrics.availability_under_faults()
        if availability is None:
            checks.append(ctx.not_yet(name, f">= {prm.min_availability:g}", "no decision yet", "no decision"))
        else:
            checks.append(
                at_least(name, availability, prm.min_availability, final_only=any(w.recovered is None for w in windows))
            )
    return checks


def false_detections(ctx: Ctx) -> list[Check]:
    """Agents declared failed (or that failed to start) with no fault injected into them.

    A detector that fails healthy agents makes every detection look fast and still passes every
    bound above, so each such failure is a failed check of its own. Shown only when it happens
    (a sound detector never adds it)."""
    # An agent's failure is explained by a fault injected into it before it failed (not by one
    # scheduled into an agent the detector had already failed).
    first_fault: dict[str, float] = {}
    for t, _fault, target in ctx.injected:
        for part in target.replace("|", ",").split(","):
            first_fault[part] = min(t, first_fault.get(part, t))
    wrongly = sorted(
        agent.id
        for swarm in ctx.swarms
        for agent in swarm.agents.values()
        if agent.failed_at is not None and agent.failed_at < first_fault.get(agent.id, float("inf"))
    )
    if not wrongly:
        return []
    shown = ", ".join(wrongly[:5]) + (f" and {len(wrongly) - 5} more" if len(wrongly) > 5 else "")
    return [Check("agents declared failed with no fault injected into them", False, "== 0", f"{len(wrongly)}: {shown}")]


def all_checks(ctx: Ctx) -> list[Check]:
    """The scenario's own checks, then the judgement of its faults."""
    return [*ctx.scenario.checks(ctx), *fault_checks(ctx), *false_detections(ctx)]
