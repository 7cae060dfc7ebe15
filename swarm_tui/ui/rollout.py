"""The rollout panel: every step of the plan, a progress bar, each analysis with its interval.

An analysis is drawn from whatever it carries: ``measurements`` (each ``name``, ``value``,
``op``, ``threshold``, ``passed`` and, when the rollout measured one, an interval ``low``/``high``),
a ``rule`` that says how it decides, and its ``decision``. Blue-green's health gate (green's
error rate against its limit) is shown as one such measurement.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from swarm_tui.engine.projection import RolloutView
from swarm_tui.ui.format import figure

NAMES = {"success_ratio": "success", "p95_ratio": "p95 ratio", "error_rate": "errors"}
OPS = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "==": "="}
BAR_WIDTH = 20


def progress_bar(done: int, total: int, width: int = BAR_WIDTH) -> Text:
    """``█████░░░░░ 2/4``: steps done of the plan."""
    total = max(1, total)
    filled = round(width * min(done, total) / total)
    text = Text("█" * filled, style="green")
    text.append("░" * (width - filled), style="dim")
    text.append(f" {done}/{total}")
    return text


def measurements(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    """The analysis as a list of measurements (an older journal's blue-green gate becomes one)."""
    out = [m for m in analysis.get("measurements", []) if isinstance(m, dict) and "value" in m]
    if not out and "green_error_rate" in analysis:
        out.append(
            {
                "name": "error_rate",
                "value": analysis["green_error_rate"],
                "op": "<=",
                "threshold": analysis.get("max_error_rate"),
                "passed": analysis.get("healthy", True),
                "n": analysis.get("green_requests"),
                "min_n": analysis.get("min_requests"),
            }
        )
    return out


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def measurement_text(m: dict[str, Any]) -> Text:
    """``✔success 0.98 [0.95, 1.00] ≥ 0.95 (n=30)``; the interval only when one was measured."""
    passed = None if m.get("verdict") == "continue" else m.get("passed")  # still measuring
    style = "green" if passed else ("bold red" if passed is False else "yellow")
    mark = "✔" if passed else ("✘" if passed is False else "…")
    name = NAMES.get(str(m.get("name", "")), str(m.get("name", "?")))
    text = Text(f"{mark}{name} {figure(_num(m.get('value')))}", style=style)
    low, high = _num(m.get("low")), _num(m.get("high"))
    if low is not None and high is not None:
        text.append(f" [{figure(low)}, {figure(high)}]", style="")
    threshold = _num(m.get("threshold"))
    if threshold is not None:
        op = str(m.get("op", ""))
        text.append(f" {OPS.get(op, op)} {figure(threshold)}", style="dim")
    n = m.get("n")
    if isinstance(n, int):
        text.append(f" (n={n})", style="dim")
    return text


def analysis_text(analysis: dict[str, Any]) -> Text:
    """Every measurement of an analysis, then its rule (if it states one)."""
    text = Text()
    for i, m in enumerate(measurements(analysis)):
        if i:
            text.append("  ")
        text.append_text(measurement_text(m))
    if analysis.get("manual"):
        text.append(" (by hand)", style="yellow")
    rule = analysis.get("rule")
    if isinstance(rule, str) and rule:
        text.append(f"\n{rule}", style="dim italic")
    if not text.plain:
        counts = {k[: -len("_requests")]: v for k, v in analysis.items() if k.endswith("_requests")}
        if counts:
            text.append("collecting: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + " requests", style="dim")
    return text


DECISION_STYLE = {"rollback": "bold red", "abort": "bold red", "promote": "bold green", "advance": "green"}


def rollout_renderable(rollout: RolloutView) -> Table:
    """The whole panel: head line with the bar, weights, a row per step of the plan."""
    head = Text()
    head.append(f"{rollout.kind} · {rollout.status} · step {rollout.step}/{rollout.steps}\n", style="bold")
    finished = {e["step"] for e in rollout.log}
    head.append_text(progress_bar(len(finished), rollout.steps))
    head.append(" steps decided", style="dim")
    weights = " ".join(f"{k} {figure(v)}%" for k, v in sorted(rollout.weights.items()))
    actual = " ".join(f"{k} {figure(v)}%" for k, v in sorted(rollout.actual.items())) or "-"
    head.append(f"\ntarget {weights} · this step's actual {actual}")
    table = Table(box=None, padding=(0, 1), show_header=True, header_style="dim", expand=True)
    table.add_column("#", justify="right")
    table.add_column("target", justify="right")
    table.add_column("actual", justify="right")
    table.add_column("analysis", ratio=1)
    table.add_column("decision")
    by_step: dict[int, dict[str, Any]] = {}
    for logged in rollout.log:
        by_step[int(logged["step"])] = logged  # the last word on a step
    steps = max(rollout.steps, len(rollout.plan), max(by_step, default=0))
    for n in range(1, steps + 1):
        entry = by_step.get(n)
        planned = rollout.plan[n - 1] if n - 1 < len(rollout.plan) else None
        if entry is not None:
            decision = str(entry.get("decision", ""))
            table.add_row(
                str(n),
                f"{figure(_num(entry.get('target')))}%",
                f"{figure(_num(entry.get('actual')))}%",
                analysis_text(entry.get("analysis", {})),
                Text(decision, style=DECISION_STYLE.get(decision, "")),
            )
        elif n == rollout.step and rollout.status not in ("rolled-back", "aborted", "promoted", "complete"):
            table.add_row(
                Text(str(n), style="bold"),
                f"{figure(planned)}%" if planned is not None else "-",
                Text("now", style="yellow"),
                analysis_text(rollout.analysis),
                Text("analysing…", style="yellow"),
            )
        else:
            skipped = rollout.status in ("rolled-back", "aborted") and n > rollout.step
            table.add_row(
                Text(str(n), style="dim"),
                Text(f"{figure(planned)}%" if planned is not None else "-", style="dim"),
                Text("-", style="dim"),
                Text("", style="dim"),
                Text("skipped" if skipped else "pending", style="dim"),
            )
    grid = Table.grid(expand=True)
    grid.add_row(head)
    grid.add_row(table)
    return grid


class RolloutPanel(Static):
    """Step n of N with a bar, target and actual weights, and every step with its analysis."""

    DEFAULT_CSS = """
    RolloutPanel { height: auto; }
    """

    _shown: object = ()

    def show(self, rollout: RolloutView | None) -> None:
        if rollout == self._shown:
            return
        self._shown = rollout
        if rollout is None:
            self.update(Text("no rollout in this scenario (blue-green and canary have one)", style="dim"))
            return
        self.update(rollout_renderable(rollout))
