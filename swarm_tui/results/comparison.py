"""The figures of a run, set side by side only where the workload is the same.

Every scenario has its own load, agents, faults and thresholds, so the figures of two different
scenarios say nothing about which pattern is better: "ring is 400x slower than multi-strategy" would
compare a 5-hop ring under steady load with an allocator under none. So the comparison has one row
per scenario result, each with its workload fingerprint (:meth:`Scenario.workload`); rows are
grouped by workload, and only rows of one group may be read against each other (the same scenario
with a mechanism switched off, say). Recommendations are about one configuration each (it failed
its checks, it lost decisions under faults); none crosses workloads. The controlled comparison
across topologies, with intervals and a stated test, is ``swarm-tui compare``.

Nothing here is written in by hand: every figure is computed from the results of the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from swarm_tui.results.model import ScenarioResult

FIGURES = (
    "decisions",
    "latency_p50_ms",
    "latency_p95_ms",
    "success_rate",
    "availability_under_faults",
    "detection_s",
    "recovery_s",
    "throughput_per_s",
)
UNLIKE = (
    "The scenarios of this run have different workloads, so their figures are not compared: "
    "run `swarm-tui compare` for a controlled comparison across topologies."
)


def _row(r: ScenarioResult) -> dict[str, Any]:
    m = r.metrics
    latency = m.get("latency_ms") or {}
    off = sorted(k for k, on in r.mechanisms.items() if not on)
    return {
        "pattern": r.pattern,
        "scenario": r.id,
        "workload": r.workload or r.id,
        "status": r.status,
        "mechanisms_off": ",".join(off),
        "decisions": m.get("decisions"),
        "latency_p50_ms": latency.get("p50"),
        "latency_p95_ms": latency.get("p95"),
        "success_rate": m.get("success_rate"),
        "availability_under_faults": m.get("availability"),
        "detection_s": m.get("detection_s"),
        "recovery_s": m.get("recovery_s"),
        "throughput_per_s": m.get("throughput_per_s"),
    }


def build_comparison(results: Sequence[ScenarioResult]) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per scenario result, grouped by workload; recommendations about one result each."""
    rows = [_row(r) for r in results]
    first: dict[str, int] = {}
    for i, row in enumerate(rows):
        first.setdefault(row["workload"], i)
    grouped = sorted(rows, key=lambda row: first[row["workload"]])  # stable: a group keeps the run's order
    return grouped, recommend(results, unlike=len(first) > 1)


def groups(rows: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The rows in runs of one workload each (the only rows that may be read side by side)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(str(row.get("workload") or row.get("scenario") or row.get("pattern")), []).append(row)
    return list(out.values())


def recommend(results: Sequence[ScenarioResult], *, unlike: bool) -> list[str]:
    """What follows from the figures of each configuration by itself."""
    out: list[str] = []
    for r in results:
        failed = [c["name"] for c in r.checks if not c.get("passed")]
        if r.status == "error":
            out.append(f"{r.id}: did not finish ({r.error or 'error'}); its figures are partial.")
        elif failed:
            out.append(
                f"{r.id}: {len(failed)} of {len(r.checks)} checks failed (first: {failed[0]}); "
                "do not rely on this configuration until they pass."
            )
        avail = r.metrics.get("availability")
        if isinstance(avail, int | float) and avail < 0.99:
            out.append(
                f"{r.id}: {avail:.1%} of the decisions submitted during its fault windows were answered "
                "correctly within their deadline."
            )
    if unlike:
        out.append(UNLIKE)
    return out
