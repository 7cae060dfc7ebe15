"""The scenario's checks (so far, then final) and the end-of-run view.

A check has three states while the run goes on: pending (it cannot be judged yet: its fault has
not happened, or it is judged only at the end), holding so far, failed; at the end, passed or
failed. Each state has its own glyph, so it reads without color.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.widgets import Static

from swarm_tui.engine.projection import CheckRow, Snapshot
from swarm_tui.ui.format import count, figure, observed

CHECK_GLYPH: dict[str, tuple[str, str]] = {
    "passed": ("✔", "green"),
    "holding": ("✓", "green"),
    "pending": ("…", "dim"),
    "failed": ("✘", "bold red"),
}
CHECK_MEANING = {
    "passed": "passed",
    "holding": "holding so far",
    "pending": "pending: cannot be judged yet",
    "failed": "failed",
}


def checks_head(checks: tuple[CheckRow, ...], final: bool) -> str:
    states = [c.state for c in checks]
    if final:
        return f"final: {states.count('passed')}/{len(checks)} passed"
    parts = [f"{states.count('holding')} holding", f"{states.count('pending')} pending"]
    if states.count("failed"):
        parts.append(f"{states.count('failed')} failing")
    return "so far: " + ", ".join(parts)


def checks_text(checks: tuple[CheckRow, ...], final: bool) -> Text:
    text = Text()
    text.append(checks_head(checks, final) + "\n", style="bold" if final else "dim")
    for c in checks:
        glyph, style = CHECK_GLYPH.get(c.state, ("?", ""))
        text.append(f"{glyph} ", style=style)
        text.append(c.name + "\n", style="dim" if c.state == "pending" else "")
        text.append("  expected ", style="dim")
        text.append(c.expected)
        text.append(" · observed ", style="dim")
        text.append(observed(c.observed) + "\n", style=style)
    text.rstrip()
    return text


class ChecksPanel(Static):
    """The scenario's checks, expected and observed: so far while it runs, then final."""

    DEFAULT_CSS = """
    ChecksPanel { height: auto; }
    """

    _shown: object = ()
    empty_text = "checks appear once the scenario has measured enough"

    def show(self, checks: tuple[CheckRow, ...], final: bool) -> None:
        if (checks, final) == self._shown:
            return
        self._shown = (checks, final)
        if not checks:
            self.update(Text(self.empty_text, style="dim"))
            return
        self.update(checks_text(checks, final))


@dataclass(frozen=True)
class RunEnd:
    """What the end-of-run view says."""

    verdict: str  # passed | failed | error | stopped
    text: Text


def key_figures(snap: Snapshot) -> list[tuple[str, str]]:
    """The figures worth a glance at the end: agents, tasks, errors, p95, P&L (what was measured)."""
    agents = snap.agents
    tasks = sum(a.tasks for a in agents)
    errors = sum(a.errors for a in agents)
    live = sum(1 for a in agents if a.state in ("healthy", "degraded"))
    out = [("scenario time", figure(round(snap.t, 2), " s")), ("agents", f"{count(live)} live at the end")]
    if tasks:
        out.append(("tasks", count(tasks)))
        out.append(("errors", f"{count(errors)} ({errors / tasks:.1%})"))
    p95 = snap.series.get("p95_ms", ())
    if any(p95):
        out.append(("p95 latency, last second", figure(p95[-1], " ms")))
    pnls = [a.pnl for a in agents if a.pnl is not None]
    if pnls:
        out.append(("P&L", f"{sum(pnls):+,.2f}"))
    if snap.rollout is not None:
        out.append(
            ("rollout", f"{snap.rollout.kind} {snap.rollout.status}, step {snap.rollout.step}/{snap.rollout.steps}")
        )
    return out


def end_of_run(snap: Snapshot, journal: Path | None) -> RunEnd:
    """The verdict, the key figures, the journal and how to export it."""
    checks = snap.checks
    failed = [c for c in checks if not c.passed]
    if snap.status == "error":
        verdict, style, line = "error", "bold red", f"ERROR: {snap.error or 'the scenario failed to run'}"
    elif snap.status == "stopped":
        verdict, style, line = "stopped", "bold yellow", "STOPPED before the end"
    elif failed:
        verdict, style, line = "failed", "bold red", f"FAILED: {len(failed)} of {len(checks)} checks failed"
    else:
        verdict, style, line = "passed", "bold green", f"PASSED: all {len(checks)} checks passed"
    text = Text()
    text.append(line + "\n", style=style)
    for name, value in key_figures(snap):
        text.append(f"{name}: ", style="dim")
        text.append(value + "   ")
    text.rstrip()
    if journal is not None:
        text.append("\njournal: ", style="dim")
        text.append(str(journal))
        text.append("\nexport: ", style="dim")
        text.append("swarm-tui report JOURNAL --export results.json")
        text.append(" (or .md .xml .csv)", style="dim")
        text.append("\nreplay: ", style="dim")
        text.append("swarm-tui replay JOURNAL")
    text.append("\nctrl+r runs it again · o picks another", style="dim")
    return RunEnd(verdict, text)


class EndPanel(Static):
    """Shown when the run has ended: the verdict first, then the key figures and the journal."""

    DEFAULT_CSS = """
    EndPanel { height: auto; display: none; }
    """

    verdict: str | None = None
    _shown: object = None

    def show(self, snap: Snapshot | None, journal: Path | None) -> None:
        ended = snap is not None and snap.status in ("done", "error", "stopped")
        self.display = ended
        if snap is None or not ended:
            self.verdict = None
            return
        key = (snap.status, snap.checks, round(snap.t, 1), journal)
        if key == self._shown:
            return
        self._shown = key
        end = end_of_run(snap, journal)
        self.verdict = end.verdict
        self.update(end.text)
