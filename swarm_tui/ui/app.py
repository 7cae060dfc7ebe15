"""The dashboard: watch a swarm live, break it, roll it back.

The engine runs on its own thread (:class:`~swarm_tui.session.live.LiveRun`); the app samples it:
about 10 times a second for the topology and the header, 3 times a second for the tables, the
events, the charts and the checks, and changes only what differs. Every action is a key, a button
and a command in the palette, and each is confirmed by a notification and a line in the events.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.driver import Driver
from textual.events import Resize
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Input

from swarm_tui.engine.projection import AgentRow, EventLine, Snapshot
from swarm_tui.engine.runner import AnyScenario, new_run_id
from swarm_tui.patterns.catalogue import load_catalogue
from swarm_tui.results.journal import JournalWriter
from swarm_tui.session.live import LiveRun
from swarm_tui.session.replay import READ_ONLY, ReplayRun
from swarm_tui.session.run import RunSession, SessionError
from swarm_tui.ui.checks import ChecksPanel, EndPanel
from swarm_tui.ui.crash import EXIT_INTERNAL, crash_line, write_crash_log
from swarm_tui.ui.panels import (
    CONTROLS,
    REPLAY_CONTROLS,
    VIEWS,
    ChartsPanel,
    ControlBar,
    EventsPanel,
    HeaderBar,
    ViewTabs,
)
from swarm_tui.ui.rollout import RolloutPanel
from swarm_tui.ui.screens import FaultMenu, HelpScreen, PickerEntry, ScenarioPicker
from swarm_tui.ui.table import AgentsTable, folded_text
from swarm_tui.ui.themes import DEFAULT_THEME, ThemeLoad, load_themes
from swarm_tui.ui.topology import STATE_GLYPH, TopologyWidget

COMPACT_WIDTH, COMPACT_HEIGHT = 110, 32

# Every action: (binding id, default key, footer label, description). The same ids name the
# buttons and the palette commands, and users remap keys by id in config.toml.
ACTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("start", "s", "Start", "Start the chosen scenario"),
    ("pause", "space", "Pause", "Pause or resume"),
    ("restart", "ctrl+r", "Restart", "Restart the scenario"),
    ("speed", "x", "Speed", "Speed: 1x, 5x, 20x (mock)"),
    ("pick", "o", "Scenarios", "Pick a scenario"),
    ("next_agent", "n", "Next agent", "Select the next agent"),
    ("prev_agent", "N", "Prev agent", "Select the previous agent"),
    ("crash", "c", "Crash", "Crash the selected agent"),
    ("faults", "f", "Faults", "Fault menu for the selected agent"),
    ("partition", "w", "Partition", "Partition the swarm for 10 s"),
    ("promote", "p", "Promote", "Promote the rollout"),
    ("rollback", "r", "Rollback", "Roll back / abort the rollout"),
    ("scale_up", "plus", "+1", "Scale up by one agent"),
    ("scale_down", "minus", "-1", "Scale down by one agent"),
    ("theme", "t", "Theme", "Next theme"),
    ("legend", "l", "Legend", "Show or hide the legend (states, versions, links)"),
    ("view", "v", "View", "Next panel (compact layout)"),
    ("filter", "slash", "Filter", "Filter the events"),
    ("help", "question_mark", "Help", "Help: every key"),
    ("quit", "q", "Quit", "Quit"),
)
FAULT_ACTIONS: tuple[tuple[str, str], ...] = (
    ("cpu-spike", "Inject a CPU spike into the selected agent"),
    ("memory-leak", "Inject a memory leak into the selected agent"),
    ("net-delay", "Delay the selected agent's messages"),
    ("net-loss", "Drop some of the selected agent's messages"),
    ("error-rate", "Make the selected agent answer with errors"),
)
READ_ONLY_ACTIONS = (
    "start",
    "restart",
    "pick",
    "crash",
    "faults",
    "partition",
    "promote",
    "rollback",
    "scale_up",
    "scale_down",
)
# Keys of the replay (`swarm-tui replay`) only: it moves through a recording instead of changing a run.
REPLAY_ACTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("seek_back", "left_square_bracket", "-5s", "Replay: seek back 5 s"),
    ("seek_forward", "right_square_bracket", "+5s", "Replay: seek forward 5 s"),
    ("seek_start", "0", "Start", "Replay: go to the start"),
    ("seek_end", "dollar_sign", "End", "Replay: go to the end"),
)
BINDING_IDS = {a[0] for a in ACTIONS} | {a[0] for a in REPLAY_ACTIONS}
# The footer shows these, in this order; help and quit first, so a narrow terminal keeps them.
FOOTER = ("help", "quit", "pause", "speed", "crash", "faults", "pick", "promote", "rollback", "view", "theme")
REPLAY_FOOTER = ("help", "quit", "pause", "seek_back", "seek_forward", "speed", "view")


def footer_bindings(actions: tuple[tuple[str, str, str, str], ...], shown: tuple[str, ...]) -> list[BindingType]:
    """The bindings of ``actions``; those in ``shown`` first and in its order, shown in the footer."""
    by_id = {a[0]: a for a in actions}
    ordered = [by_id[i] for i in shown if i in by_id] + [a for a in actions if a[0] not in shown]
    return [
        Binding(key, action, label, id=action, tooltip=desc, show=action in shown)
        for action, key, label, desc in ordered
    ]


TABLE_LIMIT = 300
UNWELL = ("failed", "degraded", "draining", "starting")


def table_rows(rows: tuple[AgentRow, ...], selected: str | None) -> tuple[AgentRow, ...]:
    """The rows the agents table shows: all of them, or for a large swarm the unwell ones, the
    selected one, and the first of the rest, up to TABLE_LIMIT (the heatmap shows the whole)."""
    if len(rows) <= TABLE_LIMIT:
        return rows
    unwell = [r for r in rows if r.state in UNWELL][: TABLE_LIMIT - 1]
    chosen = {r.id for r in unwell}
    picked = list(unwell)
    for r in rows:
        if r.id == selected and r.id not in chosen:
            picked.append(r)
            chosen.add(r.id)
    for r in rows:
        if len(picked) >= TABLE_LIMIT:
            break
        if r.id not in chosen:
            picked.append(r)
            chosen.add(r.id)
    return tuple(picked)  # unwell first, then the selected agent, then the rest in order


@dataclass
class DashboardOptions:
    """What the dashboard starts with (one factory for the CLI, the tests and the screenshots).

    The run session (backend, seed, journals) is ``session``; without one, a session is made
    from ``backend``, ``seed``, ``backend_options``, ``market_csv`` and ``journal``.
    """

    session: RunSession | None = None
    backend: str = "mock"
    scenario: str | None = None
    seed: int = 0
    theme: str | None = None
    speed: float = 1.0
    pause_at: float | None = None
    stepped: bool = False  # tests: scenario time moves only when the test steps it
    run_id: str | None = None
    stable: bool = False  # no cursor blink, no animation: for snapshots and screenshots
    keymap: dict[str, str] = field(default_factory=dict)
    extra_scenarios: dict[str, Callable[[], AnyScenario]] = field(default_factory=dict)
    extra_sources: dict[str, str] = field(default_factory=dict)
    market_csv: str | None = None
    remember_theme: bool = True
    themes: ThemeLoad | None = None
    picker_on_start: bool = True
    backend_options: dict[str, Any] = field(default_factory=dict)
    journal: bool = True  # journal every run under the state directory
    replay: ReplayRun | None = None  # play this recording instead of running scenarios (read-only)


class SwarmApp(App[int]):
    """The swarm-tui dashboard."""

    CSS_PATH = "app.tcss"
    TITLE = "swarm-tui"
    ALL_ACTIONS = ACTIONS  # what the help and the command palette list
    CONTROLS: ClassVar[tuple[tuple[str, str], ...]] = CONTROLS  # the buttons of the control bar
    BINDINGS: ClassVar[list[BindingType]] = footer_bindings(ACTIONS, FOOTER)

    selected_agent: reactive[str | None] = reactive(None)

    def __init__(self, options: DashboardOptions | None = None) -> None:
        self.options = options or DashboardOptions()
        opts = self.options
        self.session = opts.session or RunSession(
            backend=opts.backend,
            seed=opts.seed,
            backend_options=dict(opts.backend_options),
            market_csv=opts.market_csv,
            journal=opts.journal and opts.replay is None,
        )
        opts.backend, opts.seed = self.session.backend, self.session.seed
        self.catalogue = load_catalogue()
        super().__init__()
        self.live: LiveRun | ReplayRun | None = None
        self._stopping: set[LiveRun] = set()
        self.scenario_id: str | None = self.options.scenario
        self.snapshot: Snapshot | None = None
        self._event_seq = 0
        self._view = "topology"
        self._compact = False
        self._agent_ids: list[str] = []
        self._dead: set[str] = set()
        self.notes_seen: list[str] = []
        self.crash_log: Path | None = None
        self.crash_message = ""
        self.themes_loaded = self.options.themes or load_themes()
        if self.options.stable:
            self.animation_level = "none"
        # Themes before the first frame: a theme set once mounted styles every widget twice.
        for theme in self.themes_loaded.themes.values():
            self.register_theme(theme)
        self._theme_names = list(self.themes_loaded.themes)
        self._theme_warnings: list[str] = []
        self.theme = self._initial_theme()

    # -- setup -----------------------------------------------------------------------------------
    def get_driver_class(self) -> type[Driver]:
        """Textual's driver; in a Linux terminal, one that a closed terminal cannot hang."""
        driver = super().get_driver_class()
        if driver.__name__ == "LinuxDriver":  # (not on Windows, not served in a browser)
            from swarm_tui.ui.terminal import TerminalDriver

            return TerminalDriver
        return driver

    def get_theme_variable_defaults(self) -> dict[str, str]:
        from swarm_tui.ui.themes import SWARM_VARIABLES

        return {**super().get_theme_variable_defaults(), **SWARM_VARIABLES}

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        yield ControlBar(self.CONTROLS, id="controls")
        yield ViewTabs(id="tabs")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                topology = TopologyWidget(id="topology")
                topology.border_title = "topology"
                yield topology
                table = AgentsTable(id="agents")
                table.border_title = "agents"
                yield table
            with Vertical(id="right"):
                checks = VerticalScroll(EndPanel(id="end"), ChecksPanel(id="checks-panel"), id="checks")
                checks.border_title = "checks"
                yield checks
                rollout = RolloutPanel(id="rollout")
                rollout.border_title = "rollout"
                yield rollout
                charts = ChartsPanel(id="charts")
                charts.border_title = "charts"
                yield charts
        events = EventsPanel(id="events")
        events.border_title = "events"
        yield events
        yield Footer(id="footer")

    def _on_signal(self, signum: int) -> None:
        """SIGTERM, or the terminal closing (SIGHUP): leave as after `q`, sandboxes killed on unmount."""
        self.exit(128 + signum)

    def on_mount(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):  # (ctrl+c itself is a key here)
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._on_signal, sig)
        early = self.session.shutdown
        if early.requested and early.signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            # It came while the dashboard started (the terminal closed at once): leave now.
            self.call_later(self._on_signal, int(early.signum))
        # The dashboard's widgets live on the default screen; keep them at hand (a modal screen
        # on top must not hide them from the sampling timers).
        self.w_header = self.query_one(HeaderBar)
        self.w_topology = self.query_one(TopologyWidget)
        self.w_agents = self.query_one(AgentsTable)
        self.w_events = self.query_one(EventsPanel)
        self.w_charts = self.query_one(ChartsPanel)
        self.w_rollout = self.query_one(RolloutPanel)
        self.w_checks = self.query_one(ChecksPanel)
        self.w_end = self.query_one(EndPanel)
        self.w_checks_box = self.query_one("#checks")
        self.w_footer = self.query_one(Footer)
        self.w_tabs = self.query_one(ViewTabs)
        self.w_main = self.screen
        for problem in self.themes_loaded.problems:
            self.notify(f"theme skipped: {problem}", severity="warning", timeout=8)
        for warning in self._theme_warnings:
            self.notify(warning, severity="warning")
        if self.options.keymap:
            self.set_keymap(self.options.keymap)
        if self.options.stable:
            for widget in self.query(Input):
                widget.cursor_blink = False
        self.w_header.show(None, self.options.backend)
        self.w_rollout.show(None)
        self.w_checks.show((), False)
        self._apply_layout(self.size.width, self.size.height)
        self.set_interval(0.1, self._tick_fast)
        self.set_interval(0.3, self._tick_slow)
        self.call_after_refresh(self._begin)  # the first frame first, then the run starts

    def _begin(self) -> None:
        if self.scenario_id:
            self.start_run(self.scenario_id)
        elif self.options.picker_on_start:
            self.action_pick()

    def _initial_theme(self) -> str:
        from swarm_tui.config.user import load_settings

        wanted = self.options.theme or (load_settings().get("theme") if self.options.remember_theme else None)
        if wanted and wanted not in self.themes_loaded.themes:
            self._theme_warnings.append(f"theme {wanted!r} not found; using {DEFAULT_THEME}")
            wanted = None
        return wanted or DEFAULT_THEME

    # -- scenarios and the live run ---------------------------------------------------------------
    @property
    def journals(self) -> list[Path]:
        return list(self.session.journal_paths)

    def scenario_entries(self) -> list[PickerEntry]:
        entries = []
        for pattern in self.catalogue.all_patterns():
            for cls in self.catalogue.scenarios_of(pattern):
                if cls.id in self.options.extra_scenarios:
                    continue
                entries.append(PickerEntry(cls.id, cls.pattern, cls.summary))
        for sid, factory in self.options.extra_scenarios.items():
            scenario = factory()
            entries.append(
                PickerEntry(
                    sid, scenario.pattern, scenario.title or scenario.summary, self.options.extra_sources.get(sid, "")
                )
            )
        return entries

    def _make_scenario(self, scenario_id: str) -> AnyScenario:
        factory = self.options.extra_scenarios.get(scenario_id)
        if factory is not None:
            return factory()
        return self.catalogue[scenario_id]()

    def start_run(self, scenario_id: str) -> None:
        """Start a scenario (stopping any run in progress)."""
        self.scenario_id = scenario_id
        old, self.live = self.live, None
        if old is not None:
            self._stop_in_background(old)
        session, opts = self.session, self.options
        run_id = opts.run_id or new_run_id()
        self.live = LiveRun(
            self._make_scenario(scenario_id),
            session.backend_factory(),
            backend_name=session.backend,
            seed=session.seed,
            speed=opts.speed,
            pause_at=opts.pause_at,
            stepped=opts.stepped,
            run_id=run_id,
            market_csv=session.market_csv,
            journal=self._open_journal(run_id, scenario_id),
            virtual=not session.real,
        ).start()
        self.snapshot = None
        self._event_seq = 0
        self.selected_agent = None
        self.w_events.reset()
        self.w_end.show(None, None)
        self._note(f"started {scenario_id} on {session.backend} (seed {session.seed})", toast=not opts.stable, log=True)

    def _open_journal(self, run_id: str, scenario_id: str) -> JournalWriter | None:
        """Every dashboard run is journaled too (``swarm-tui report``/``replay`` read it back)."""
        try:
            return self.session.scenario_journal(run_id, scenario_id)
        except SessionError as exc:
            self._note(f"no journal: {exc}", severity="warning")
            return None

    @work(thread=True, exclusive=False, group="stop")
    def _stop_in_background(self, run: LiveRun) -> None:
        self._stopping.add(run)
        try:
            run.stop()
        finally:
            self._stopping.discard(run)

    def on_unmount(self) -> None:
        # Whatever ends the app (q, a signal, an error), no sandbox outlives it.
        for run in [self.live, *list(self._stopping)]:
            if run is not None:
                run.stop()

    # -- sampling ------------------------------------------------------------------------------------
    def _tick_fast(self) -> None:
        live = self.live
        if live is None or not self.is_running:  # not while the app shuts down (widgets are going)
            return
        live.request_snapshot()
        snap = live.latest
        if snap is None or snap is self.snapshot:
            return
        self.snapshot = snap
        self.w_header.show(snap, self.options.backend)
        self.w_topology.show(snap.topology)
        if self.selected_agent is None and snap.agents:
            self.selected_agent = snap.agents[0].id

    def refresh_now(self) -> None:
        """Sample the run now, as the timers would (tests, and after a seek)."""
        self._tick_fast()
        self._tick_slow()

    def _tick_slow(self) -> None:
        live, snap = self.live, self.snapshot
        if live is None or snap is None or not self.is_running:
            return
        self._agent_ids = [a.id for a in snap.agents]
        self._dead = {a.id for a in snap.agents if a.state in ("failed", "stopped")}
        gone = self.selected_agent is not None and snap.topology is not None
        if gone and self.selected_agent not in snap.topology.nodes:  # type: ignore[union-attr]
            # The selected agent left the swarm (stopped, replaced): select a live one instead.
            live_ids = [i for i in self._agent_ids if i not in self._dead]
            if live_ids:
                self.selected_agent = live_ids[0]
        table = self.w_agents
        if table.display:
            table.show(table_rows(snap.agents, self.selected_agent), snap.t, self.selected_agent)
            table.border_title = agents_title(snap.agents, table.folded)
        lines = live.events_since(self._event_seq)
        if lines:
            self._event_seq = lines[-1].seq
            self.w_events.add(lines)
        self.w_charts.show(snap.series)
        rollout = self.w_rollout
        rollout.show(snap.rollout)
        if not self._compact:
            rollout.display = snap.rollout is not None
        self.w_checks.show(snap.checks, snap.checks_final)
        self.w_end.show(snap, self.journal_of_run())
        self.w_checks_box.border_title = "end of run · checks" if self.w_end.display else "checks"

    def journal_of_run(self) -> Path | None:
        """The journal of the run on screen (the newest the session opened)."""
        paths = self.session.journal_paths
        return Path(paths[-1]) if paths else None

    def notify(self, message: str, **kwargs: Any) -> None:
        """Every notification is also kept in ``notes_seen``: what the user was told, in order."""
        self.notes_seen.append(message)
        super().notify(message, **kwargs)

    def _note(self, text: str, severity: str = "information", *, toast: bool = True, log: bool = False) -> None:
        """Confirm an action with a notification; a command that changes the run (``log``) is
        also a line in the events, so the log tells what was done to the run and when."""
        if toast:
            self.notify(text, severity=severity, timeout=4)
        if log:
            t = self.snapshot.t if self.snapshot else 0.0
            self.w_events.add([EventLine(0, t, "you", text)])

    def _answer(self, text: str, done: bool) -> None:
        """What a run command answered: done (a line in the events too), or refused (a warning)."""
        if done:
            self._command(text)
        else:
            self._note(text, "warning")

    def _command(self, text: str, severity: str = "information") -> None:
        """The answer to a command that changes the run: a notification and a line in the events."""
        self._note(text, severity, log=True)

    # -- selection ------------------------------------------------------------------------------------
    def watch_selected_agent(self, old: str | None, new: str | None) -> None:
        self.w_topology.selected = new
        if new is not None:
            self.w_agents.select(new)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value:
            self.selected_agent = str(event.row_key.value)

    def on_topology_widget_node_selected(self, event: TopologyWidget.NodeSelected) -> None:
        self.selected_agent = event.agent_id

    def _step_agent(self, delta: int) -> None:
        """Select the next (or previous) agent that is still alive: dead ones are skipped."""
        ids = self._agent_ids
        if not ids:
            self._note("no agents yet", "warning")
            return
        i = ids.index(self.selected_agent) if self.selected_agent in ids else (-1 if delta > 0 else 0)
        for step in range(1, len(ids) + 1):
            candidate = ids[(i + delta * step) % len(ids)]
            if candidate not in self._dead:
                self.selected_agent = candidate
                return
        self._note("no live agent to select", "warning")

    # -- layout ----------------------------------------------------------------------------------------
    def on_resize(self, event: Resize) -> None:
        self._apply_layout(event.size.width, event.size.height)

    def _apply_layout(self, width: int, height: int) -> None:
        if not hasattr(self, "w_main"):
            return  # a resize before the widgets are mounted: on_mount applies the layout
        compact = width < COMPACT_WIDTH or height < COMPACT_HEIGHT
        self._compact = compact
        main = self.w_main
        main.set_class(compact, "-compact")
        self.w_tabs.display = compact
        # Narrow: no button bar (every action is a key, listed by ?, and a palette command) and
        # a compact footer without the palette hint, so that ? and q always fit.
        main.query_one("#controls").display = not compact
        self.w_footer.compact = compact
        self.w_footer.show_command_palette = not compact
        if not compact:
            for selector in ("#main", "#topology", "#agents", "#events", "#right", "#left", "#charts", "#checks"):
                main.query_one(selector).display = True
            main.query_one("#rollout").display = self.snapshot is None or self.snapshot.rollout is not None
            return
        view = self._view
        self.w_tabs.show(view)
        main.query_one("#main").display = view != "events"  # the events take the whole screen
        main.query_one("#events").display = view == "events"
        main.query_one("#left").display = view in ("topology", "agents")
        main.query_one("#right").display = view in ("charts", "checks")
        main.query_one("#topology").display = view == "topology"
        main.query_one("#agents").display = view == "agents"
        main.query_one("#charts").display = view == "charts"
        main.query_one("#checks").display = view == "checks"
        main.query_one("#rollout").display = (
            view == "checks" and self.snapshot is not None and self.snapshot.rollout is not None
        )

    # -- actions ---------------------------------------------------------------------------------------
    def _need_live(self) -> LiveRun | ReplayRun | None:
        if self.live is None:
            self._note("no scenario running: press o to pick one", "warning")
        return self.live

    def action_start(self) -> None:
        if self.live is not None and not self.live.done.is_set():
            self._note("already running (ctrl+r restarts it)", "warning")
            return
        if self.scenario_id is None:
            self.action_pick()
            return
        self.start_run(self.scenario_id)

    def action_pause(self) -> None:
        live = self._need_live()
        if live is not None:
            message = live.toggle_pause()
            self._answer(message, message in ("paused", "resumed"))

    def action_restart(self) -> None:
        if self.scenario_id is None:
            self.action_pick()
            return
        self.start_run(self.scenario_id)

    def action_speed(self) -> None:
        live = self._need_live()
        if live is None:
            return
        if not live.virtual:
            self._note("real backends run on wall time: speed is 1x", "warning")
            return
        if isinstance(live, LiveRun) and live.ended:
            self._note(f"the scenario has ended ({live.status}): restart it with ctrl+r", "warning")
            return
        self._command(f"speed {live.next_speed():g}x")

    def action_pick(self) -> None:
        def chosen(scenario_id: str | None) -> None:
            if scenario_id:
                self.start_run(scenario_id)

        self.push_screen(
            ScenarioPicker(self.scenario_entries(), self.catalogue.all_patterns(), current=self.scenario_id), chosen
        )

    def action_next_agent(self) -> None:
        self._step_agent(+1)

    def action_prev_agent(self) -> None:
        self._step_agent(-1)

    def inject(self, kind: str) -> None:
        live = self._need_live()
        if live is None:
            return
        if kind == "partition":
            message = live.partition()
            self._answer(message, message.startswith("swarm partitioned"))
            return
        if self.selected_agent is None:
            self._note("select an agent first (n, or click one)", "warning")
            return
        message = live.inject(self.selected_agent, kind)
        self._answer(message, " injected into " in message)

    def action_crash(self) -> None:
        self.inject("crash")

    def action_faults(self) -> None:
        def chosen(kind: str | None) -> None:
            if kind:
                self.inject(kind)

        self.push_screen(FaultMenu(self.selected_agent), chosen)

    def action_partition(self) -> None:
        self.inject("partition")

    def action_promote(self) -> None:
        live = self._need_live()
        if live is not None:
            message = live.promote()
            self._answer(message, "requested" in message)

    def action_rollback(self) -> None:
        live = self._need_live()
        if live is not None:
            message = live.rollback()
            self._answer(message, "requested" in message)

    def action_scale_up(self) -> None:
        live = self._need_live()
        if live is not None:
            message = live.scale(+1)
            self._answer(message, message.startswith("scaling"))

    def action_scale_down(self) -> None:
        live = self._need_live()
        if live is not None:
            message = live.scale(-1)
            self._answer(message, message.startswith("scaling"))

    def action_theme(self) -> None:
        names = self._theme_names
        i = names.index(self.theme) if self.theme in names else -1
        self.set_theme(names[(i + 1) % len(names)])

    def set_theme(self, name: str) -> None:
        self.theme = name
        self.w_agents.restyle()
        if self.options.remember_theme:
            from swarm_tui.config.user import save_settings

            save_settings(theme=name)
        self.notify(f"theme {name}", timeout=3)

    def action_view(self) -> None:
        keys = [k for k, _ in VIEWS]
        self._view = keys[(keys.index(self._view) + 1) % len(keys)]
        self._apply_layout(self.size.width, self.size.height)
        if not self._compact:
            self.notify("all panels are shown in the wide layout (v switches panels below 110x32)", timeout=3)

    def action_filter(self) -> None:
        if self._compact:
            self._view = "events"
            self._apply_layout(self.size.width, self.size.height)
        self.w_main.query_one("#event-filter", Input).focus()

    def usable_actions(self) -> tuple[tuple[str, str, str, str], ...]:
        """The actions this dashboard carries out (a replay refuses those that change a run)."""
        return self.ALL_ACTIONS

    def key_of(self, action: str, default: str) -> str:
        """How the key of ``action`` reads (``+``, ``/``, ``?``, ``^r``), after the user's keymap."""
        keys = self.options.keymap.get(action, default)
        return " ".join(self.get_key_display(Binding(k.strip(), action)) for k in keys.split(","))

    def action_help(self) -> None:
        from swarm_tui.config.user import config_dir

        rows = [(self.key_of(action, key), desc, action) for action, key, _label, desc in self.usable_actions()]
        rows.append(("^p", "Command palette: every action by name", "command_palette"))
        if not isinstance(self, ReplayApp):
            rows.append(("1-7", "In the fault menu: pick a fault", "fault_1..fault_7"))
        rows.append(("escape", "Leave the events filter, close a window", "filter_leave"))
        self.push_screen(HelpScreen(rows, str(config_dir() / "config.toml"), legend=legend_text()))

    def action_legend(self) -> None:
        shown = self.w_topology.toggle_legend()
        self.notify("legend shown (l hides it)" if shown else "legend hidden (l shows it)", timeout=2)

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """Screenshots (the palette's Screenshot) go to the state directory's screenshots/ folder,
        which is created: ~/Downloads may not exist."""
        if path is None:
            from swarm_tui.results.journal import state_dir

            folder = state_dir() / "screenshots"
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                self.notify(f"cannot save a screenshot in {folder}: {exc.strerror}", severity="error")
                return None
            path = str(folder)
        return super().deliver_screenshot(filename, path, time_format)

    async def action_quit(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
        self.exit(0)

    # -- buttons and the command palette ------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        button_id = event.button.id or ""
        if button_id.startswith("btn-"):
            self.call_later(self.run_action, button_id[len("btn-") :])

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for action, key, _label, description in self.usable_actions():
            if action in ("quit",):
                continue
            yield SystemCommand(
                description, f"key {self.key_of(action, key)}", lambda a=action: self.call_later(self.run_action, a)
            )
        if not isinstance(self, ReplayApp):
            for kind, description in FAULT_ACTIONS:
                yield SystemCommand(description, "from the fault menu (f)", lambda k=kind: self.inject(k))
        for name in self._theme_names:
            yield SystemCommand(f"Theme: {name}", "switch the theme (t cycles)", lambda n=name: self.set_theme(n))
        if not isinstance(self, ReplayApp):
            for entry in self.scenario_entries():
                yield SystemCommand(f"Start {entry.id}", entry.summary, lambda s=entry.id: self.start_run(s))

    # -- when the dashboard itself fails --------------------------------------------------------------
    def _handle_exception(self, error: Exception) -> None:
        """Any exception in the UI ends the app: exit code 70, one line naming the error and a log
        file with the traceback (sandboxes are stopped by on_unmount, as on every exit)."""
        if self.crash_log is None:
            self.crash_log = write_crash_log(error, self.scenario_id or "")
            self.crash_message = crash_line(error, self.crash_log)
        if self._exception is None:
            self._exception = error
            self._exception_event.set()
        self._return_code = EXIT_INTERNAL
        self._close_messages_no_wait()

    def _print_error_renderables(self) -> None:
        super()._print_error_renderables()
        if self.crash_message:
            # Printed plainly, once the terminal is back: one line whatever its width (Rich would
            # wrap it, and a path cut in two is no use).
            print(self.crash_message, file=sys.stderr, flush=True)
            self.crash_message = ""


class ReplayApp(SwarmApp):
    """The dashboard playing a journal: pause, speed and seek; whatever would change a run is refused."""

    ALL_ACTIONS = ACTIONS + REPLAY_ACTIONS
    CONTROLS: ClassVar[tuple[tuple[str, str], ...]] = REPLAY_CONTROLS
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(key, action, label, id=action, tooltip=desc, show=action in ("seek_back", "seek_forward"))
            for action, key, label, desc in REPLAY_ACTIONS
        ),
        # The keys that would change a run stay (they say "read-only"), but the footer omits them.
        *(
            Binding(key, action, label, id=action, tooltip=desc, show=False)
            for action, key, label, desc in ACTIONS
            if action in READ_ONLY_ACTIONS
        ),
    ]
    SEEK_STEP_S = 5.0

    def __init__(self, options: DashboardOptions) -> None:
        if options.replay is None:
            raise ValueError("ReplayApp needs a recording to play (DashboardOptions.replay)")
        options.journal = False  # a replay records nothing
        super().__init__(options)
        self.replay: ReplayRun = options.replay
        self._told_incomplete = False
        self._seeks_seen = self.replay.seeks

    def _begin(self) -> None:
        replay = self.replay
        self.w_checks.empty_text = "the recorded checks appear at the end of the recording"
        self.w_checks._shown = ()  # draw the new text on the next sample
        self.live = replay.start()
        self.scenario_id = replay.scenario_id
        self._note(
            f"replaying {replay.scenario_id} from {replay.journal.path} ({replay.total:.2f} s recorded; "
            "space pauses, x speed, [ ] seek)",
            toast=not self.options.stable,
        )

    def _tick_fast(self) -> None:
        super()._tick_fast()
        snap = self.snapshot
        if snap is not None and snap.status == "incomplete" and not self._told_incomplete:
            self._told_incomplete = True
            notes = "; ".join(self.replay.notes) or "the recording stops before the scenario finished"
            self.notify(f"incomplete recording: {notes}", severity="warning", timeout=10)

    def _tick_slow(self) -> None:
        if self.replay.seeks != self._seeks_seen:  # it jumped (a seek, or a replay from the start)
            self._seeks_seen = self.replay.seeks
            self.w_events.reset()  # the log is rebuilt up to the new time
            self._event_seq = 0
        super()._tick_slow()

    # -- moving through the recording ------------------------------------------------------------
    def seek(self, t: float) -> None:
        where = self.replay.seek(t)
        self.snapshot = None
        self._tick_fast()
        self._tick_slow()
        self._note(f"seek to t={where:.2f} s of {self.replay.total:.2f} s", toast=False)

    def action_seek_back(self) -> None:
        self.seek(self.replay.position - self.SEEK_STEP_S)

    def action_seek_forward(self) -> None:
        self.seek(self.replay.position + self.SEEK_STEP_S)

    def action_seek_start(self) -> None:
        self.seek(0.0)

    def action_seek_end(self) -> None:
        self.seek(self.replay.total)

    # -- read-only -------------------------------------------------------------------------------------
    def usable_actions(self) -> tuple[tuple[str, str, str, str], ...]:
        return tuple(a for a in self.ALL_ACTIONS if a[0] not in READ_ONLY_ACTIONS)

    def _refuse(self, what: str) -> None:
        self._note(f"{READ_ONLY}: {what} refused", "warning")

    def start_run(self, scenario_id: str) -> None:
        self._refuse(f"starting {scenario_id}")

    def inject(self, kind: str) -> None:
        self._refuse(kind)

    def action_start(self) -> None:
        self._refuse("start")

    def action_restart(self) -> None:
        self._refuse("restart")

    def action_pick(self) -> None:
        self._refuse("picking a scenario")

    def action_crash(self) -> None:
        self._refuse("crash")

    def action_faults(self) -> None:
        self._refuse("faults")

    def action_partition(self) -> None:
        self._refuse("partition")

    def action_promote(self) -> None:
        self._refuse("promote")

    def action_rollback(self) -> None:
        self._refuse("rollback")

    def action_scale_up(self) -> None:
        self._refuse("scale up")

    def action_scale_down(self) -> None:
        self._refuse("scale down")


def agents_title(rows: tuple[AgentRow, ...], folded: dict[str, float]) -> str:
    """'agents · 4 live · 1 failed · 1 stopped': the count per state (the topology shows members)."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.state] = counts.get(row.state, 0) + 1
    parts = [f"agents · {counts.pop('healthy', 0)} healthy"]
    parts += [f"{n} {state}" for state, n in sorted(counts.items(), key=lambda kv: STATES_ORDER.get(kv[0], 9))]
    if len(rows) > TABLE_LIMIT:
        parts.append(f"table: {TABLE_LIMIT} of {len(rows)}, unwell first (pick others in the heatmap)")
    extra = folded_text(folded)
    if extra:
        parts.append(extra)
    return " · ".join(parts)


STATES_ORDER = {s: i for i, s in enumerate(STATE_GLYPH)}


def legend_text() -> Text:
    """Glyphs of agent states, colors of versions, and how links and checks are drawn."""
    from swarm_tui.ui.topology import legend_lines

    return legend_lines()


def make_app(options: DashboardOptions | None = None, **kwargs: Any) -> SwarmApp:
    """The one factory for the CLI, the tests and the screenshot script."""
    if options is None:
        options = DashboardOptions(**kwargs)
    if options.replay is not None:
        return ReplayApp(options)
    return SwarmApp(options)
