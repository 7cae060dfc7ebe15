"""The comparison report as a console table, JSON, Markdown and CSV (HTML: :mod:`.html`).

Every writer prints from the same report dict (:func:`~swarm_tui.compare.report.build_report`),
so each format carries the same figures.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from swarm_tui.compare.report import METRICS, ROLLOUT_DESCRIPTIVE, ROLLOUT_METRICS, TOPOLOGY_METRICS, fmt, fmt_summary

EXPORTS = (".html", ".json", ".md", ".csv")


def shown(report: dict[str, Any], key: str, s: dict[str, Any] | None) -> str:
    """A summary as printed: median [95 % interval]; a censored saturation point says so."""
    return fmt_summary(s, key, report.get("ramp_top_per_s"))


def label(metric: Any) -> str:
    """A metric's column heading, with its unit."""
    unit = {"/s": "decisions/s"}.get(metric.unit, metric.unit)
    return f"{metric.label} ({unit})" if unit else metric.label


def headline(report: dict[str, Any]) -> list[list[str]]:
    """The headline table: one row per topology, median [95 % CI] of each figure."""
    rows = [["topology", *(label(m) for m in TOPOLOGY_METRICS)]]
    for arm, figures in report["topologies"].items():
        rows.append([arm, *(shown(report, m.key, figures.get(m.key)) for m in TOPOLOGY_METRICS)])
    return rows


def rollout_rows(report: dict[str, Any]) -> list[list[str]]:
    metrics = (*ROLLOUT_METRICS, *ROLLOUT_DESCRIPTIVE)
    rows = [["rollout", *(label(m) for m in metrics)]]
    for arm, figures in report["rollouts"].items():
        rows.append([arm, *(shown(report, m.key, figures.get(m.key)) for m in metrics)])
    return rows


def claimed_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = [
        [
            "pattern",
            "claimed latency",
            "measured latency p50",
            "claimed reliability",
            "measured reliability",
            "measured availability (fault window)",
        ]
    ]
    for r in report["claimed"]:
        latency = fmt_summary(r.get("measured_latency"), "latency_p50_ms")
        rows.append(
            [
                r["pattern"],
                r["claimed_latency"],
                f"{latency} ms" if latency != "-" else "-",
                r["claimed_reliability"],
                fmt_summary(r.get("measured_reliability"), "success_rate"),
                fmt_summary(r.get("measured_availability"), "availability"),
            ]
        )
    return rows


def significant(report: dict[str, Any]) -> list[str]:
    """One line per real difference."""
    out = []
    for t in report["differences"]:
        if not t["significant"]:
            continue
        m = METRICS[t["metric"]]
        worse = t["b"] if t["better"] == t["a"] else t["a"]
        med = {t["a"]: t["median_a"], t["b"]: t["median_b"]}
        out.append(
            f"{m.label}: {t['better']} {fmt(med[t['better']], t['metric'])} vs {worse} "
            f"{fmt(med[worse], t['metric'])} (Cliff's delta {abs(t['cliffs_delta']):.2f} {t['magnitude']}, "
            f"Holm p {t['p_holm']:.2g})"
        )
    return out


def not_significant(report: dict[str, Any]) -> list[str]:
    out = []
    for t in report["differences"]:
        if t["significant"]:
            continue
        why = "too few seeds to test" if t["p_holm"] is None else f"Holm p {t['p_holm']:.2g}"
        out.append(f"{METRICS[t['metric']].label}: {t['a']} vs {t['b']}: no significant difference ({why})")
    return out


def context_line(report: dict[str, Any]) -> str:
    seeds = report["seeds"]
    span = f"{seeds[0]}..{seeds[-1]}" if seeds else "none"
    workload = report["workload"]
    text = (
        f"workload {workload.get('name')} on the {report['backend']} backend, seeds {span} "
        f"({report['units']['finished']} of {report['units']['planned']} runs"
    )
    text += ", INTERRUPTED)" if report["interrupted"] else ")"
    return text


def _rich_table(rows: list[list[str]], title: str) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for head in rows[0]:
        table.add_column(head, overflow="fold")
    for row in rows[1:]:
        table.add_row(*row)
    return table


def console_report(report: dict[str, Any]) -> RenderableType:
    """What ``swarm-tui compare`` prints: the headline tables, the old table beside the measured
    one, the real differences and the recommendations."""
    parts: list[RenderableType] = [Text(context_line(report), style="bold")]
    parts.append(_rich_table(headline(report), "Topologies: median [95 % CI] over seeds"))
    if report["rollouts"]:
        parts.append(_rich_table(rollout_rows(report), "Rollouts: median [95 % CI] over seeds"))
    parts.append(_rich_table(claimed_rows(report), "The replaced system's table, beside what was measured"))
    lines = significant(report)
    parts.append(Text(f"Significant differences ({len(lines)} of {len(report['differences'])} tests):", style="bold"))
    parts += [Text(f"  {line}") for line in lines] or [Text("  none: no significant difference")]
    parts.append(Text("Recommendations (from significant differences only):", style="bold"))
    for rec in report["recommendations"]:
        parts.append(Text(f"  {rec['use_case']} (claimed: {rec['claim']})"))
        parts += [Text(f"    {f['text']}") for f in rec["findings"]]
        parts += [Text(f"    -> {v}") for v in rec["verdicts"]]
        if rec["not_measured"]:
            parts.append(Text(f"    not measured here: {rec['not_measured']}", style="dim"))
    parts.append(Text(report["rule"], style="dim"))
    return Group(*parts)


def _md_table(rows: list[list[str]]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    out = ["| " + " | ".join(cell(c) for c in rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows[1:]]
    return out


def to_markdown(report: dict[str, Any]) -> str:
    lines = ["# swarm-tui compare", "", context_line(report) + ".", ""]
    if report["interrupted"]:
        lines += ["**Interrupted**: the figures are those of the runs that finished.", ""]
    lines += ["## Topologies", "", "Median over seeds, 95 % bootstrap interval in brackets.", ""]
    lines += _md_table(headline(report))
    if report["rollouts"]:
        lines += ["", "## Rollouts", ""]
        lines += _md_table(rollout_rows(report))
    lines += ["", "## The replaced system's table, beside what was measured", ""]
    rows = claimed_rows(report)
    rows[0].append("what the measured figure is")
    for row, claim in zip(rows[1:], report["claimed"], strict=True):
        row.append(claim["what"])
    lines += _md_table(rows)
    lines += ["", "## Differences", "", report["rule"], ""]
    lines += [f"- {x}" for x in significant(report)] or ["- no significant difference"]
    lines += ["", "Not significant:", ""]
    lines += [f"- {x}" for x in not_significant(report)] or ["- (none)"]
    lines += ["", "## Recommendations", ""]
    for rec in report["recommendations"]:
        lines.append(f"### {rec['use_case']} (claimed: {rec['claim']})")
        lines.append("")
        lines += [f"- {f['text']}" for f in rec["findings"]]
        lines += [f"- verdict: {v}" for v in rec["verdicts"]]
        if rec["not_measured"]:
            lines.append(f"- not measured here: {rec['not_measured']}")
        lines.append("")
    errors = report["units"]["errors"]
    if errors:
        lines += ["## Runs that errored", ""] + [f"- {e['unit']}: {e['error']}" for e in errors] + [""]
    return "\n".join(lines) + "\n"


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, allow_nan=False) + "\n"


def to_csv(report: dict[str, Any]) -> str:
    """One row per arm and metric: median, interval, seeds; then one row per run and metric."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["section", "family", "arm", "version", "seed", "metric", "value", "ci_low", "ci_high", "n"])
    for family, group in (("topology", report["topologies"]), ("rollout", report["rollouts"])):
        for arm, figures in group.items():
            for metric, s in figures.items():
                writer.writerow(
                    ["summary", family, arm, "", "", metric, s["median"], s["ci_low"], s["ci_high"], s["n"]]
                )
    for t in report["differences"]:
        writer.writerow(
            [
                "test",
                t["family"],
                f"{t['a']} vs {t['b']}",
                "",
                "",
                t["metric"],
                t["cliffs_delta"],
                t["p"],
                t["p_holm"],
                "",
            ]
        )
    for run in report["runs"]:
        for key, value in run.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and key not in ("seed",):
                writer.writerow(
                    ["run", run["kind"], run["arm"], run.get("version", ""), run["seed"], key, value, "", "", ""]
                )
    return buf.getvalue()


def writer_for(path: str | Path) -> Callable[[dict[str, Any]], str]:
    """The writer of an export path's format. Raises ValueError for an unknown extension."""
    suffix = Path(path).suffix.lower()
    if suffix == ".html":
        from swarm_tui.compare.html import to_html

        return to_html
    writers: dict[str, Callable[[dict[str, Any]], str]] = {".json": to_json, ".md": to_markdown, ".csv": to_csv}
    if suffix not in writers:
        raise ValueError(
            f"cannot export to {path}: unknown extension {suffix or '(none)'!r} (use {', '.join(EXPORTS)})"
        )
    return writers[suffix]


def readme_section(report: dict[str, Any]) -> str:
    """The headline figures as the README quotes them (a slow test checks the README against a
    fresh run of ``swarm-tui compare``)."""
    lines = [f"Measured by `swarm-tui compare` ({context_line(report)}); median [95 % interval] over seeds:", ""]
    lines += _md_table(headline(report))
    lines += [""]
    lines += _md_table(rollout_rows(report))
    lines += ["", "The replaced system's table, beside what was measured:", ""]
    lines += _md_table(claimed_rows(report))
    return "\n".join(lines) + "\n"
