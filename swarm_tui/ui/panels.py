"""The dashboard's panels: header, agents table, events, charts, rollout, checks, controls."""

from __future__ import annotations

from collections import deque
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, HorizontalScroll, Vertical
from textual.widgets import Button, DataTable, Input, Label, RichLog, Sparkline, Static

from swarm_tui.engine.projection import AgentRow, CheckRow, EventLine, RolloutView, Snapshot
from swarm_tui.ui.topology import STATE_GLYPH

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


class HeaderBar(Static):
    """Backend, scenario, run id, simulated time, speed and status, on one line."""

    DEFAULT_CSS = """
    HeaderBar { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    """

    def show(self, snap: Snapshot | None, backend: str) -> None:
        text = Text()
        text.append("swarm-tui", style="bold")
        if snap is None:
            text.append(f" │ {backend} │ no scenario: press o to pick one")
            self.update(text, layout=False)
            return
        replay = snap.total is not None
        if replay:
            text.append(" │ ")
            text.append("replay", style="bold reverse")
            text.append(f" · {snap.backend} │ ")
        else:
            text.append(f" │ {snap.backend} │ ")
        text.append(snap.scenario, style="bold")
        text.append(f" · {snap.title} │ run {snap.run_id} │ t={snap.t:7.2f}s")
        if snap.total is not None:
            text.append(f" / {snap.total:.2f}s")
        speed = f"{snap.speed:g}x" if snap.backend == "mock" or replay else "wall"
        text.append(" │ " + speed + " │ ")
        style = {
            "running": "green",
            "paused": "yellow",
            "done": "bold",
            "error": "bold red",
            "stopped": "dim",
            "incomplete": "bold yellow",
        }.get(snap.status, "")
        text.append(f"{STATUS_GLYPH.get(snap.status, '?')} {snap.status}", style=style)
        if snap.error:
            text.append(f" │ {snap.error}", style="red")
        self.update(text, layout=False)  # one line, always: no layout pass needed


COLUMNS = (
    ("id", "id"),
    ("role", "role"),
    ("strategy", "strategy"),
    ("ver", "version"),
    ("state", "state"),
    ("sandbox", "sandbox"),
    ("hb s", "last_heartbeat"),
    ("tasks", "tasks"),
    ("err", "errors"),
    ("p95", "p95_ms"),
    ("cpu%", "cpu_pct"),
    ("MB", "mem_mb"),
    ("P&L", "pnl"),
)


def rich_color(value: str | None) -> str | None:
    """A theme variable's color as Rich understands it (ANSI names lose their prefix)."""
    if not value:
        return None
    return value[5:] if value.startswith("ansi_") else value


def _cell(field: str, row: AgentRow, colors: dict[str, str | None], now: float) -> Any:
    value = getattr(row, field)
    if value is None:
        return "-"
    if field == "last_heartbeat":
        return f"{max(0.0, now - value):.1f}"
    if field == "state":
        return Text(f"{STATE_GLYPH.get(value, '?')} {value}", style=colors.get(value) or "")
    if field == "version":
        text = f"{value} {row.pool}" if row.pool != "stable" else value
        return text if row.program == "built-in" else f"{text} · {row.program}"  # the user's program
    if field == "p95_ms":
        return f"{value:.1f}"
    if field in ("cpu_pct", "mem_mb"):
        return f"{value:.0f}"
    if field == "pnl":
        return f"{value:+.2f}"
    return value


class AgentsTable(DataTable):
    """Every agent; updated by diff (only changed cells); sortable by clicking a column."""

    DEFAULT_CSS = """
    AgentsTable { height: 1fr; }
    """
    VISIBLE_ONLY_ABOVE = 400
    ADD_PER_UPDATE = 1000

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._values: dict[str, tuple[Any, ...]] = {}
        self._raw: dict[str, AgentRow] = {}
        self._sort: tuple[str, bool] | None = None
        self.cell_updates = 0

    def on_mount(self) -> None:
        for label, key in COLUMNS:
            self.add_column(label, key=key)

    def restyle(self) -> None:
        """The theme changed: every state cell is redrawn in the new colors."""
        self._values = {k: () for k in self._values}
        self._raw.clear()

    def show(self, rows: tuple[AgentRow, ...], now: float, selected: str | None = None) -> None:
        """Update by diff: rows come and go by key; only changed cells are written.

        Large tables (hundreds of rows and up) update only the rows on screen, and take new rows
        a thousand at a time, so the dashboard stays responsive with 10,000 agents.
        """
        fields = [key for _label, key in COLUMNS]
        hb_index = fields.index("last_heartbeat")
        variables = self.app.theme_variables
        colors = {s: rich_color(variables.get(f"state-{s}")) for s in STATE_GLYPH}
        incoming = {r.id: r for r in rows}
        changed_rows = False
        with self.app.batch_update():
            for agent_id in [k for k in self._values if k not in incoming]:
                self.remove_row(agent_id)
                del self._values[agent_id]
                self._raw.pop(agent_id, None)
                changed_rows = True
            on_screen: set[str] | None = None
            if self.row_count > self.size.height:
                first = int(self.scroll_y)
                keys = [r.key.value for r in self.ordered_rows[first : first + self.size.height + 2]]
                on_screen = {k for k in keys if k is not None}
            visible = on_screen if len(incoming) > self.VISIBLE_ONLY_ABOVE else None
            added = 0
            for agent_id, row in incoming.items():
                old = self._values.get(agent_id)
                if old is None:
                    if added >= self.ADD_PER_UPDATE:
                        continue  # the rest arrive on the next updates
                    values = tuple(_cell(f, row, colors, now) for f in fields)
                    self.add_row(*values, key=agent_id)
                    self._values[agent_id] = values
                    self._raw[agent_id] = row
                    changed_rows = True
                    added += 1
                    continue
                if visible is not None and agent_id not in visible:
                    continue
                if old and self._raw.get(agent_id) == row:
                    # Unchanged agent: only its heartbeat age moves (redrawn only on screen).
                    if on_screen is not None and agent_id not in on_screen:
                        continue
                    hb = _cell("last_heartbeat", row, colors, now)
                    if hb != old[hb_index]:
                        self.update_cell(agent_id, "last_heartbeat", hb)
                        self.cell_updates += 1
                        self._values[agent_id] = (*old[:hb_index], hb, *old[hb_index + 1 :])
                    continue
                values = tuple(_cell(f, row, colors, now) for f in fields)
                for i, (f, new) in enumerate(zip(fields, values, strict=True)):
                    if i >= len(old) or new != old[i]:
                        self.update_cell(agent_id, f, new)
                        self.cell_updates += 1
                self._values[agent_id] = values
                self._raw[agent_id] = row
            if changed_rows and self._sort is not None:
                self.sort(self._sort[0], key=_sort_key, reverse=self._sort[1])
        if changed_rows and selected is not None:
            # Rows came or went: keep the cursor on the selected agent (selection is otherwise
            # moved by events only, so a timer never fights the user's cursor).
            self.select(selected)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        reverse = self._sort is not None and self._sort[0] == key and not self._sort[1]
        self._sort = (key, reverse)
        self.sort(key, key=_sort_key, reverse=reverse)

    def select(self, agent_id: str) -> None:
        if agent_id in self._values and self.row_count:
            index = self.get_row_index(agent_id)
            if index != self.cursor_row:
                self.move_cursor(row=index)


def _sort_key(value: Any) -> Any:
    if isinstance(value, Text):
        value = value.plain
    if isinstance(value, str):
        try:
            return (0, float(value))
        except ValueError:
            return (1, value)
    return (0, value)


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
}


class EventsPanel(Vertical):
    """The event log, filterable by kind or text."""

    DEFAULT_CSS = """
    EventsPanel { height: 1fr; }
    EventsPanel > Input { height: 1; border: none; padding: 0 1; background: $surface; }
    EventsPanel > RichLog { height: 1fr; background: $surface; scrollbar-size-vertical: 1; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lines: deque[EventLine] = deque(maxlen=2000)
        self.filter = ""

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter events (kind or text), / to focus", id="event-filter")
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
        log = self.query_one(RichLog)
        for line in lines:
            self.lines.append(line)
            if self._match(line):
                self._write(log, line)

    def reset(self) -> None:
        self.lines.clear()
        self.query_one(RichLog).clear()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.filter = event.value.strip().lower()
        log = self.query_one(RichLog)
        log.clear()
        for line in self.lines:
            if self._match(line):
                self._write(log, line)


CHARTS = (
    ("agents", "agents"),
    ("load", "load (tasks/s)"),
    ("target", "target (tasks/s)"),
    ("vix", "VIX"),
    ("p95_ms", "p95 latency ms"),
    ("error_rate", "error rate"),
    ("pnl", "P&L"),
)


class ChartsPanel(Vertical):
    """Sparklines of the run's series (one sample per second of scenario time)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._labels: dict[str, str] = {}

    DEFAULT_CSS = """
    ChartsPanel { height: 1fr; }
    ChartsPanel Label { height: 1; width: 100%; color: $text-muted; }
    ChartsPanel Sparkline { height: 1; margin-bottom: 0; }
    """

    def compose(self) -> ComposeResult:
        for key, title in CHARTS:
            yield Label(title, id=f"label-{key}")
            yield Sparkline([], id=f"spark-{key}")

    def show(self, series: dict[str, tuple[float, ...]]) -> None:
        if not self.display:
            return  # hidden charts are not computed
        for key, title in CHARTS:
            data = list(series.get(key, ()))
            if key == "target" and not any(data):
                text, data = f"{title}: -", []
            else:
                last = data[-1] if data else 0.0
                text = f"{title}: {last:.3f}" if key == "error_rate" else f"{title}: {last:,.1f}"
            if self._labels.get(key) != text:
                self._labels[key] = text
                self.query_one(f"#label-{key}", Label).update(text, layout=False)
            spark = self.query_one(f"#spark-{key}", Sparkline)
            if list(spark.data or []) != data:
                spark.data = data


class RolloutPanel(Static):
    """Step n of N, target and actual weights, each analysis measurement and its decision."""

    DEFAULT_CSS = """
    RolloutPanel { height: auto; max-height: 16; }
    """

    _shown: object = ()

    def show(self, rollout: RolloutView | None) -> None:
        if rollout == self._shown:
            return
        self._shown = rollout
        if rollout is None:
            self.update(Text("no rollout in this scenario (blue-green and canary have one)", style="dim"))
            return
        head = Text()
        head.append(f"{rollout.kind} · step {rollout.step}/{rollout.steps} · {rollout.status}\n", style="bold")
        weights = " ".join(f"{k} {v:.0f}%" for k, v in sorted(rollout.weights.items()))
        actual = " ".join(f"{k} {v:.1f}%" for k, v in sorted(rollout.actual.items())) or "-"
        head.append(f"target {weights}  ·  actual {actual}\n")
        table = Table(box=None, padding=(0, 1), show_header=True, header_style="dim", expand=True)
        for col in ("step", "target", "actual", "analysis", "decision"):
            table.add_column(col)
        for entry in rollout.log:
            table.add_row(
                str(entry["step"]),
                f"{entry['target']:.0f}%",
                f"{entry['actual']:.1f}%",
                _analysis_text(entry.get("analysis", {})),
                Text(entry["decision"], style=_decision(entry)),
            )
        self.update(_stack(head, table))


def _stack(head: Text, table: Table) -> Table:
    grid = Table.grid(expand=True)
    grid.add_row(head)
    grid.add_row(table)
    return grid


def _decision(entry: dict[str, Any]) -> str:
    return {"rollback": "bold red", "abort": "bold red", "promote": "bold green"}.get(entry["decision"], "green")


def _analysis_text(analysis: dict[str, Any]) -> Text:
    text = Text()
    names = {"success_ratio": "success", "p95_ratio": "p95"}
    ops = {">=": "≥", "<=": "≤"}
    for m in analysis.get("measurements", []):
        mark = "✔" if m["passed"] else "✘"
        text.append(
            f"{mark}{names.get(m['name'], m['name'])} {m['value']:.2f}{ops.get(m['op'], m['op'])}{m['threshold']:g} ",
            style="green" if m["passed"] else "bold red",
        )
    if "green_error_rate" in analysis:
        ok = analysis.get("healthy", True)
        text.append(
            f"{'✔' if ok else '✘'}errors {analysis['green_error_rate']:.2f} of "
            f"{analysis['green_requests']} ≤{analysis['max_error_rate']:g}",
            style="green" if ok else "bold red",
        )
    if analysis.get("manual"):
        text.append(" (by hand)", style="yellow")
    return text


CHECK_GLYPH = {
    "passed": ("✔", "green"),
    "holding": ("✔", "green"),
    "pending": ("…", "dim"),
    "failed": ("✘", "bold red"),
}


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
        text = Text()
        states = [c.state for c in checks]
        if final:
            head = f"final: {states.count('passed')}/{len(checks)} passed"
        else:
            parts = [f"{states.count('holding')} holding", f"{states.count('pending')} pending"]
            if states.count("failed"):
                parts.append(f"{states.count('failed')} failed")
            head = "so far: " + ", ".join(parts)
        text.append(head + "\n", style="bold" if final else "dim")
        for c in checks:
            glyph, good = CHECK_GLYPH.get(c.state, ("?", ""))
            text.append(f"{glyph} ", style=good)
            text.append(c.name + "\n")
            text.append("  expected ", style="dim")
            text.append(c.expected)
            text.append(" · observed ", style="dim")
            text.append(c.observed + "\n", style=good)
        text.rstrip()
        self.update(text)


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
