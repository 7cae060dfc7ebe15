"""The comparison report: figures per arm with intervals, the differences that are real, the
recommendations they support, and the replaced system's table beside the measured one.

:func:`build_report` is a pure function of the runs' figures (see :mod:`.recorder`) and the
experiment's description; every writer (console, JSON, Markdown, CSV, HTML) prints from the dict
it returns, so they all carry the same numbers.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from swarm_tui.compare import stats
from swarm_tui.compare.claims import CLAIMED_TABLE, USE_CASES, Criterion
from swarm_tui.compare.experiment import TOPOLOGY_ORDER
from swarm_tui.patterns.workloads import ROLLOUT_STRATEGIES

SCHEMA = 1


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    lower_is_better: bool


TOPOLOGY_METRICS: tuple[Metric, ...] = (
    Metric("latency_p50_ms", "latency p50", "ms", True),
    Metric("latency_p95_ms", "latency p95", "ms", True),
    Metric("latency_p99_ms", "latency p99", "ms", True),
    Metric("success_rate", "success rate", "", False),
    Metric("availability", "availability (fault window)", "", False),
    Metric("detection_s", "detection time", "s", True),
    Metric("recovery_s", "recovery time", "s", True),
    Metric("messages_per_decision", "messages per decision", "", True),
    Metric("saturation_per_s", "saturation point", "/s", False),
)
ROLLOUT_METRICS: tuple[Metric, ...] = (
    Metric("defective.detect_s", "time to detect a defective version", "s", True),
    Metric("defective.errors", "errors spent on a defective version", "", True),
    Metric("sound.full_rollout_s", "time to a full rollout of a sound version", "s", True),
)
# Described with intervals, not tested against each other.
ROLLOUT_DESCRIPTIVE: tuple[Metric, ...] = (
    Metric("sound.latency_p50_ms", "request latency p50, sound version", "ms", True),
    Metric("defective.success_rate", "request success rate, defective version", "", False),
)
METRICS = {m.key: m for m in (*TOPOLOGY_METRICS, *ROLLOUT_METRICS, *ROLLOUT_DESCRIPTIVE)}


def _value(run: dict[str, Any], key: str) -> float | None:
    value = run.get(key)
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def collect(runs: Sequence[dict[str, Any]], ramp_top: float | None) -> dict[str, dict[str, list[float]]]:
    """Per-seed values of every metric, by arm (``topology`` arms and ``rollout`` arms apart).

    A run whose ramp never saturated counts as saturating at twice the ramp's top load (it is
    above every load measured): a censored value, said so wherever the median lands there.
    """
    out: dict[str, dict[str, list[float]]] = {}
    for run in sorted(runs, key=lambda r: (r["kind"], r["arm"], r.get("version", ""), r["seed"])):
        if run.get("error"):
            continue
        family = run["kind"]
        arm_values = out.setdefault(f"{family}:{run['arm']}", {})
        metrics = TOPOLOGY_METRICS if family == "topology" else (*ROLLOUT_METRICS, *ROLLOUT_DESCRIPTIVE)
        for m in metrics:
            key = m.key
            if family == "rollout":
                version, key = m.key.split(".", 1)
                if run.get("version") != version:
                    continue
            value = _value(run, key)
            if m.key == "saturation_per_s" and value is None and ramp_top:
                value = 2 * ramp_top
            if value is not None:
                arm_values.setdefault(m.key, []).append(value)
    return out


def _seed_of(*parts: str) -> int:
    return zlib.crc32(":".join(parts).encode())


def summaries(values: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, dict[str, Any]]]:
    return {
        arm: {key: stats.summarize(v, _seed_of(arm, key)).to_dict() for key, v in metrics.items()}
        for arm, metrics in values.items()
    }


def differences(values: dict[str, dict[str, list[float]]]) -> list[dict[str, Any]]:
    """Every pairwise test of the report, Holm-corrected together."""
    tests: list[dict[str, Any]] = []
    families = (("topology", TOPOLOGY_ORDER, TOPOLOGY_METRICS), ("rollout", ROLLOUT_STRATEGIES, ROLLOUT_METRICS))
    for family, arms, metrics in families:
        for m in metrics:
            for i, a in enumerate(arms):
                for b in arms[i + 1 :]:
                    va = values.get(f"{family}:{a}", {}).get(m.key, [])
                    vb = values.get(f"{family}:{b}", {}).get(m.key, [])
                    if not va or not vb:
                        continue
                    delta = stats.cliffs_delta(va, vb)
                    tests.append(
                        {
                            "family": family,
                            "metric": m.key,
                            "a": a,
                            "b": b,
                            "n_a": len(va),
                            "n_b": len(vb),
                            "median_a": stats.summarize(va).median,
                            "median_b": stats.summarize(vb).median,
                            "p": stats.mann_whitney(va, vb),
                            "cliffs_delta": round(delta, 4),
                            "magnitude": stats.magnitude(delta),
                        }
                    )
    adjusted = stats.holm([t["p"] for t in tests])
    for t, p_holm in zip(tests, adjusted, strict=True):
        t["p_holm"] = p_holm
        significant = p_holm is not None and p_holm < stats.ALPHA and t["magnitude"] != "negligible"
        t["significant"] = significant
        better = None
        if significant and t["median_a"] != t["median_b"]:
            lower = METRICS[t["metric"]].lower_is_better
            a_lower = t["cliffs_delta"] < 0
            better = t["a"] if a_lower == lower else t["b"]
        t["better"] = better
    return tests


def _lookup(tests: list[dict[str, Any]], family: str, metric: str, x: str, y: str) -> dict[str, Any] | None:
    for t in tests:
        if t["family"] == family and t["metric"] == metric and {t["a"], t["b"]} == {x, y}:
            return t
    return None


def fmt(value: float | None, key: str) -> str:
    """A figure as the report prints it."""
    if value is None:
        return "-"
    m = METRICS.get(key)
    if m is not None and m.unit == "" and key.endswith(("rate", "availability")):
        return f"{100 * value:.1f} %"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def fmt_summary(s: dict[str, Any] | None, key: str, top: float | None = None) -> str:
    """Median [95 % interval]; a saturation point above the ramp's top load (censored) says so."""
    if not s or s.get("median") is None:
        return "-"
    if key == "saturation_per_s" and top and s["median"] > top:
        return f"> {fmt(top, key)}"
    text = fmt(s["median"], key)
    if s["ci_low"] is not None and s["ci_high"] is not None and s["ci_low"] != s["ci_high"]:
        text += f" [{fmt(s['ci_low'], key)}, {fmt(s['ci_high'], key)}]"
    return text


def recommend(
    tests: list[dict[str, Any]],
    summ: dict[str, dict[str, dict[str, Any]]],
    criterion: Criterion,
    top: float | None = None,
) -> dict[str, Any]:
    """Who is best on one criterion, only as far as significant differences say."""
    arms = TOPOLOGY_ORDER if criterion.family == "topology" else ROLLOUT_STRATEGIES
    lower = METRICS[criterion.metric].lower_is_better
    medians = {
        a: summ.get(f"{criterion.family}:{a}", {}).get(criterion.metric, {}).get("median")
        for a in arms
        if summ.get(f"{criterion.family}:{a}", {}).get(criterion.metric, {}).get("median") is not None
    }
    if len(medians) < 2:
        return {"criterion": criterion.label, "metric": criterion.metric, "best": [], "text": "not enough data"}
    best = (min if lower else max)(medians, key=lambda a: (medians[a], a))
    tied = [
        a
        for a in medians
        if a != best and not (_lookup(tests, criterion.family, criterion.metric, best, a) or {}).get("significant")
    ]
    worse = [a for a in medians if a != best and a not in tied]
    winners = [best, *tied]
    key = criterion.metric

    def shown(arm: str) -> str:
        return f"{arm} {fmt_summary(summ[f'{criterion.family}:{arm}'][key], key, top)}"

    if not worse:
        text = f"{criterion.label}: no significant difference ({'; '.join(shown(a) for a in medians)})"
        return {"criterion": criterion.label, "metric": key, "best": [], "worse": [], "text": text}
    evidence = []
    for a in worse:
        t = _lookup(tests, criterion.family, key, best, a)
        if t is not None:
            evidence.append(f"{shown(a)} (Cliff's delta {abs(t['cliffs_delta']):.2f}, Holm p {t['p_holm']:.2g})")
    text = (
        f"{criterion.label}: {' or '.join(shown(a) for a in winners)}; "
        f"significantly {'lower' if lower else 'higher'} than {', '.join(evidence)}"
    )
    return {"criterion": criterion.label, "metric": key, "best": winners, "worse": worse, "text": text}


def recommendations(
    tests: list[dict[str, Any]], summ: dict[str, dict[str, dict[str, Any]]], top: float | None = None
) -> list[dict[str, Any]]:
    """Each claimed recommendation, checked against the measured figures that bear on it."""
    out = []
    for case in USE_CASES:
        findings = [recommend(tests, summ, c, top) for c in case.criteria]
        verdicts = []
        for finding, criterion in zip(findings, case.criteria, strict=True):
            for arm in case.claimed.get(criterion.family, ()):
                if not finding.get("best") and not finding.get("worse"):
                    verdicts.append(f"{arm}: no significant difference on {criterion.label}")
                elif arm in finding["best"]:
                    verdicts.append(f"{arm}: among the best on {criterion.label}")
                else:
                    verdicts.append(f"{arm}: significantly worse than {finding['best'][0]} on {criterion.label}")
        out.append(
            {
                "use_case": case.name,
                "claim": case.claim,
                "findings": findings,
                "verdicts": verdicts,
                "not_measured": case.unmeasured,
            }
        )
    return out


def claimed_rows(summ: dict[str, dict[str, dict[str, Any]]], workload: str, backend: str) -> list[dict[str, Any]]:
    """The replaced system's table, each row beside what was measured (or why nothing is)."""
    rows = []
    for row in CLAIMED_TABLE:
        entry: dict[str, Any] = {"pattern": row.pattern, "claimed_latency": row.latency}
        entry["claimed_reliability"] = row.reliability
        if row.family == "topology" and row.arm:
            s = summ.get(f"topology:{row.arm}", {})
            entry.update(
                measured_latency=s.get("latency_p50_ms"),
                measured_latency_p95=s.get("latency_p95_ms"),
                measured_reliability=s.get("success_rate"),
                measured_availability=s.get("availability"),
                what=(
                    f"{backend} backend, workload {workload}: decision latency (signal, risk check and fill "
                    f"through the {row.arm}) median over seeds; reliability = decisions that succeeded during "
                    "the fault phase"
                ),
            )
        elif row.family == "rollout" and row.arm:
            s = summ.get(f"rollout:{row.arm}", {})
            entry.update(
                measured_latency=s.get("sound.latency_p50_ms"),
                measured_reliability=s.get("defective.success_rate"),
                what=(
                    f"{backend} backend, workload {workload}: request latency p50 while a sound version rolls "
                    "out; reliability = requests that succeeded while a defective version rolled out"
                ),
            )
        else:
            entry.update(measured_latency=None, measured_reliability=None, what=row.no_match)
        rows.append(entry)
    return rows


def _median(values: list[float]) -> float | None:
    return stats.summarize(values).median if values else None


def chart_series(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What the charts draw, aggregated over seeds."""
    ramp: dict[str, dict[float, list[float]]] = {}
    avail: dict[str, list[list[float]]] = {}
    weights: dict[str, list[list[float]]] = {}
    for run in sorted(runs, key=lambda r: r["seed"]):
        series = run.get("series") or {}
        if run["kind"] == "topology":
            for load, p95 in series.get("ramp", []):
                ramp.setdefault(run["arm"], {}).setdefault(float(load), []).append(math.inf if p95 is None else p95)
            bins = series.get("availability", [])
            if bins:
                cols = avail.setdefault(run["arm"], [[] for _ in bins])
                for k, v in enumerate(bins[: len(cols)]):
                    if v is not None:
                        cols[k].append(v)
        elif f"{run['arm']}:{run['version']}" not in weights:
            weights[f"{run['arm']}:{run['version']}"] = series.get("weights", [])
    return {
        "ramp": {
            arm: [[load, _finite_median(v)] for load, v in sorted(by_load.items())] for arm, by_load in ramp.items()
        },
        "availability": {arm: [_mean(c) for c in cols] for arm, cols in avail.items()},
        "weights": weights,
    }


def _finite_median(values: list[float]) -> float | None:
    """The median, or None when it is above every budget (most runs failed the step)."""
    ordered = sorted(values)
    mid = (
        ordered[len(ordered) // 2]
        if len(ordered) % 2
        else (ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2
    )
    return round(mid, 3) if math.isfinite(mid) else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def build_report(
    runs: Sequence[dict[str, Any]],
    *,
    workload: dict[str, Any],
    backend: str,
    seeds: Sequence[int],
    planned: int,
    interrupted: bool,
    started_at: str,
    finished_at: str,
    jobs: int,
    wall_s: float,
) -> dict[str, Any]:
    """The whole report as plain data (what the JSON export is)."""
    params = workload.get("params") or {}
    ramp = params.get("ramp")
    ramp_top = float(ramp[-1]) if ramp else None
    if ramp is None:
        from swarm_tui.patterns.workloads import WorkloadParams

        ramp_top = float(WorkloadParams.model_fields["ramp"].default[-1])
    values = collect(runs, ramp_top)
    summ = summaries(values)
    tests = differences(values)
    budgets = sorted({float(r["budget_ms"]) for r in runs if r.get("budget_ms")})
    errors = [
        {
            "unit": f"{r['kind']}:{r['arm']}{':' + r['version'] if r.get('version') else ''}:{r['seed']}",
            "error": r["error"],
        }
        for r in runs
        if r.get("error")
    ]
    return {
        "schema": SCHEMA,
        "report": "swarm-tui compare",
        "backend": backend,
        "workload": workload,
        "seeds": list(seeds),
        "jobs": jobs,
        "started_at": started_at,
        "finished_at": finished_at,
        "wall_s": round(wall_s, 3),
        "interrupted": interrupted,
        "units": {"planned": planned, "finished": len(runs), "errors": errors},
        "ramp_top_per_s": ramp_top,
        "budgets_ms": budgets,
        "rule": (
            f"Mann-Whitney U (two-sided) over per-seed values, Holm-corrected over all {len(tests)} tests; "
            f"a difference is called when the adjusted p < {stats.ALPHA} and Cliff's delta is not negligible "
            f"(|delta| >= 0.147), with at least {stats.MIN_SEEDS} seeds per arm. Intervals: 95 % percentile "
            f"bootstrap of the median ({stats.RESAMPLES} resamples)."
        ),
        "topologies": {a: summ.get(f"topology:{a}", {}) for a in TOPOLOGY_ORDER if f"topology:{a}" in summ},
        "rollouts": {s: summ.get(f"rollout:{s}", {}) for s in ROLLOUT_STRATEGIES if f"rollout:{s}" in summ},
        "differences": tests,
        "recommendations": recommendations(tests, summ, ramp_top),
        "claimed": claimed_rows(summ, str(workload.get("name")), backend),
        "series": chart_series(runs),
        "runs": [{k: v for k, v in r.items() if k != "series"} for r in runs],
    }
