"""The comparison report: per pattern figures and recommendations, derived from measured results.

Nothing here is written in by hand: every figure is computed from the scenario results of the
run, and every recommendation from those figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from swarm_tui.results.model import ScenarioResult


def _weighted(pairs: list[tuple[float, float]]) -> float | None:
    total = sum(w for _, w in pairs)
    if total <= 0:
        return None
    return sum(v * w for v, w in pairs) / total


def _round(value: float | None, digits: int = 3) -> float | None:
    return round(value, digits) if value is not None else None


def build_comparison(results: Sequence[ScenarioResult]) -> tuple[list[dict[str, Any]], list[str]]:
    """Per-pattern figures and the recommendations that follow from them."""
    patterns: dict[str, list[ScenarioResult]] = {}
    for r in results:
        patterns.setdefault(r.pattern, []).append(r)
    rows: list[dict[str, Any]] = []
    for pattern, group in patterns.items():
        measured = [r for r in group if r.metrics.get("decisions")]
        lat50 = _weighted([(r.metrics["latency_ms"]["p50"], r.metrics["decisions"]) for r in measured])
        lat95 = _weighted([(r.metrics["latency_ms"]["p95"], r.metrics["decisions"]) for r in measured])
        totals = [(r.metrics.get("success_rate", 1.0), sum(r.metrics.get("outcomes", {}).values())) for r in measured]
        success = _weighted(totals)
        avail = [r.metrics["availability"] for r in group if r.metrics.get("availability") is not None]
        recovery = [r.metrics["recovery_s"] for r in group if r.metrics.get("recovery_s") is not None]
        throughput = [r.metrics.get("throughput_per_s", 0.0) for r in measured]
        rows.append(
            {
                "pattern": pattern,
                "scenarios": len(group),
                "passed": sum(1 for r in group if r.passed),
                "decisions": sum(r.metrics.get("decisions", 0) for r in group),
                "latency_p50_ms": _round(lat50),
                "latency_p95_ms": _round(lat95),
                "success_rate": _round(success, 4),
                "availability_under_faults": _round(sum(avail) / len(avail), 4) if avail else None,
                "recovery_s": _round(max(recovery)) if recovery else None,
                "throughput_per_s": _round(sum(throughput) / len(throughput)) if throughput else None,
            }
        )
    return rows, recommend(rows)


def _best(rows: list[dict[str, Any]], key: str, lowest: bool) -> dict[str, Any] | None:
    candidates = [r for r in rows if r.get(key) is not None]
    if not candidates:
        return None
    return (min if lowest else max)(candidates, key=lambda r: (r[key], r["pattern"]))


def recommend(rows: list[dict[str, Any]]) -> list[str]:
    """Recommendations that follow from the figures (so they change when the numbers do)."""
    out: list[str] = []
    if not rows:
        return out
    fast = _best(rows, "latency_p95_ms", lowest=True)
    slow = _best(rows, "latency_p95_ms", lowest=False)
    if fast and slow and fast is not slow and fast["latency_p95_ms"]:
        ratio = slow["latency_p95_ms"] / fast["latency_p95_ms"]
        out.append(
            f"For latency-critical decisions prefer {fast['pattern']} (p95 {fast['latency_p95_ms']:.1f} ms); "
            f"{slow['pattern']} is {ratio:.1f}x slower at p95 ({slow['latency_p95_ms']:.1f} ms)."
        )
    quick = _best(rows, "recovery_s", lowest=True)
    slowest = _best(rows, "recovery_s", lowest=False)
    if quick:
        text = f"Fastest recovery from a failure: {quick['pattern']} ({quick['recovery_s']:.2f} s)"
        if slowest and slowest is not quick:
            text += f"; slowest: {slowest['pattern']} ({slowest['recovery_s']:.2f} s)"
        out.append(text + ".")
    busy = _best(rows, "throughput_per_s", lowest=False)
    if busy:
        out.append(f"Highest throughput: {busy['pattern']} ({busy['throughput_per_s']:.1f} decisions/s).")
    for r in rows:
        avail = r.get("availability_under_faults")
        if avail is not None and avail < 0.99:
            out.append(
                f"{r['pattern']}: only {avail:.1%} of requests succeeded while a fault was active; "
                "add retries on a live peer or a faster detector."
            )
        if r["passed"] < r["scenarios"]:
            out.append(
                f"{r['pattern']}: {r['scenarios'] - r['passed']} of {r['scenarios']} scenarios failed "
                "their checks; do not rely on it until they pass."
            )
    return out
