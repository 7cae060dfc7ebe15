"""Modal screens: the scenario picker, the fault menu and the help listing every key."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option


@dataclass(frozen=True)
class PickerEntry:
    id: str
    pattern: str
    summary: str
    source: str = ""  # a scenario file, for scenarios from --config


# Modal windows dim the dashboard behind them (background: $background 25%) instead of blacking
# it out: it stays readable.


class ScenarioPicker(ModalScreen[str | None]):
    """The patterns with their scenarios and a line each; scenario files appear too. Typing filters
    the list (by id, pattern or summary); ↑/↓ and enter start one."""

    DEFAULT_CSS = """
    ScenarioPicker { align: center middle; background: $background 25%; }
    ScenarioPicker Input { height: 1; border: none; margin: 0 0 1 0; background: $boost; }
    ScenarioPicker > Vertical { width: 90%; max-width: 120; height: 85%; border: thick $primary;
                                background: $surface; padding: 0 1; }
    ScenarioPicker OptionList { height: 1fr; border: none; }
    ScenarioPicker Label { width: 100%; color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "Close", id="picker_close")]

    def __init__(self, entries: list[PickerEntry], patterns: dict[str, str], current: str | None = None) -> None:
        super().__init__()
        self.entries = entries
        self.patterns = patterns
        self.current = current

    def options_for(self, query: str) -> list[Option]:
        """The list for what was typed: every word must appear in the id, pattern or summary."""
        words = query.lower().split()
        options: list[Option] = []
        groups: dict[str, list[PickerEntry]] = {}
        for entry in self.entries:
            haystack = f"{entry.id} {entry.pattern} {entry.summary} {entry.source}".lower()
            if all(w in haystack for w in words):
                groups.setdefault(entry.pattern, []).append(entry)
        order = list(self.patterns) + [p for p in groups if p not in self.patterns]
        for pattern in order:
            if pattern not in groups:
                continue
            head = Text(pattern, style="bold")
            head.append(f"  {self.patterns.get(pattern, 'from scenario files')}", style="dim")
            options.append(Option(head, disabled=True))
            for entry in groups[pattern]:
                line = Text(f"  {entry.id:<34}", style="bold")
                line.append(entry.summary)
                if entry.source:
                    line.append(f"  ({entry.source})", style="dim italic")
                options.append(Option(line, id=entry.id))
        if not options:
            options.append(Option(Text(f"no scenario matches {query!r}", style="dim"), disabled=True))
        return options

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Pick a scenario: type to filter, ↑/↓ and enter to start it, escape to close")
            yield Input(
                placeholder="type to filter: an id, a pattern, a word of the summary", id="picker-filter", compact=True
            )
            yield OptionList(*self.options_for(""), id="picker-list")

    def on_mount(self) -> None:
        option_list = self.query_one(OptionList)
        if self.current is not None:
            with contextlib.suppress(Exception):
                option_list.highlighted = option_list.get_option_index(self.current)
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        option_list = self.query_one(OptionList)
        option_list.clear_options()
        option_list.add_options(self.options_for(event.value))
        first = next(
            (i for i in range(option_list.option_count) if not option_list.get_option_at_index(i).disabled), None
        )
        option_list.highlighted = first

    def on_input_submitted(self, event: Input.Submitted) -> None:
        option_list = self.query_one(OptionList)
        if option_list.highlighted is not None:
            option = option_list.get_option_at_index(option_list.highlighted)
            if not option.disabled and option.id:
                self.dismiss(option.id)

    def on_key(self, event: events.Key) -> None:
        # ↑/↓ move in the list while the filter keeps the focus (so typing goes on working).
        if event.key in ("up", "down", "pageup", "pagedown") and self.focused is self.query_one(Input):
            option_list = self.query_one(OptionList)
            {
                "up": option_list.action_cursor_up,
                "down": option_list.action_cursor_down,
                "pageup": option_list.action_page_up,
                "pagedown": option_list.action_page_down,
            }[event.key]()
            event.stop()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


FAULTS = (
    ("crash", "Crash", "the agent dies at once"),
    ("cpu-spike", "CPU spike", "burns CPU for 10 s: slower answers"),
    ("memory-leak", "Memory leak", "memory grows until its limit kills it"),
    ("net-delay", "Network delay", "300 ms on its messages for 10 s"),
    ("net-loss", "Network loss", "drops 30 % of its messages for 10 s"),
    ("error-rate", "Error rate", "answers 50 % of tasks with errors for 10 s"),
    ("partition", "Partition swarm", "split the swarm in two for 10 s"),
)


class FaultMenu(ModalScreen[str | None]):
    """Faults to inject into the selected agent (or the whole swarm, for a partition)."""

    DEFAULT_CSS = """
    FaultMenu { align: center middle; background: $background 25%; }
    FaultMenu > Vertical { width: 64; height: auto; border: thick $error; background: $surface; padding: 0 1; }
    FaultMenu Button { width: 100%; height: 1; border: none; margin: 0; }
    FaultMenu Label { width: 100%; margin-bottom: 1; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Close", id="faults_close"),
        *(
            Binding(str(i + 1), f"pick('{kind}')", label, show=False, id=f"fault_{i + 1}")
            for i, (kind, label, _h) in enumerate(FAULTS)
        ),
    ]

    def __init__(self, agent: str | None) -> None:
        super().__init__()
        self.agent = agent

    def compose(self) -> ComposeResult:
        with Vertical():
            target = self.agent or "no agent selected"
            yield Label(Text.assemble(("Inject a fault into ", ""), (target, "bold"), (" (1-7, escape)", "dim")))
            for i, (kind, label, help_text) in enumerate(FAULTS):
                yield Button(f"{i + 1}  {label}: {help_text}", id=f"fault-{kind}", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id and event.button.id.startswith("fault-"):
            self.dismiss(event.button.id[len("fault-") :])

    def action_pick(self, kind: str) -> None:
        self.dismiss(kind)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    """Every key, with its binding id (for remapping in config.toml)."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; background: $background 25%; }
    HelpScreen > VerticalScroll { width: 90; max-width: 95%; height: 85%; border: thick $primary;
                                  background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help_close")]

    def __init__(self, rows: list[tuple[str, str, str]], config_path: str, legend: Text | None = None) -> None:
        super().__init__()
        self.rows = rows
        self.config_path = config_path
        self.legend = legend

    def compose(self) -> ComposeResult:
        table = Table(title="Keys", title_justify="left", expand=True)
        table.add_column("key", style="bold")
        table.add_column("action")
        table.add_column("binding id", style="dim")
        for key, description, binding_id in self.rows:
            table.add_row(key, description, binding_id)
        note = Text.assemble(
            ("\nEvery action is also a button (the bar at the top) and a command (ctrl+p).\n", ""),
            ("Remap keys in ", "dim"),
            (self.config_path, "bold"),
            (' under [keymap], e.g. crash = "k".', "dim"),
        )
        with VerticalScroll():
            yield Static(table)
            yield Static(note)
            if self.legend is not None:
                yield Static(Text.assemble(("\nLegend (l shows it on the topology)\n", "bold"), self.legend))

    def action_close(self) -> None:
        self.dismiss(None)
