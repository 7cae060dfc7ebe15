"""The dashboard's smaller panels: header, events, charts, the control bar and the view tabs."""

from __future__ import annotations

from collections import deque
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, HorizontalScroll, Vertical
from textual.widgets import Button, Input, Label, RichLog, Sparkline, Static

from swarm_tui.engine.projection import EventLine, Snapshot
from swarm_tui.ui.format import count, figure

STATUS_GLYPH = {
    "starting": "◐",
    "running": "▶",
    "paused": "‖",
    "done": "■",
    "error": "✖",
    "stopped": "□",
    "idle": "·",
    "incomplete": "◌",
}


STATUS_STYLE = {
    "running": "green",
    "paused": "yellow",
    "done": "bold",
    "error": "bold red",
    "stopped": "dim",
    "incomplete": "bold yellow",
}


def header_parts(snap: Snapshot, backend: str) -> list[tuple[int, Text]]:
    """The header's parts with their priority (0 always shown; higher goes first when narrow)."""
    replay = snap.total is not None
    parts: list[tuple[int, Text]] = [(4, Text("swarm-tui", style="bold"))]
    if replay:
        parts.append((0, Text.assemble(("replay", "bold reverse"), f" · {snap.backend}")))
    else:
        parts.append((3, Text(snap.backend)))
    parts.append((0, Text(snap.scenario, style="bold")))
    parts.append((5, Text(snap.title)))
    parts.append((6, Text(f"run {snap.run_id}")))
    clock = f"t={snap.t:.1f}s" + (f"/{snap.total:.1f}s" if snap.total is not None else "")
    parts.append((0, Text(clock)))
    speed = f"{snap.speed:g}x" if snap.backend == "mock" or replay else "wall"
    parts.append((0, Text(speed)))
    parts.append(
        (0, Text(f"{STATUS_GLYPH.get(snap.status, '?')} {snap.status}", style=STATUS_STYLE.get(snap.status, "")))
    )
    if snap.error:
        parts.append((1, Text(snap.error, style="red")))
    return parts


def fit(parts: list[tuple[int, Text]], width: int, sep: str = " │ ") -> Text:
    """Join the parts, dropping the least important until the line fits ``width``."""
    kept = list(parts)
    while True:
        size = sum(len(t) for _p, t in kept) + len(sep) * (len(kept) - 1)
        droppable = [p for p, _t in kept if p > 0]
        if size <= width or not droppable:
            break
        worst = max(droppable)
        index = max(i for i, (p, _t) in enumerate(kept) if p == worst)
        del kept[index]
    out = Text()
    for i, (_p, text) in enumerate(kept):
        if i:
            out.append(sep, style="dim")
        out.append_text(text)
    return out


class HeaderBar(Static):
    """Backend, scenario, run id, scenario time, speed and status on one line; when the terminal
    is narrow, time, speed and status stay and the rest gives way."""

    DEFAULT_CSS = """
    HeaderBar { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    """

    _last: tuple[Snapshot | None, str, int] | None = None

    def show(self, snap: Snapshot | None, backend: str) -> None:
        width = max(10, self.size.width - 2)
        if self._last == (snap, backend, width):
            return
        self._last = (snap, backend, width)
        if snap is None:
            parts = [
                (0, Text("swarm-tui", style="bold")),
                (1, Text(backend)),
                (0, Text("no scenario: press o to pick one")),
            ]
        else:
            parts = header_parts(snap, backend)
        self.update(fit(parts, width), layout=False)  # one line, always: no layout pass needed

    def on_resize(self) -> None:
        if self._last is not None:
            snap, backend, _width = self._last
            self._last = None
            self.show(snap, backend)


EVENT_STYLE = {
    "fault_injected": "bold red",
    "failure_detected": "red",
    "failover": "green",
    "scaling": "cyan",
    "rollout_step": "magenta",
    "breaker": "yellow",
    "leader": "green",
    "partition": "bold red",
    "fault_cleared": "green",
    "task": "red",
    "veto": "yellow",
    "scenario_finished": "bold",
    "you": "bold cyan",
}


class FilterInput(Input):
    """The events filter: one line; escape leaves it (and keeps what was typed)."""

    BINDINGS = [Binding("escape", "leave", "Leave the filter", show=False, id="filter_leave")]

    def action_leave(self) -> None:
        self.screen.set_focus(None)


class EventsPanel(Vertical):
    """The event log, filterable by kind or text (``/`` to type, escape to leave)."""

    DEFAULT_CSS = """
    EventsPanel { height: 1fr; }
    EventsPanel > FilterInput { height: 1; border: none; padding: 0 1; background: $surface; }
    EventsPanel > FilterInput:focus { background: $boost; }
    EventsPanel > RichLog { height: 1fr; background: $surface; scrollbar-size-vertical: 1; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lines: deque[EventLine] = deque(maxlen=2000)
        self.filter = ""

    def compose(self) -> ComposeResult:
        yield FilterInput(
            placeholder="/ filters the events (kind or text); escape leaves", id="event-filter", compact=True
        )
        yield RichLog(max_lines=2000, wrap=False, markup=False, highlight=False, id="event-log")

    def _match(self, line: EventLine) -> bool:
        f = self.filter
        return not f or f in line.kind or f in line.text.lower()

    def _write(self, log: RichLog, line: EventLine) -> None:
        text = Text(f"{line.t:8.2f}  ", style="dim")
        text.append(f"{line.kind:<18} ", style=EVENT_STYLE.get(line.kind, "dim"))
        text.append(line.text)
        log.write(text)

    def add(self, lines: list[EventLine]) -> None:
        self.lines.extend(lines)
        # While the app closes, a last tick can come after the log was removed: the lines are
        # kept, nothing is drawn.
        for log in self.query(RichLog):
            for line in lines:
                if self._match(line):
                    self._write(log, line)

    def reset(self) -> None:
        self.lines.clear()
        for log in self.query(RichLog):
            log.clear()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.filter = event.value.strip().lower()
        log = self.query_one(RichLog)
        log.clear()
        for line in self.lines:
            if self._match(line):
                self._write(log, line)


# (series key, title, how its value is written, shown when it never had data)
CHARTS: tuple[tuple[str, str, str, bool], ...] = (
    ("agents", "agents", "count", True),
    ("load", "load (tasks/s)", "count", True),
    ("target", "target (tasks/s)", "figure", False),
    ("vix", "VIX", "figure", False),
    ("p95_ms", "p95 latency ms", "figure", True),
    ("error_rate", "error rate", "percent", True),
    ("pnl", "P&L", "money", False),
)


def chart_value(kind: str, value: float) -> str:
    if kind == "count":
        return count(value)
    if kind == "percent":
        return f"{value:.1%}"
    if kind == "money":
        return f"{value:+,.2f}"
    return figure(value)


class ChartsPanel(Vertical):
    """Sparklines of the run's series (one sample per second of scenario time); a series that
    never had data (no VIX, no trades, no autoscaler target) is left out."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._labels: dict[str, str] = {}

    DEFAULT_CSS = """
    ChartsPanel { height: 1fr; }
    ChartsPanel Label { height: 1; width: 100%; color: $text-muted; }
    ChartsPanel Sparkline { height: 1; margin-bottom: 0; }
    """

    def compose(self) -> ComposeResult:
        for key, title, _kind, _always in CHARTS:
            yield Label(title, id=f"label-{key}")
            yield Sparkline([], id=f"spark-{key}")

    def show(self, series: dict[str, tuple[float, ...]]) -> None:
        if not self.display:
            return  # hidden charts are not computed
        for key, title, kind, always in CHARTS:
            data = list(series.get(key, ()))
            label = self.query_one(f"#label-{key}", Label)
            spark = self.query_one(f"#spark-{key}", Sparkline)
            has_data = always or any(data)
            label.display = spark.display = has_data
            if not has_data:
                continue
            text = f"{title}: {chart_value(kind, data[-1]) if data else '-'}"
            if self._labels.get(key) != text:
                self._labels[key] = text
                label.update(text, layout=False)
            if list(spark.data or []) != data:
                spark.data = data


CONTROLS = (
    ("start", "Start"),
    ("pause", "Pause"),
    ("restart", "Restart"),
    ("speed", "Speed"),
    ("pick", "Scenarios"),
    ("crash", "Crash"),
    ("faults", "Faults…"),
    ("partition", "Partition"),
    ("promote", "Promote"),
    ("rollback", "Rollback"),
    ("scale_up", "+1"),
    ("scale_down", "-1"),
    ("theme", "Theme"),
    ("help", "Help"),
)
# A replay changes nothing: its bar moves through the recording instead.
REPLAY_CONTROLS = (
    ("seek_start", "|<"),
    ("seek_back", "-5s"),
    ("pause", "Pause"),
    ("seek_forward", "+5s"),
    ("seek_end", ">|"),
    ("speed", "Speed"),
    ("theme", "Theme"),
    ("help", "Help"),
)


class ControlBar(HorizontalScroll):
    """A button for every action (keys and the command palette do the same)."""

    DEFAULT_CSS = """
    ControlBar { height: 1; background: $panel; scrollbar-size-horizontal: 0; }
    ControlBar > Button { height: 1; min-width: 5; border: none; margin: 0 1 0 0; padding: 0 1;
                          background: $surface; }
    ControlBar > Button:hover { background: $primary 40%; }
    ControlBar > Button:focus { text-style: bold reverse; }
    """

    def __init__(self, controls: tuple[tuple[str, str], ...] = CONTROLS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.controls = controls

    def compose(self) -> ComposeResult:
        for action, label in self.controls:
            yield Button(label, id=f"btn-{action}", compact=True)


class ViewTabs(Horizontal):
    """In the compact layout one panel shows at a time; this line says which (v cycles)."""

    DEFAULT_CSS = """
    ViewTabs { height: 1; display: none; background: $panel; }
    ViewTabs > Static { width: auto; padding: 0 1; }
    ViewTabs > Static.-current { text-style: bold reverse; }
    """

    def compose(self) -> ComposeResult:
        for key, label in VIEWS:
            yield Static(label, id=f"tab-{key}")

    def show(self, current: str) -> None:
        for key, _label in VIEWS:
            self.query_one(f"#tab-{key}").set_class(key == current, "-current")


VIEWS = (("topology", "Swarm"), ("agents", "Agents"), ("events", "Events"), ("charts", "Charts"), ("checks", "Checks"))
