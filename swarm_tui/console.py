"""Terminal output of the headless runner: a live line per scenario, then a summary table."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from swarm_tui.engine.scenario import Scenario, ScenarioContext
from swarm_tui.results.model import RunResult, ScenarioResult

STATUS_STYLE = {"passed": "green", "failed": "red", "error": "bold red", "running": "yellow", "pending": "dim"}
STATUS_GLYPH = {"passed": "✔", "failed": "✘", "error": "!", "running": "…", "pending": "·"}


@dataclass
class _Line:
    id: str
    status: str = "pending"
    started: float | None = None
    elapsed: float = 0.0
    checks: str = ""
    context: ScenarioContext | None = None


@dataclass
class LiveProgress:
    """One line per scenario: status, elapsed wall time, scenario time, checks passed."""

    console: Console
    scenarios: list[Scenario]
    lines: dict[str, _Line] = field(default_factory=dict)
    _live: Live | None = None
    _current: str | None = None

    def __post_init__(self) -> None:
        self.lines = {s.id: _Line(s.id) for s in self.scenarios}

    def __enter__(self) -> LiveProgress:
        self._live = Live(self, console=self.console, refresh_per_second=8, transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def on_start(self, scenario: Scenario) -> None:
        line = self.lines[scenario.id]
        line.status = "running"
        line.started = time.perf_counter()
        self._current = scenario.id

    def on_context(self, ctx: ScenarioContext) -> None:
        if self._current is not None:
            self.lines[self._current].context = ctx

    def on_finish(self, result: ScenarioResult) -> None:
        line = self.lines[result.id]
        line.status = result.status
        line.elapsed = result.duration_s
        line.checks = f"{result.checks_passed}/{len(result.checks)}"
        line.context = None
        if self._live is not None:
            self._live.refresh()

    def __rich__(self) -> RenderableType:
        table = Table.grid(padding=(0, 2))
        for _ in range(5):
            table.add_column()
        for line in self.lines.values():
            elapsed = line.elapsed
            sim = ""
            if line.status == "running" and line.started is not None:
                elapsed = time.perf_counter() - line.started
                if line.context is not None:
                    sim = f"t={line.context.clock.now():.1f}s"
            style = STATUS_STYLE[line.status]
            table.add_row(
                Text(STATUS_GLYPH[line.status], style=style),
                Text(line.id, style="bold" if line.status == "running" else ""),
                Text(line.status, style=style),
                Text(f"{elapsed:6.2f}s" if line.status != "pending" else "", style="dim"),
                Text(f"checks {line.checks}" if line.checks else sim, style="dim"),
            )
        return table


def summary_table(result: RunResult) -> Group:
    table = Table(title=f"run {result.run_id} · backend {result.backend} · seed {result.seed}", title_justify="left")
    table.add_column("scenario", no_wrap=True, min_width=20)
    table.add_column("status")
    table.add_column("checks", justify="right")
    table.add_column("decisions", justify="right")
    table.add_column("success", justify="right")
    table.add_column("p95 ms", justify="right")
    table.add_column("recovery s", justify="right")
    table.add_column("wall s", justify="right")
    for s in result.scenarios:
        m = s.metrics
        recovery = m.get("recovery_s")
        table.add_row(
            s.id,
            Text(s.status, style=STATUS_STYLE.get(s.status, "")),
            f"{s.checks_passed}/{len(s.checks)}",
            str(m.get("decisions", 0)),
            f"{m.get('success_rate', 0):.3f}",
            f"{m.get('latency_ms', {}).get('p95', 0):.1f}",
            f"{recovery:.2f}" if recovery is not None else "-",
            f"{s.duration_s:.2f}",
        )
    parts: list[RenderableType] = [table]
    for s in result.scenarios:
        if s.status == "passed":
            continue
        if s.error:
            parts.append(Text(f"{s.id}: error: {s.error}", style="bold red"))
        for c in s.checks:
            if not c["passed"]:
                parts.append(
                    Text(f"{s.id}: {c['name']}: expected {c['expected']}, observed {c['observed']}", style="red")
                )
    counts = result.counts()
    total = sum(s.duration_s for s in result.scenarios)
    verdict = "interrupted" if result.interrupted else ("all passed" if result.passed else "FAILED")
    parts.append(
        Text(
            f"{counts['passed']} passed, {counts['failed']} failed, {counts['error']} errors "
            f"in {total:.2f} s: {verdict}",
            style="green" if result.passed else "bold red",
        )
    )
    return Group(*parts)


def one_line(result: RunResult) -> str:
    counts = result.counts()
    total = sum(s.duration_s for s in result.scenarios)
    stopped = ", interrupted" if result.interrupted else ""
    return (
        f"{counts['passed']} passed, {counts['failed']} failed, {counts['error']} errors in {total:.2f} s "
        f"(run {result.run_id}{stopped})"
    )
