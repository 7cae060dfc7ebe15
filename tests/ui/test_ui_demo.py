"""What a new user hit in the dashboard (issue 10), one test per finding: each failed before."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.app import App, ComposeResult
from textual.color import Color
from textual.widgets import Footer, Input
from ui_helpers import app_for, events, finish, live, notes, settle, step, wait_for

from swarm_tui.engine.projection import RolloutView, TopologyView
from swarm_tui.ui.checks import CHECK_GLYPH, EndPanel, checks_text
from swarm_tui.ui.panels import ChartsPanel, EventsPanel, HeaderBar, fit, header_parts
from swarm_tui.ui.rollout import analysis_text, rollout_renderable
from swarm_tui.ui.screens import HelpScreen, ScenarioPicker
from swarm_tui.ui.table import AgentsTable, choose_columns, folded_text
from swarm_tui.ui.themes import SWARM_VARIABLES, load_themes
from swarm_tui.ui.topology import STATE_GLYPH, TopologyWidget


@pytest.fixture(autouse=True)
def _dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SWARM_TUI_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("SWARM_TUI_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def plain(renderable: Any, width: int = 100) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


def cell_text(value: Any) -> str:
    return value.plain if hasattr(value, "plain") else str(value)


# -- 2: cut values ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("scenario", "at"), [("mesh.failover", 22.5), ("multi-strategy.mix", 12.0)])
async def test_every_column_is_as_wide_as_its_widest_value(scenario: str, at: float) -> None:
    app = app_for(scenario, pause_at=2.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await step(pilot, app, at - 2.0)  # values grow after the first rows were measured
        table = app.query_one(AgentsTable)
        assert table.row_count
        for key, column in table.columns.items():
            widest = max(len(cell_text(table.get_cell(row, key))) for row in table.rows)
            assert column.get_render_width(table) - 2 * table.cell_padding >= widest, (key.value, widest)
        if "sandbox" in table.columns:  # the first column to go when the table is narrow
            sandboxes = {cell_text(table.get_cell(row, "sandbox")) for row in table.rows}
            assert len(sandboxes) == table.row_count  # "mock-0001", "mock-0002": not "mock-00" for all
        else:
            assert scenario != "mesh.failover"  # its table is wide enough for every column


@pytest.mark.parametrize("scenario", ["hierarchical.multi-strategy", "canary.rollout", "multi-strategy.mix"])
async def test_no_column_falls_off_the_right_edge(scenario: str) -> None:
    # The README's hierarchical screenshot lost MB and P&L off the table's right edge (columns
    # were dropped only below 100 cells): now the least important go until the rest fit.
    app = app_for(scenario, pause_at=8.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        table = app.query_one(AgentsTable)
        assert table.row_count
        used = sum(column.get_render_width(table) for column in table.columns.values())
        assert used <= table.size.width, (used, table.size.width, [k.value for k in table.columns])
        assert {"id", "state"} <= {k.value for k in table.columns}


@pytest.mark.parametrize("size", [20, 1000])
async def test_a_large_table_redraws_heartbeat_ages_once_a_second(size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each changed cell redraws every visible row of a DataTable: with 10,000 agents the ages
    # (which change on every update) are redrawn once a second; a small table on every update.
    import swarm_tui.ui.table as table_module
    from swarm_tui.engine.projection import AgentRow

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield AgentsTable()

    rows = tuple(
        AgentRow(f"w-{i}", "worker", "momentum", "momentum", "v1", "blue", "healthy", f"mock-{i:04}", 0.0, 1, 0,
                 None, None, None, None)
        for i in range(size)
    )  # fmt: skip
    wall = {"t": 100.0}
    monkeypatch.setattr(table_module, "wall_clock", lambda: wall["t"])
    app = Host()
    async with app.run_test(size=(160, 30)) as pilot:
        table = app.query_one(AgentsTable)
        table.show(rows, 1.0)
        await pilot.pause()
        table.show(rows, 1.0)
        before = table.cell_updates
        wall["t"] += 0.3
        table.show(rows, 2.0)  # every age moved by a second
        if size > AgentsTable.VISIBLE_ONLY_ABOVE:
            assert table.cell_updates == before  # not yet: 0.3 s since the last redraw of ages
            wall["t"] += 0.8
            table.show(rows, 3.0)
        assert table.cell_updates > before
        assert cell_text(table.get_cell("w-0", "last_heartbeat")) == ("3.0" if size > 400 else "2.0")


async def test_columns_fit_their_values_as_soon_as_the_table_is_shown() -> None:
    # Not only once the table is next idle: a frame drawn in between (a screenshot, a busy
    # machine) showed "bl", "work", "mock-00" for every agent.
    from swarm_tui.engine.projection import AgentRow

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield AgentsTable()

    rows = tuple(
        AgentRow(
            f"blue-{i}",
            "worker",
            "momentum",
            "momentum",
            "v1",
            "blue",
            "healthy",
            f"mock-000{i}",
            0.0,
            0,
            0,
            None,
            None,
            None,
            None,
        )
        for i in range(1, 4)
    )
    app = Host()
    async with app.run_test(size=(160, 20)):
        table = app.query_one(AgentsTable)
        table.show(rows, 1.0)  # no pause: nothing idle in between
        for key, column in table.columns.items():
            widest = max(len(cell_text(table.get_cell(row, key))) for row in table.rows)
            assert column.get_render_width(table) - 2 * table.cell_padding >= widest, (key.value, widest)


async def test_columns_narrow_again_when_their_widest_value_goes() -> None:
    # Widths are kept by count (DataTable re-measured the whole column on every narrower cell:
    # most of the UI's time with 10,000 agents). After many updates each column is exactly as
    # wide as a full measure of what it holds: never cut, never left wide by a value gone.
    import random

    from swarm_tui.engine.projection import AgentRow

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield AgentsTable()

    def row(i: int, tasks: int, state: str) -> AgentRow:
        return AgentRow(
            f"w-{i}", "worker", "momentum", "momentum", "v1", "blue", state, f"mock-{i:04}", 0.0, tasks, 0,
            None, None, None, None,
        )  # fmt: skip

    rng = random.Random(3)
    app = Host()
    async with app.run_test(size=(160, 20)):
        table = app.query_one(AgentsTable)
        table.show(tuple(row(i, 0, "healthy") for i in range(8)), 1.0)
        table.show(tuple(row(i, 123456 if i == 2 else 0, "healthy") for i in range(8)), 1.0)
        assert table.columns["tasks"].content_width > len("tasks")  # type: ignore[index]
        table.show(tuple(row(i, 0, "healthy") for i in range(8)), 1.0)
        assert table.columns["tasks"].content_width == len("tasks")  # type: ignore[index]
        for _ in range(30):
            n = rng.randint(1, 12)
            table.show(
                tuple(row(i, rng.choice([0, 7, 9999, 10**7]), rng.choice(["healthy", "degraded"])) for i in range(n)),
                1.0,
            )
            for key, column in table.columns.items():
                widest = max(len(cell_text(table.get_cell(r, key))) for r in table.rows)
                assert column.content_width == max(widest, len(column.label.plain)), key.value


async def test_a_large_swarm_lists_its_unwell_agents_first() -> None:
    # 10,000 agents, one failed far down the list: the table (300 rows) starts with it, also when
    # its row was already shown as healthy before it failed.
    from swarm_tui.engine.projection import AgentRow
    from swarm_tui.ui.app import TABLE_LIMIT, table_rows

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield AgentsTable()

    def swarm(failed: str | None) -> tuple[AgentRow, ...]:
        return tuple(
            AgentRow(
                f"m-{i}",
                "worker",
                "momentum",
                "momentum",
                "v1",
                "stable",
                "failed" if f"m-{i}" == failed else "healthy",
                f"mock-{i}",
                0.0,
                0,
                0,
                None,
                None,
                None,
                None,
            )
            for i in range(1, 10_001)
        )

    app = Host()
    async with app.run_test(size=(160, 20)):
        table = app.query_one(AgentsTable)
        table.show(table_rows(swarm(None), None), 1.0)
        assert table.row_count == TABLE_LIMIT
        for failed in ("m-4321", "m-7"):  # one never shown before, one shown as healthy
            table.show(table_rows(swarm(failed), None), 2.0)
            first = table.ordered_rows[0].key.value
            assert first == failed and cell_text(table.get_cell(failed, "state")).endswith("failed")


# -- 3: checks that cannot be judged yet ----------------------------------------------------------
@pytest.mark.parametrize(("scenario", "at"), [("ring.circuit-breaker", 2.8), ("mesh.failover", 5.0)])
async def test_checks_not_yet_judged_are_pending_not_failed(scenario: str, at: float) -> None:
    app = app_for(scenario, pause_at=at)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        checks = app.snapshot.checks
        assert checks and not [c for c in checks if c.state == "failed"]
        assert any(c.state == "pending" for c in checks)
        text = plain(checks_text(checks, False))
        assert "✘" not in text and "…" in text


def test_the_three_states_of_a_check_have_distinct_glyphs() -> None:
    glyphs = {CHECK_GLYPH[s][0] for s in ("pending", "holding", "failed")}
    assert len(glyphs) == 3


# -- 4: 80x24 -------------------------------------------------------------------------------------
async def test_80x24_header_footer_and_events_view() -> None:
    app = app_for("mesh.failover", pause_at=3.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        header = str(app.query_one(HeaderBar).content)
        assert "t=3.0s" in header and "1x" in header and "paused" in header
        assert not app.query_one("#controls").display  # no half-cut button bar
        footer = app.query_one(Footer)
        keys = {k.key: k for k in footer.query("FooterKey")}  # type: ignore[var-annotated]
        for key in ("question_mark", "q"):
            region = keys[key].region
            assert keys[key].display and region.width > 0 and region.right <= 80, key
        assert not footer.show_command_palette
        await pilot.press("v", "v")  # the events
        assert not app.query_one("#main").display
        assert app.query_one("#events").region.height >= 18  # no blank top half
        await pilot.press("v", "v", "v", "v")  # charts, checks, swarm, agents
        table = app.query_one(AgentsTable)
        assert table.display
        await settle(pilot, app, 4.0)
        widths = sum(c.get_render_width(table) for c in table.columns.values())
        assert widths <= table.size.width, table.fields


def test_the_header_keeps_time_speed_and_status_when_narrow() -> None:
    from swarm_tui.engine.projection import Snapshot

    snap = Snapshot(
        t=12.34,
        status="paused",
        speed=5.0,
        scenario="ring.circuit-breaker",
        title="A long title",
        backend="mock",
        run_id="20260101-000000-abcdef",
    )
    for width in (60, 78, 158):
        line = fit(header_parts(snap, "mock"), width).plain
        assert len(line) <= width or width < 60
        assert "t=12.3s" in line and "5x" in line and "paused" in line


# -- 5: the filter -------------------------------------------------------------------------------------
async def test_the_filter_is_one_line_shows_what_is_typed_and_escape_leaves() -> None:
    app = app_for("mesh.failover", pause_at=3.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("slash")
        box = app.query_one("#event-filter", Input)
        assert app.focused is box and box.region.height == 1
        await pilot.press(*"heal")
        assert box.value == "heal"
        assert app.query_one(EventsPanel).filter == "heal"
        await pilot.press("escape")
        assert app.focused is not box
        await pilot.press("c")  # keys work again
        await pilot.pause()
        assert any("crash injected" in n for n in notes(app))


# -- 6: events are what happened to the run ------------------------------------------------------------
async def test_selection_theme_and_views_write_no_events() -> None:
    app = app_for("mesh.failover", pause_at=3.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        before = len(events(app))
        await pilot.press("n", "n", "N", "t", "v")
        await pilot.pause()
        assert len(events(app)) == before
        await pilot.press("c")
        await pilot.pause()
        added = [e for e in events(app)[before:] if not e.startswith("fault_injected")]  # the engine's own
        assert len(added) == 1 and added[0].startswith("you crash injected into")


# -- 7: dead agents ----------------------------------------------------------------------------------------
async def test_dead_agents_are_skipped_and_cannot_be_crashed_again() -> None:
    app = app_for("mesh.failover", pause_at=3.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        victim = app.selected_agent
        await pilot.press("c")
        await step(pilot, app, 0.5)
        await pilot.press("c")  # still "healthy" to the engine (a mock crash is silent): refused
        await step(pilot, app, 0.5)
        injected = [e for e in events(app) if e.startswith("fault_injected") and victim in e]
        assert len(injected) == 1
        assert any(f"{victim} was crashed at" in n for n in notes(app))
        await step(pilot, app, 4.0)  # detected and replaced
        assert victim in app._dead
        for _ in range(6):
            await pilot.press("n")
            assert app.selected_agent not in app._dead


# -- 8: stale numbers --------------------------------------------------------------------------------------
async def test_counts_are_integers_and_observed_values_are_rounded() -> None:
    app = app_for("mesh.failover", pause_at=25.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        labels = [str(label.content) for label in app.query_one(ChartsPanel).query("Label") if label.display]
        agents = next(x for x in labels if x.startswith("agents"))
        assert agents == "agents: 4"
        assert not any(x.startswith("P&L") for x in labels)  # mesh.failover does not trade
        text = plain(checks_text(app.snapshot.checks, False))
        recovery = next(c for c in app.snapshot.checks if c.name.endswith("service restored (s)"))
        assert len(recovery.observed) > 6 and recovery.observed not in text  # 2.283241 ...
        assert f"{float(recovery.observed):.3g}" in text  # ... reads 2.28


async def test_a_closing_breaker_does_not_repeat_the_figures_that_opened_it() -> None:
    app = app_for("ring.circuit-breaker", pause_at=30.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        closed = [e for e in events(app) if e.startswith("breaker") and e.endswith(("CLOSED", "succeeded)"))]
        assert closed and not any("calls failed" in e for e in closed), closed


async def test_columns_without_data_are_hidden_and_constant_figures_said_once() -> None:
    app = app_for("mesh.failover", pause_at=5.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        table = app.query_one(AgentsTable)
        assert "pnl" not in table.fields  # no trades, no P&L column (not +0.00 everywhere)
        assert "cpu_pct" in table.fields  # the mock's CPU varies by agent and over time: a column
        # A figure every live agent shares is said once, in the title, not in a column.
        rows = tuple(dataclasses.replace(r, cpu_pct=3.2) for r in app.snapshot.agents)
        fields, folded = choose_columns(rows, 160)
        assert "cpu_pct" not in fields and folded_text(folded).startswith("cpu 3 %")
    app = app_for("multi-strategy.mix", pause_at=12.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        assert "pnl" in app.query_one(AgentsTable).fields


async def test_the_rollout_panel_lists_every_step_at_the_end() -> None:
    app = app_for("canary.rollout", pause_at=None)
    async with app.run_test(size=(160, 48)) as pilot:
        await finish(pilot, app)
        rollout = app.snapshot.rollout
        assert rollout is not None and rollout.step == rollout.steps == 4
        text = plain(rollout_renderable(rollout), 90)
        rows = [line.split()[0] for line in text.splitlines() if line.strip()[:1].isdigit()]
        assert rows[:4] == ["1", "2", "3", "4"]
        assert "4/4" in text and "promote" in text


def test_an_analysis_shows_its_interval_when_it_has_one() -> None:
    with_interval = {
        "measurements": [
            {"name": "success_ratio", "value": 0.97, "low": 0.94, "high": 0.99, "threshold": 0.95, "op": ">="}
        ],
        "rule": "lower bound of the 95% Wilson interval >= threshold, n >= 30",
    }
    text = analysis_text(with_interval).plain
    assert "0.97 [0.94, 0.99] ≥ 0.95" in text and "Wilson" in text
    without = {"measurements": [{"name": "p95_ratio", "value": 1.2, "threshold": 1.5, "op": "<=", "passed": True}]}
    assert analysis_text(without).plain == "✔p95 ratio 1.2 ≤ 1.5"
    view = RolloutView("canary", "analysing", 2, 3, {"canary": 25.0}, {}, (), (5.0, 25.0, 100.0), with_interval)
    assert "[0.94, 0.99]" in plain(rollout_renderable(view), 120)  # the live step shows it too


# -- end of run ------------------------------------------------------------------------------------------
async def test_the_end_of_run_view_gives_verdict_checks_figures_and_journal() -> None:
    app = app_for("mesh.failover", pause_at=None)
    async with app.run_test(size=(160, 48)) as pilot:
        await finish(pilot, app)
        end = app.query_one(EndPanel)
        assert end.display and end.verdict == "passed"
        text = str(end.content)
        journal = app.journal_of_run()
        assert journal is not None and str(journal) in text
        assert "PASSED" in text and "swarm-tui report" in text and "tasks:" in text


async def test_the_end_of_run_view_says_failed_when_a_check_failed() -> None:
    from swarm_tui.patterns.catalogue import load_catalogue

    cls = load_catalogue()["mesh.failover"]
    off = {"mesh.failover-off": lambda: cls(mechanisms={"failover": False})}
    app = app_for("mesh.failover-off", pause_at=None, extra_scenarios=off)
    async with app.run_test(size=(160, 48)) as pilot:
        await finish(pilot, app)
        end = app.query_one(EndPanel)
        assert end.verdict == "failed" and "FAILED" in str(end.content)


# -- 9: the swarm at a glance -------------------------------------------------------------------------------
def contrast(a: str, b: str) -> float:
    def lum(c: Color) -> float:
        def ch(v: int) -> float:
            x = v / 255
            return x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4

        return 0.2126 * ch(c.r) + 0.7152 * ch(c.g) + 0.0722 * ch(c.b)

    la, lb = sorted((lum(Color.parse(a)), lum(Color.parse(b))), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_links_stand_out_from_the_background_in_every_color_theme() -> None:
    for theme in load_themes().themes.values():
        if theme.name == "swarm-ansi":
            continue  # the terminal's own palette
        link = theme.variables.get("link", SWARM_VARIABLES["link"])
        surface = theme.surface or theme.background
        assert surface is not None
        assert contrast(link, surface) >= 3.0, theme.name


class Host(App[None]):
    def get_theme_variable_defaults(self) -> dict[str, str]:
        return {**super().get_theme_variable_defaults(), **SWARM_VARIABLES}

    def compose(self) -> ComposeResult:
        yield TopologyWidget()


def view_of(n: int, kind: str = "mesh", failed: int | None = None, **kw: Any) -> TopologyView:
    nodes = tuple(f"agent-{i}" for i in range(n))
    states = tuple("failed" if i == failed else "healthy" for i in range(n))
    return TopologyView(kind=kind, nodes=nodes, roles=("worker",) * n, states=states, pools=("stable",) * n, **kw)


async def test_a_mesh_of_up_to_12_is_no_hairball_and_the_selected_links_stand_out() -> None:
    app = Host()
    async with app.run_test(size=(110, 32)) as pilot:
        widget = app.query_one(TopologyWidget)
        for n in (6, 12):
            widget.show(view_of(n, messages=(("agent-2", "agent-3", 0.1),)))
            widget.selected = "agent-0"
            await pilot.pause()
            widget.render_frame()
            styles = [style for _a, _b, style in widget.edges_drawn]
            assert styles.count("linked") == n - 1  # the selected agent's links
            assert styles.count("active") == 1  # the link a message is on
            assert len(styles) == n  # not n(n-1)/2
        widget.selected = None
        widget.show(view_of(3))
        await pilot.pause()
        widget.render_frame()
        assert len(widget.edges_drawn) == 3  # a small mesh draws every link


async def test_no_link_pokes_through_a_label_and_the_legend_toggles() -> None:
    app = Host()
    async with app.run_test(size=(110, 32)) as pilot:
        widget = app.query_one(TopologyWidget)
        widget.show(view_of(8, kind="ring"))
        await pilot.pause()
        lines = [s.text for s in widget.render_frame()]
        assert "healthy" in lines[0] and "l hides" in lines[0]
        for node, (x, y) in widget._positions.items():
            label = f" {node}"
            start = lines[y].find(label, max(0, x - len(label) - 1))
            assert start >= 0
            for cx in (start - 1, start + len(label)):
                if 0 <= cx < len(lines[y]):
                    assert not "\u2800" <= lines[y][cx] <= "\u28ff", (node, lines[y])
        widget.toggle_legend()
        assert "l hides" not in widget.render_frame()[0].text


async def test_one_failed_agent_among_10000_stands_out_in_the_heatmap() -> None:
    app = Host()
    async with app.run_test(size=(110, 32)) as pilot:
        widget = app.query_one(TopologyWidget)
        widget.show(view_of(10_000, failed=4321))
        await pilot.pause()
        text = "\n".join(s.text for s in widget.render_frame())
        assert widget.mode == "heatmap"
        assert text.count(STATE_GLYPH["failed"]) >= 2  # its glyph in the map, and in the legend/counts
        assert "✖ 1 failed" in text and "● 9,999 healthy" in text
        assert "1 unwell: agent-4321 failed" in text  # its group names it


# -- 10: help and palette ---------------------------------------------------------------------------------------
async def test_help_shows_keys_as_typed_and_replay_help_lists_only_what_replay_does(tmp_path: Path) -> None:
    app = app_for("mesh.failover", pause_at=2.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = {row[2]: row[0] for row in app.screen.rows}
        assert keys["scale_up"] == "+" and keys["filter"] == "/" and keys["help"] == "?" and keys["restart"] == "^r"
        await pilot.press("escape")
    journal = live(app).journal.path if live(app).journal is not None else None
    assert journal is not None
    from swarm_tui.results.journal import read_journal
    from swarm_tui.session.replay import ReplayRun
    from swarm_tui.ui.app import DashboardOptions, make_app

    replay = make_app(DashboardOptions(replay=ReplayRun(read_journal(journal)), stable=True, remember_theme=False))
    async with replay.run_test(size=(160, 48)) as pilot:
        await pilot.press("question_mark")
        rows = {row[2]: row[0] for row in replay.screen.rows}
        assert rows["seek_back"] == "[" and rows["seek_end"] == "$"
        assert not {"crash", "faults", "scale_up", "promote", "start"} & set(rows)


async def test_palette_entries_name_their_key_and_screenshot_saves(_dirs: Path) -> None:
    app = app_for("mesh.failover", pause_at=2.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        commands = list(app.get_system_commands(app.screen))
        crash = next(c for c in commands if c.title == "Crash the selected agent")
        assert crash.help == "key c"
        assert not any("swarm-tui action" in (c.help or "") for c in commands)
        app.action_screenshot()
        await wait_for(pilot, lambda: any(p.suffix == ".svg" for p in (_dirs / "screenshots").glob("*")))
        assert not any("Failed" in n for n in notes(app))


# -- 12: the rest -----------------------------------------------------------------------------------------------
async def test_the_picker_filters_as_you_type() -> None:
    app = app_for(None, pause_at=2.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("o")
        picker = app.screen
        assert isinstance(picker, ScenarioPicker)
        await pilot.press(*"breaker")
        from textual.widgets import OptionList

        options = picker.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert [i for i in ids if i] == ["ring.circuit-breaker"]
        await pilot.press("enter")
        await settle(pilot, app)
        assert app.scenario_id == "ring.circuit-breaker"


async def test_modals_dim_the_dashboard_instead_of_blacking_it_out() -> None:
    app = app_for("mesh.failover", pause_at=2.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        for key in ("question_mark", "f", "o"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen.styles.background.a <= 0.3, key
            await pilot.press("escape")


async def test_a_sorted_column_shows_its_arrow() -> None:
    app = app_for("mesh.failover", pause_at=3.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        table = app.query_one(AgentsTable)
        table.sort_by("tasks")
        assert str(table.columns["tasks"].label).endswith("▲")  # type: ignore[index]
        table.sort_by("tasks", reverse=True)
        assert str(table.columns["tasks"].label).endswith("▼")  # type: ignore[index]
        assert not str(table.columns["id"].label).endswith(("▲", "▼"))  # type: ignore[index]


async def test_the_table_title_counts_agents_per_state_like_the_topology() -> None:
    app = app_for("blue-green.rollback", pause_at=9.0)  # green rolled back (at 7.6 s on seed 0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        title = str(app.query_one(AgentsTable).border_title)
        nodes = len(app.query_one(TopologyWidget).view.nodes)
        assert title.startswith(f"agents · {nodes} healthy · 3 stopped"), title


async def test_scaling_by_hand_says_the_autoscaler_decides() -> None:
    app = app_for("autoscaling.scale-up", pause_at=3.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        before = len(live(app).ctx.swarm.agents)
        await pilot.press("plus")
        await step(pilot, app, 0.5)
        assert len(live(app).ctx.swarm.agents) == before
        assert any("the autoscaler sizes this swarm" in n for n in notes(app))
