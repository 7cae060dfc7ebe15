"""The HTML report of a run: one self-contained page, each scenario's time series drawn by plotly.

For every scenario: its status and checks, and a chart of the live agents, the load (decisions
submitted per second), the p95 latency and the errors per second, and, for a rollout, the
traffic weights. plotly.js is inlined once, so the page opens offline.
"""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from swarm_tui.results.model import RunResult
from swarm_tui.results.timeline import Timeline

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1300px; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; }
th { background: #f3f3f3; }
.failed { color: #b00; } .passed { color: #070; } .error { color: #b60; }
"""


def scenario_figure(title: str, series: dict[str, Any]) -> go.Figure:
    """Agents, load, p95 latency, errors (and rollout weights) against scenario time."""
    rows = 5 if series["weights"] else 4
    names = ["live agents", "load (decisions/s)", "p95 latency (ms)", "errors per s", "rollout weights (%)"][:rows]
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, subplot_titles=names, vertical_spacing=0.05)
    t = series["t"]
    fig.add_trace(go.Scatter(x=t, y=series["agents"], mode="lines", line={"shape": "hv"}, name="agents"), 1, 1)
    fig.add_trace(go.Bar(x=t, y=series["load"], name="load"), 2, 1)
    fig.add_trace(go.Scatter(x=t, y=series["p95_ms"], mode="lines+markers", name="p95"), 3, 1)
    fig.add_trace(go.Bar(x=t, y=series["errors"], name="errors", marker_color="#d62728"), 4, 1)
    if series["weights"]:
        pools = sorted({p for _, w in series["weights"] for p in w})
        for pool in pools:
            xs = [w[0] for w in series["weights"]]
            ys = [w[1].get(pool, 0.0) for w in series["weights"]]
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"shape": "hv"}, name=pool), 5, 1)
    fig.update_layout(title=title, height=170 * rows + 80, showlegend=False)
    fig.update_xaxes(title_text="scenario time (s)", row=rows, col=1)
    return fig


def to_html(result: RunResult, timeline: Timeline | None) -> str:
    """The page: the run's summary, then each scenario with its checks and its chart."""
    by_id = {s.scenario: s.to_dict() for s in (timeline.series if timeline else [])}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>swarm-tui results</title>',
        f"<style>{STYLE}</style></head><body>",
        "<h1>swarm-tui results</h1>",
        f"<p>run {html.escape(result.run_id)}, backend {html.escape(result.backend)}, seed {result.seed}"
        + (" &mdash; <b>interrupted</b>" if result.interrupted else "")
        + "</p>",
    ]
    first = True
    for s in result.scenarios:
        checks = "".join(
            f"<tr><td>{html.escape(str(c['name']))}</td><td>{html.escape(str(c['expected']))}</td>"
            f"<td>{html.escape(str(c['observed']))}</td><td>{'pass' if c['passed'] else 'FAIL'}</td></tr>"
            for c in s.checks
        )
        parts.append(f"<h2>{html.escape(s.id)}: {html.escape(s.title)} <span class='{s.status}'>{s.status}</span></h2>")
        if s.error:
            parts.append(f"<p class='error'>{html.escape(s.error)}</p>")
        if checks:
            parts.append(f"<table><tr><th>check</th><th>expected</th><th>observed</th><th></th></tr>{checks}</table>")
        series = by_id.get(s.id)
        if series and series["t"]:
            fig = scenario_figure(s.id, series)
            parts.append(fig.to_html(full_html=False, include_plotlyjs=first, div_id=f"chart-{len(parts)}"))
            first = False
        else:
            parts.append("<p>(no time series: the run's events were not recorded)</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
