"""Exporters: the format is picked from the file's extension.

* ``.json``: the full results (schema 1, see the README).
* ``.jsonl``: the event journal (one event per line), written as the run goes (see journal.py).
* ``.xml``: JUnit: one testsuite per pattern, one testcase per scenario, one failure per failed check.
* ``.md``: a report with every scenario's checks and its figures, one table per workload.
* ``.csv``: one row per scenario and metric.
* ``.html``: one self-contained page with each scenario's time series (see html.py), drawn from a
  :class:`~swarm_tui.results.timeline.Timeline` of the run's events.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from swarm_tui.engine.redact import scrub
from swarm_tui.results.comparison import FIGURES, groups
from swarm_tui.results.model import RunResult, ScenarioResult
from swarm_tui.results.timeline import Timeline

EXPORT_FORMATS = {
    ".json": "full results",
    ".jsonl": "event journal",
    ".xml": "JUnit XML",
    ".md": "Markdown report",
    ".csv": "metrics, one row per scenario and metric",
    ".html": "self-contained HTML report with each scenario's time series",
}


class ExportError(ValueError):
    """An export path that cannot be used (unknown extension, missing folder)."""


def export_format(path: str | Path) -> str:
    """The format of an export path, from its extension; raises ExportError if unknown."""
    suffix = Path(path).suffix.lower()
    if suffix not in EXPORT_FORMATS:
        known = ", ".join(EXPORT_FORMATS)
        raise ExportError(f"cannot export to {path}: unknown extension {suffix or '(none)'!r} (use {known})")
    return suffix


def check_export_path(path: str | Path) -> None:
    """Fail early (before a run) on a path that cannot be written."""
    export_format(path)
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise ExportError(f"cannot export to {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise ExportError(f"cannot export to {path}: folder {parent} is not writable")
    if Path(path).is_dir():
        raise ExportError(f"cannot export to {path}: it is a folder")


def _umask() -> int:
    """The process's umask (read from /proc where it can be, so nothing changes it even briefly)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, text: str) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a file. Secrets (the
    E2B key, the values of agent programs' env) are masked, whatever the text holds. The file
    gets the mode any new file would (not the temporary file's 0600): exports are shared."""
    path = Path(path)
    text = scrub(text)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.resolve().parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# -- JSON ----------------------------------------------------------------------------------------
def to_json(result: RunResult) -> str:
    return json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n"


# -- JUnit XML -------------------------------------------------------------------------------------
def _failure_text(check: dict[str, Any]) -> str:
    return f"{check['name']}: expected {check['expected']}, observed {check['observed']}"


def to_junit(result: RunResult) -> str:
    root = ET.Element("testsuites", name="swarm-tui", tests=str(len(result.scenarios)))
    total_failures = total_errors = 0
    total_time = 0.0
    by_pattern: dict[str, list[ScenarioResult]] = {}
    for s in result.scenarios:
        by_pattern.setdefault(s.pattern, []).append(s)
    for pattern, group in by_pattern.items():
        failures = sum(1 for s in group if s.status == "failed")
        errors = sum(1 for s in group if s.status == "error")
        elapsed = sum(s.duration_s for s in group)
        total_failures += failures
        total_errors += errors
        total_time += elapsed
        suite = ET.SubElement(
            root,
            "testsuite",
            name=pattern,
            tests=str(len(group)),
            failures=str(failures),
            errors=str(errors),
            skipped="0",
            time=f"{elapsed:.3f}",
        )
        props = ET.SubElement(suite, "properties")
        for key, value in (("run_id", result.run_id), ("backend", result.backend), ("seed", str(result.seed))):
            ET.SubElement(props, "property", name=key, value=value)
        for s in group:
            case = ET.SubElement(
                suite, "testcase", classname=f"swarm-tui.{pattern}", name=s.id, time=f"{s.duration_s:.3f}"
            )
            if s.status == "error":
                err = ET.SubElement(case, "error", message=s.error or "error", type="ScenarioError")
                err.text = s.error or ""
            for check in s.checks:
                if not check.get("passed"):
                    fail = ET.SubElement(case, "failure", message=_failure_text(check), type="CheckFailed")
                    fail.text = _failure_text(check)
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(
                f"[{'PASS' if c['passed'] else 'FAIL'}] {c['name']}: expected {c['expected']}, observed {c['observed']}"
                for c in s.checks
            )
    root.set("failures", str(total_failures))
    root.set("errors", str(total_errors))
    root.set("time", f"{total_time:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# -- Markdown ------------------------------------------------------------------------------------
def _md(value: Any) -> str:
    """A value for a Markdown table cell."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(result: RunResult) -> str:
    counts = result.counts()
    lines = [
        "# swarm-tui results",
        "",
        f"- run id: `{result.run_id}`",
        f"- backend: {result.backend}, seed: {result.seed}",
        f"- started: {result.started_at}, finished: {result.finished_at}",
        f"- scenarios: {len(result.scenarios)} ({counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['error']} errors)" + (" - **interrupted**" if result.interrupted else ""),
        "",
        "## Scenarios",
        "",
        "| scenario | status | checks | decisions | success | p50 ms | p95 ms | recovery s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in result.scenarios:
        m = s.metrics
        lat = m.get("latency_ms", {})
        lines.append(
            f"| {s.id} | {s.status} | {s.checks_passed}/{len(s.checks)} | {_md(m.get('decisions'))} | "
            f"{_md(m.get('success_rate'))} | {_md(lat.get('p50'))} | {_md(lat.get('p95'))} | "
            f"{_md(m.get('recovery_s'))} |"
        )
    lines += ["", "## Checks", ""]
    for s in result.scenarios:
        lines.append(f"### {s.id}: {s.title} ({s.status})")
        lines.append("")
        if s.error:
            lines += [f"Error: {_md(s.error)}", ""]
        if s.checks:
            lines += ["| check | expected | observed | |", "|---|---|---|---|"]
            for c in s.checks:
                lines.append(
                    f"| {_md(c['name'])} | {_md(c['expected'])} | {_md(c['observed'])} | "
                    f"{'pass' if c['passed'] else '**FAIL**'} |"
                )
            lines.append("")
    lines += [
        "## Figures",
        "",
        "One table per workload (scenario, parameters, faults and market): only rows of one table are "
        "comparable. For a controlled comparison across topologies run `swarm-tui compare`.",
    ]
    for group in groups(result.comparison):
        head = group[0]
        lines += ["", f"### {_md(head.get('workload', head.get('pattern')))}", ""]
        keys = [k for k in ("scenario", "status", "mechanisms_off", *FIGURES) if any(k in row for row in group)]
        lines.append("| " + " | ".join(k.replace("_", " ") for k in keys) + " |")
        lines.append("|---" * len(keys) + "|")
        for row in group:
            lines.append("| " + " | ".join(_md(row.get(k)) for k in keys) + " |")
    lines += ["", "## Recommendations", ""]
    lines += [f"- {r}" for r in result.recommendations] or ["- (no figures to compare)"]
    return "\n".join(lines) + "\n"


# -- CSV -----------------------------------------------------------------------------------------
def _flatten(prefix: str, value: Any, out: list[tuple[str, Any]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, list):
        out.append((prefix, json.dumps(value, separators=(",", ":"))))
    else:
        out.append((prefix, value))


def to_csv(result: RunResult) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["run_id", "backend", "seed", "scenario", "pattern", "status", "metric", "value"])
    for s in result.scenarios:
        rows: list[tuple[str, Any]] = []
        _flatten("", s.metrics, rows)
        rows.append(("checks_passed", s.checks_passed))
        rows.append(("checks_total", len(s.checks)))
        rows.append(("duration_s", round(s.duration_s, 4)))
        for metric, value in rows:
            writer.writerow(
                [
                    result.run_id,
                    result.backend,
                    result.seed,
                    s.id,
                    s.pattern,
                    s.status,
                    metric,
                    "" if value is None else value,
                ]
            )
    return buf.getvalue()


WRITERS: dict[str, Callable[[RunResult], str]] = {
    ".json": to_json,
    ".xml": to_junit,
    ".md": to_markdown,
    ".csv": to_csv,
}


def write_export(result: RunResult, path: str | Path, timeline: Timeline | None = None) -> None:
    """Write one export (not .jsonl: the journal is written while the run goes). ``.html`` draws
    the ``timeline`` of the run's events."""
    fmt = export_format(path)
    if fmt == ".jsonl":
        raise ExportError("the .jsonl journal is written during the run, not exported afterwards")
    if fmt == ".html":
        from swarm_tui.results.html import to_html  # plotly is imported only for an HTML export

        atomic_write(Path(path), to_html(result, timeline))
        return
    atomic_write(Path(path), WRITERS[fmt](result))
