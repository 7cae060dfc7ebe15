"""The comparison report as one self-contained HTML file, its charts drawn by plotly.

plotly.js is inlined once (the file opens offline, with no CDN); each chart is a plotly figure:
the distribution of every figure over seeds per topology, p95 latency against load with the
budget and the saturation point, availability over time around the fault, and the rollouts.
"""

from __future__ import annotations

import html
import math
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from swarm_tui.compare.report import ROLLOUT_METRICS, TOPOLOGY_METRICS
from swarm_tui.compare.writers import claimed_rows, context_line, headline, not_significant, rollout_rows, significant
from swarm_tui.patterns.workloads import ROLLOUT_STRATEGIES

COLORS = {
    "ring": "#d62728",
    "hierarchical": "#2ca02c",
    "star": "#ff7f0e",
    "mesh": "#1f77b4",
    "all-at-once": "#9467bd",
    "blue-green": "#17becf",
    "canary": "#bcbd22",
}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.note { color: #666; font-size: 0.9em; }
.chart { margin: 1em 0 2em; }
"""


def _seed_box(values: list[float], arm: str, *, legend: bool) -> go.Box:
    """One arm's figure over seeds: a box with every seed's point, one legend entry per arm."""
    return go.Box(
        y=values,
        name=arm,
        marker_color=COLORS.get(arm),
        boxpoints="all",
        jitter=0.4,
        pointpos=0,
        showlegend=legend,
        legendgroup=arm,
    )


def _table(rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _values(report: dict[str, Any], kind: str, arm: str, key: str, version: str = "") -> list[float]:
    out = []
    for run in report["runs"]:
        if run["kind"] != kind or run["arm"] != arm or run.get("error"):
            continue
        if version and run.get("version") != version:
            continue
        value = run.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out.append(float(value))
    return out


def distributions(report: dict[str, Any]) -> go.Figure:
    """Every topology figure over seeds: one box (with each seed's point) per topology."""
    metrics = TOPOLOGY_METRICS
    cols = 3
    fig = make_subplots(rows=math.ceil(len(metrics) / cols), cols=cols, subplot_titles=[m.label for m in metrics])
    for i, m in enumerate(metrics):
        for arm in report["topologies"]:
            fig.add_trace(
                _seed_box(_values(report, "topology", arm, m.key), arm, legend=i == 0),
                row=i // cols + 1,
                col=i % cols + 1,
            )
    fig.update_layout(height=900, title="Distributions over seeds, per topology", boxmode="group")
    return fig


def latency_vs_load(report: dict[str, Any]) -> go.Figure:
    """Median p95 decision latency at each ramp load, the budget, and each saturation point."""
    fig = go.Figure()
    budgets = report.get("budgets_ms") or []
    for arm, points in report["series"]["ramp"].items():
        loads = [p[0] for p in points]
        p95 = [p[1] for p in points]
        fig.add_trace(go.Scatter(x=loads, y=p95, mode="lines+markers", name=arm, line={"color": COLORS.get(arm)}))
        sat = report["topologies"].get(arm, {}).get("saturation_per_s", {}).get("median")
        if sat is not None and sat in loads:
            y = p95[loads.index(sat)]
            fig.add_trace(
                go.Scatter(
                    x=[sat],
                    y=[y if y is not None else (budgets[0] * 2 if budgets else None)],
                    mode="markers",
                    marker={"symbol": "x", "size": 14, "color": COLORS.get(arm)},
                    name=f"{arm} saturates",
                )
            )
    for budget in budgets:
        fig.add_hline(y=budget, line_dash="dash", annotation_text=f"p95 budget {budget:g} ms")
    fig.update_layout(
        title="p95 decision latency against load (median over seeds); x: saturation point",
        xaxis={"type": "log", "title": "load (decisions/s)"},
        yaxis={"title": "p95 latency (ms)"},
        height=500,
    )
    return fig


def availability_over_time(report: dict[str, Any]) -> go.Figure:
    from swarm_tui.compare.recorder import AVAILABILITY_BIN_S, AVAILABILITY_SPAN

    fig = go.Figure()
    for arm, series in report["series"]["availability"].items():
        xs = [AVAILABILITY_SPAN[0] + (k + 0.5) * AVAILABILITY_BIN_S for k in range(len(series))]
        fig.add_trace(go.Scatter(x=xs, y=series, mode="lines+markers", name=arm, line={"color": COLORS.get(arm)}))
    fig.add_vline(x=0, line_dash="dash", annotation_text="fault")
    fig.update_layout(
        title="Availability around the fault: decisions answered correctly within their deadline (mean over seeds)",
        xaxis={"title": "submitted, s after the fault"},
        yaxis={"title": "share available", "range": [0, 1.05]},
        height=450,
    )
    return fig


def rollouts(report: dict[str, Any]) -> go.Figure:
    metrics = ROLLOUT_METRICS
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[m.label for m in metrics])
    for i, m in enumerate(metrics):
        version, key = m.key.split(".", 1)
        for arm in ROLLOUT_STRATEGIES:
            fig.add_trace(
                _seed_box(_values(report, "rollout", arm, key, version), arm, legend=i == 0),
                row=1,
                col=i + 1,
            )
    fig.update_layout(title="Rollouts over seeds", height=450)
    return fig


def rollout_weights(report: dict[str, Any]) -> go.Figure:
    fig = go.Figure()
    for name, points in report["series"]["weights"].items():
        if not points:
            continue
        t0 = points[0][0]
        arm, version = name.split(":")
        fig.add_trace(
            go.Scatter(
                x=[p[0] - t0 for p in points],
                y=[p[1] for p in points],
                mode="lines",
                line={"shape": "hv", "color": COLORS.get(arm), "dash": "solid" if version == "sound" else "dot"},
                name=f"{arm}, {version}",
            )
        )
    fig.update_layout(
        title="New version's traffic weight over time (first seed; dotted: defective version)",
        xaxis={"title": "s after the rollout started"},
        yaxis={"title": "weight (%)"},
        height=450,
    )
    return fig


def _div(fig: go.Figure, div_id: str, first: bool) -> str:
    body: str = fig.to_html(full_html=False, include_plotlyjs=first, div_id=div_id, config={"displaylogo": False})
    return f'<div class="chart">{body}</div>'


def to_html(report: dict[str, Any]) -> str:
    """One self-contained page: the tables of the report and its charts."""
    charts = [("distributions", distributions(report))]
    if report["series"]["ramp"]:
        charts.append(("latency-vs-load", latency_vs_load(report)))
    if report["series"]["availability"]:
        charts.append(("availability", availability_over_time(report)))
    if report["rollouts"]:
        charts += [("rollouts", rollouts(report)), ("rollout-weights", rollout_weights(report))]
    recs = []
    for rec in report["recommendations"]:
        items = [*(f["text"] for f in rec["findings"]), *(f"verdict: {v}" for v in rec["verdicts"])]
        if rec["not_measured"]:
            items.append(f"not measured here: {rec['not_measured']}")
        lis = "".join(f"<li>{html.escape(x)}</li>" for x in items)
        recs.append(f"<h3>{html.escape(rec['use_case'])} (claimed: {html.escape(rec['claim'])})</h3><ul>{lis}</ul>")
    claimed = claimed_rows(report)
    claimed[0].append("what the measured figure is")
    for row, claim in zip(claimed[1:], report["claimed"], strict=True):
        row.append(claim["what"])
    sig = "".join(f"<li>{html.escape(x)}</li>" for x in significant(report)) or "<li>no significant difference</li>"
    nonsig = "".join(f"<li>{html.escape(x)}</li>" for x in not_significant(report))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>swarm-tui compare</title>',
        f"<style>{STYLE}</style></head><body>",
        "<h1>swarm-tui compare</h1>",
        f"<p>{html.escape(context_line(report))}.</p>",
        "<h2>Topologies</h2><p class='note'>Median over seeds, 95 % bootstrap interval in brackets.</p>",
        _table(headline(report)),
    ]
    if report["rollouts"]:
        parts += ["<h2>Rollouts</h2>", _table(rollout_rows(report))]
    parts += [
        "<h2>The replaced system's table, beside what was measured</h2>",
        _table(claimed),
        "<h2>Charts</h2>",
        *(_div(fig, div_id, i == 0) for i, (div_id, fig) in enumerate(charts)),
        "<h2>Differences</h2>",
        f"<p class='note'>{html.escape(report['rule'])}</p>",
        f"<ul>{sig}</ul>",
        f"<details><summary>Not significant</summary><ul>{nonsig}</ul></details>",
        "<h2>Recommendations</h2>",
        *recs,
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
