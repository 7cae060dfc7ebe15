"""The agents table: every agent, updated by diff, columns measured to fit what they hold.

Columns that hold nothing (no agent has a P&L in a scenario that does not trade) are hidden, not
filled with zeros; a machine figure that is the same for every agent (a mock sandbox's simulated
CPU and memory at rest) is said once in the title instead of repeated on every row. When the
table is narrow the columns that matter least go first. A sorted column shows an arrow.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from time import monotonic as wall_clock
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.render import measure
from textual.widgets import DataTable
from textual.widgets._data_table import default_cell_formatter

from swarm_tui.engine.projection import AgentRow
from swarm_tui.ui.format import figure
from swarm_tui.ui.topology import STATE_GLYPH

# (label, field, drop order when narrow: higher goes first; 0 never)
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("id", "id", 0),
    ("role", "role", 5),
    ("strategy", "strategy", 6),
    ("ver", "version", 3),
    ("state", "state", 0),
    ("sandbox", "sandbox", 7),
    ("hb s", "last_heartbeat", 1),
    ("tasks", "tasks", 2),
    ("err", "errors", 2),
    ("p95 ms", "p95_ms", 1),
    ("cpu%", "cpu_pct", 4),
    ("MB", "mem_mb", 4),
    ("P&L", "pnl", 1),
)
LABELS = {f: label for label, f, _ in COLUMNS}
OPTIONAL = ("p95_ms", "cpu_pct", "mem_mb", "pnl")  # hidden when no agent has a value
FOLDED = ("cpu_pct", "mem_mb")  # said once in the title when every agent has the same value
UNITS = {"cpu_pct": " %", "mem_mb": " MB"}


def rich_color(value: str | None) -> str | None:
    """A theme variable's color as Rich understands it (ANSI names lose their prefix)."""
    if not value:
        return None
    return value[5:] if value.startswith("ansi_") else value


def cell(field: str, row: AgentRow, colors: dict[str, str | None], now: float) -> Any:
    """One cell's content."""
    value = getattr(row, field)
    if value is None:
        return "-"
    if field == "last_heartbeat":
        if row.state in ("stopped", "failed"):
            return "-"
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
        return f"{value:+,.2f}"
    if isinstance(value, int):
        return str(value)
    return value


def choose_columns(rows: Iterable[AgentRow], width: int) -> tuple[tuple[str, ...], dict[str, float]]:
    """The fields to show for these rows in a table ``width`` cells wide, and the folded figures."""
    rows = list(rows)
    hidden: set[str] = set()
    folded: dict[str, float] = {}
    for f in OPTIONAL:
        values = [getattr(r, f) for r in rows if r.state not in ("stopped", "failed")]
        present = [v for v in values if v is not None]
        if not present:
            hidden.add(f)
        elif f in FOLDED and len(rows) > 1 and len(present) == len(values) and len({round(v) for v in present}) == 1:
            hidden.add(f)
            folded[f] = present[0]
    if all(r.strategy in ("", r.kind, r.role) for r in rows):
        hidden.add("strategy")
    fields = [f for _label, f, _p in COLUMNS if f not in hidden]
    if width:
        # Columns that would not fit go, least important first: nothing falls off the right edge
        # (one cell is kept for the vertical scrollbar).
        drop = sorted((p, f) for _l, f, p in COLUMNS if p and f in fields)
        widths = _estimate(fields, rows)
        while drop and sum(widths[f] for f in fields) > width - 1:
            _p, f = drop.pop()
            fields.remove(f)
    return tuple(fields), folded


def _estimate(fields: list[str], rows: list[AgentRow]) -> dict[str, int]:
    """How wide each of these columns is drawn: as wide as its label or its widest cell (of the
    first 50 rows and the last), plus 2 cells of padding."""
    sample = rows[:50] + rows[-1:]
    widths = {}
    for f in fields:
        widest = max((_text_len(cell(f, r, {}, r.last_heartbeat or 0.0)) for r in sample), default=0)
        widths[f] = max(len(LABELS[f]) + 2, widest) + 2  # the label may get a sort arrow
    return widths


def _text_len(value: Any) -> int:
    return value.cell_len if isinstance(value, Text) else cell_len(str(value))


def folded_text(folded: dict[str, float]) -> str:
    """'cpu 3 % · 42 MB for every agent' for the title."""
    if not folded:
        return ""
    parts = [f"{'cpu' if f == 'cpu_pct' else 'mem'} {figure(round(v))}{UNITS[f]}" for f, v in folded.items()]
    return " · ".join(parts) + " each"


class AgentsTable(DataTable):
    """Every agent; updated by diff (only changed cells); sortable by clicking a column."""

    DEFAULT_CSS = """
    AgentsTable { height: 1fr; }
    """
    VISIBLE_ONLY_ABOVE = 400
    AGES_EVERY_S = 1.0  # heartbeat ages of a large table are redrawn this often (wall time)
    ADD_PER_UPDATE = 1000

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._values: dict[str, tuple[Any, ...]] = {}
        self._raw: dict[str, AgentRow] = {}
        self._sort: tuple[str, bool] | None = None
        self.fields: tuple[str, ...] = ()
        self.folded: dict[str, float] = {}
        self.cell_updates = 0
        self._ages_at = -1e9
        # Column widths kept by count: how many cells of each width every column holds. DataTable
        # itself re-measures the whole column whenever a cell gets narrower, which with 10,000
        # agents is most of the UI's time; a count makes every update O(1).
        self._widths: dict[str, list[int]] = {}
        self._width_counts: dict[str, Counter[int]] = {}

    def restyle(self) -> None:
        """The theme changed: every state cell is redrawn in the new colors."""
        self._values = {k: () for k in self._values}
        self._raw.clear()

    def _set_columns(self, fields: tuple[str, ...]) -> None:
        """A different set of columns: the table is rebuilt (rare: a column appears or goes)."""
        self.clear(columns=True)
        self._values.clear()
        self._raw.clear()
        self._widths.clear()
        self._width_counts = {f: Counter() for f in fields}
        self.fields = fields
        for f in fields:
            self.add_column(self._label(f), key=f)

    def _label(self, field: str) -> Text:
        label = LABELS[field]
        if self._sort is not None and self._sort[0] == field:
            label += " ▼" if self._sort[1] else " ▲"
        return Text(label)

    def show(self, rows: tuple[AgentRow, ...], now: float, selected: str | None = None) -> None:
        """Update by diff: rows come and go by key; only changed cells are written.

        Large tables (hundreds of rows and up) update only the rows on screen, and take new rows
        a thousand at a time, so the dashboard stays responsive with 10,000 agents.
        """
        fields, self.folded = choose_columns(rows, self.size.width)
        if fields != self.fields:
            self._set_columns(fields)
        fields_list = list(fields)
        hb_index = fields_list.index("last_heartbeat") if "last_heartbeat" in fields_list else -1
        variables = self.app.theme_variables
        colors = {s: rich_color(variables.get(f"state-{s}")) for s in STATE_GLYPH}
        incoming = {r.id: r for r in rows}
        changed_rows = False
        with self.app.batch_update():
            for agent_id in [k for k in self._values if k not in incoming]:
                self.remove_row(agent_id)
                del self._values[agent_id]
                self._raw.pop(agent_id, None)
                for f, w in zip(self.fields, self._widths.pop(agent_id, ()), strict=False):
                    self._width_counts[f][w] -= 1
                changed_rows = True
            on_screen: set[str] | None = None
            if self.row_count > self.size.height:
                first = int(self.scroll_y)
                keys = [r.key.value for r in self.ordered_rows[first : first + self.size.height + 2]]
                on_screen = {k for k in keys if k is not None}
            visible = on_screen if len(incoming) > self.VISIBLE_ONLY_ABOVE else None
            wall = wall_clock()
            ages_due = visible is None or wall - self._ages_at >= self.AGES_EVERY_S
            if ages_due:
                self._ages_at = wall
            added = 0
            for agent_id, row in incoming.items():
                old = self._values.get(agent_id)
                if old is None:
                    if added >= self.ADD_PER_UPDATE:
                        continue  # the rest arrive on the next updates
                    values = tuple(cell(f, row, colors, now) for f in fields)
                    self.add_row(*values, key=agent_id)
                    self._values[agent_id] = values
                    widths = [self._measure(v) for v in values]
                    self._widths[agent_id] = widths
                    for f, w in zip(fields, widths, strict=True):
                        self._width_counts[f][w] += 1
                    self._raw[agent_id] = row
                    changed_rows = True
                    added += 1
                    continue
                if visible is not None and agent_id not in visible:
                    continue
                if old and self._raw.get(agent_id) == row:
                    # Unchanged agent: only its heartbeat age moves (redrawn only on screen, and
                    # in a large table once a second: each change redraws every visible row).
                    if hb_index < 0 or not ages_due or (on_screen is not None and agent_id not in on_screen):
                        continue
                    hb = cell("last_heartbeat", row, colors, now)
                    if hb != old[hb_index]:
                        self._set_cell(agent_id, hb_index, hb)
                        self._values[agent_id] = (*old[:hb_index], hb, *old[hb_index + 1 :])
                    continue
                values = tuple(cell(f, row, colors, now) for f in fields)
                for i, new in enumerate(values):
                    if i >= len(old) or new != old[i]:
                        self._set_cell(agent_id, i, new)
                self._values[agent_id] = values
                self._raw[agent_id] = row
            if changed_rows and self._sort is not None and self._sort[0] in fields:
                self.sort(self._sort[0], key=sort_key, reverse=self._sort[1])
            elif changed_rows and "id" in fields:
                # No column chosen: the order given (for a large swarm, the unwell agents first);
                # a row already shown keeps no stale place.
                rank = {agent_id: i for i, agent_id in enumerate(incoming)}
                self.sort("id", key=lambda value: rank.get(str(value), len(rank)))
            self._fit_columns()
            self._measure_now()
        if changed_rows and selected is not None:
            # Rows came or went: keep the cursor on the selected agent (selection is otherwise
            # moved by events only, so a timer never fights the user's cursor).
            self.select(selected)

    def _measure(self, value: Any) -> int:
        """A cell's width, as DataTable measures it (plain one-line text directly: rich's measure
        of every changed cell was a third of the table's update time with 10,000 agents)."""
        if isinstance(value, Text) and "\n" not in value.plain:
            return value.cell_len
        if isinstance(value, str) and "[" not in value and "\n" not in value:
            return cell_len(value)
        return measure(self.app.console, default_cell_formatter(value), 1)

    def _set_cell(self, agent_id: str, index: int, value: Any) -> None:
        """Write one cell and keep its column's width count."""
        f = self.fields[index]
        self.update_cell(agent_id, f, value)
        self.cell_updates += 1
        widths = self._widths[agent_id]
        counts = self._width_counts[f]
        counts[widths[index]] -= 1
        widths[index] = self._measure(value)
        counts[widths[index]] += 1

    def _fit_columns(self) -> None:
        """Every column as wide as its widest cell or its label: a longer value widens its column
        instead of being cut, and a column narrows again when its widest value goes."""
        for f in self.fields:
            column = self.columns.get(f)  # type: ignore[call-overload]
            if column is None:
                continue
            widest = max((w for w, n in self._width_counts[f].items() if n > 0), default=0)
            width = max(widest, column.label.cell_len)
            if width != column.content_width:
                column.content_width = width
                self._require_update_dimensions = True

    def _measure_now(self) -> None:
        """Measure new rows and changed cells now, as DataTable does when it is next idle: a frame
        drawn in between (a screenshot, a busy machine) would show every value cut to the width
        its column had before."""
        if self._updated_cells:
            updated = self._updated_cells.copy()
            self._updated_cells.clear()
            self._update_column_widths(updated)
        if self._require_update_dimensions:
            self._require_update_dimensions = False
            new_rows = self._new_rows.copy()
            self._new_rows.clear()
            self._update_dimensions(new_rows)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = str(event.column_key.value)
        reverse = self._sort is not None and self._sort[0] == key and not self._sort[1]
        self.sort_by(key, reverse)

    def sort_by(self, key: str, reverse: bool = False) -> None:
        """Sort by a column; its header shows ▲ (ascending) or ▼ (descending)."""
        self._sort = (key, reverse)
        for f in self.fields:
            self.columns[f].label = self._label(f)  # type: ignore[index]
            self.columns[f].content_width = max(self.columns[f].content_width, len(self.columns[f].label))  # type: ignore[index]
        self._require_update_dimensions = True
        self.sort(key, key=sort_key, reverse=reverse)
        self.refresh()

    @property
    def sorted_by(self) -> tuple[str, bool] | None:
        return self._sort

    def select(self, agent_id: str) -> None:
        if agent_id in self._values and self.row_count:
            index = self.get_row_index(agent_id)
            if index != self.cursor_row:
                self.move_cursor(row=index)


def sort_key(value: Any) -> Any:
    if isinstance(value, Text):
        value = value.plain
    if isinstance(value, str):
        try:
            return (0, float(value.replace(",", "")))
        except ValueError:
            return (1, value)
    return (0, value)
