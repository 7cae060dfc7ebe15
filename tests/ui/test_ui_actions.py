"""Pilot tests: every action of the dashboard does what it says, by key, button and palette."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ui_helpers import agents, app_for, events, finish, live, notes, settle, step, wait_for

from swarm_tui.ui.app import ACTIONS, SwarmApp
from swarm_tui.ui.screens import FaultMenu, HelpScreen, ScenarioPicker
from swarm_tui.ui.table import AgentsTable
from swarm_tui.ui.topology import TopologyWidget


@pytest.fixture(autouse=True)
def _config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SWARM_TUI_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "config"


async def test_crash_fails_the_selected_agent_and_it_is_replaced() -> None:
    app = app_for("mesh.failover", pause_at=5.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        victim = app.selected_agent
        assert victim == "momentum-1"  # the first agent is selected from the start
        before = set(agents(app))
        await pilot.press("c")
        await step(pilot, app, 6.0)  # detected within 3 heartbeats, then replaced
        assert agents(app)[victim] in ("failed", "stopped")
        assert any(a.replaces == victim and a.live for a in live(app).ctx.swarm.agents.values())
        assert set(agents(app)) - before  # a new sandbox took its place
        assert any(f"crash injected into {victim}" in e for e in events(app))
        assert any("failure_detected" in e and victim in e for e in events(app))


async def test_rollback_brings_all_traffic_back_to_blue() -> None:
    app = app_for("blue-green.traffic-shift", pause_at=4.5)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        rollout = live(app).ctx.controls.rollout
        await pilot.press("r")
        await step(pilot, app, 2.0)
        assert rollout.status == "rolled-back"
        assert rollout.split.weights == {"blue": 100.0}
        assert not live(app).ctx.swarm.members(pool="green")
        assert any("rollback requested" in e for e in events(app))
        assert any("rollout_step" in e and "rollback" in e for e in events(app))


async def test_promote_advances_the_rollout() -> None:
    app = app_for("canary.rollout", pause_at=3.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        rollout = live(app).ctx.controls.rollout
        assert rollout.step == 1
        await pilot.press("p")
        await step(pilot, app, 0.5)
        assert rollout.step >= 2
        # Step 1 needs 30 canary samples at 5 % of 50 req/s (12 s); by hand it ends at once.
        first = rollout.steps_log[0]
        assert first["t"] < 4.0 and first["decision"] == "advance"
        assert first.get("analysis", {}).get("manual") is True


async def test_actions_after_the_end_say_so() -> None:
    app = app_for("hierarchical.coordinator-workers", pause_at=None)
    async with app.run_test(size=(160, 48)) as pilot:
        await finish(pilot, app)
        assert app.snapshot is not None and app.snapshot.status == "done"
        assert app.snapshot.agents and all(a.state == "healthy" for a in app.snapshot.agents)  # its last look
        await pilot.press("c")
        assert any("the scenario has ended" in n for n in notes(app))
        await pilot.press("x")  # the loop is closed: the speed key says so instead of crashing
        await pilot.press("space")
        assert app.is_running
        assert sum("the scenario has ended" in n for n in notes(app)) == 3


async def test_abort_on_a_canary_and_promote_without_rollout() -> None:
    app = app_for("canary.rollout", pause_at=3.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("r")
        await step(pilot, app, 1.0)
        rollout = live(app).ctx.controls.rollout
        assert rollout.status == "aborted"
        assert rollout.split.weights == {"stable": 100.0}
    app = app_for("mesh.consensus", pause_at=2.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("p")
        assert any("no rollout to promote" in n for n in notes(app))


async def test_theme_switch_applies_and_is_remembered(_config_dir: Path) -> None:
    app = app_for("mesh.equal-coordination", remember_theme=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        first = app.theme
        assert first == "swarm-dark"
        before = app.theme_variables["state-healthy"]
        await pilot.press("t")
        await pilot.pause(0.2)
        assert app.theme != first
        assert app.theme_variables["state-healthy"] != before
        chosen = app.theme
    saved = json.loads((_config_dir / "settings.json").read_text())
    assert saved["theme"] == chosen
    again = app_for("mesh.equal-coordination", remember_theme=True)
    async with again.run_test(size=(120, 40)) as pilot:
        await settle(pilot, again)
        assert again.theme == chosen


async def test_scaling_adds_and_removes_nodes() -> None:
    app = app_for("mesh.failover", pause_at=2.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        topology = app.query_one(TopologyWidget)
        assert len(topology.view.nodes) == 4
        await pilot.press("plus")
        await step(pilot, app, 2.0)
        assert len(topology.view.nodes) == 5
        await pilot.press("minus")
        await step(pilot, app, 2.0)
        assert len(topology.view.nodes) == 4
        assert any("scaling up" in e for e in events(app)) and any("scaling down" in e for e in events(app))


async def test_pause_speed_and_restart() -> None:
    app = app_for("mesh.failover", pause_at=3.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        assert app.snapshot.status == "paused" and app.snapshot.t == 3.0
        await pilot.press("x")
        assert live(app).speed == 5.0
        await pilot.press("space")
        await step(pilot, app, 1.0)
        assert app.snapshot.status == "running" and app.snapshot.t == 4.0
        await pilot.press("space")
        await step(pilot, app, 0.0)
        assert app.snapshot.status == "paused"
        first = live(app)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.live is not first)
        await settle(pilot, app)
        assert app.snapshot.t == pytest.approx(3.0) and app.snapshot.status == "paused"


async def test_fault_menu_injects_into_the_selected_agent() -> None:
    app = app_for("chaos.cpu-spike", pause_at=3.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("n")
        target = app.selected_agent
        assert target == "momentum-2"
        await pilot.press("f")
        assert isinstance(app.screen, FaultMenu)
        await pilot.press("2")  # CPU spike
        await pilot.pause()
        assert not isinstance(app.screen, FaultMenu)
        await step(pilot, app, 0.5)
        assert any(f"cpu-spike injected into {target}" in e for e in events(app))
        assert any("fault_injected" in e and "cpu-spike" in e for e in events(app))


async def test_partition_splits_the_swarm() -> None:
    app = app_for("mesh.equal-coordination", pause_at=2.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("w")
        await step(pilot, app, 0.5)
        assert any(e.startswith("partition partition:") for e in events(app))
        assert app.query_one(TopologyWidget).view.groups != ()


async def test_buttons_and_palette_run_actions() -> None:
    app = app_for("mesh.failover", pause_at=3.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.click("#btn-crash")
        await pilot.pause()
        assert any("crash injected into momentum-1" in e for e in events(app))
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Speed: 1x")
        await wait_for(pilot, lambda: _first_command(app).startswith("Speed"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: live(app).speed == 5.0)  # 1x -> 5x


def _first_command(app: SwarmApp) -> str:
    """The command the palette would run on enter (empty while it is still searching)."""
    from textual.command import CommandList, CommandPalette

    if not isinstance(app.screen, CommandPalette):
        return ""
    commands = app.screen.query_one(CommandList)
    if commands.option_count == 0 or commands.highlighted is None:
        return ""
    return str(commands.get_option_at_index(commands.highlighted).prompt)


def test_every_action_has_a_binding_id_a_button_and_a_command() -> None:
    from swarm_tui.ui.panels import CONTROLS

    ids = {a[0] for a in ACTIONS}
    assert {b.id for b in SwarmApp.BINDINGS} == ids
    buttons = {c[0] for c in CONTROLS}
    # Selection, views and filter are keys and palette commands; everything else also has a button.
    assert ids - buttons <= {"next_agent", "prev_agent", "view", "filter", "quit", "legend"}


async def test_keymap_remaps_by_binding_id() -> None:
    app = app_for("mesh.failover", pause_at=3.0, keymap={"crash": "k"})
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        await pilot.press("c")
        await pilot.pause()
        assert not any("crash injected" in e for e in events(app))
        await pilot.press("k")
        await pilot.pause()
        assert any("crash injected" in e for e in events(app))


async def test_help_lists_every_key_and_picker_starts_a_scenario() -> None:
    app = app_for(None, pause_at=2.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        ids = {row[2] for row in app.screen.rows}
        assert {a[0] for a in ACTIONS} <= ids
        await pilot.press("escape")
        await pilot.press("o")
        assert isinstance(app.screen, ScenarioPicker)
        await pilot.press("down", "enter")  # the first entry is highlighted; one down is the second
        await settle(pilot, app)
        assert app.scenario_id == "mesh.consensus"


async def test_selection_follows_the_table_and_the_topology() -> None:
    app = app_for("mesh.equal-coordination", pause_at=2.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        table = app.query_one(AgentsTable)
        table.focus()
        await pilot.press("down")
        await wait_for(pilot, lambda: app.selected_agent == "momentum-2")
        assert app.query_one(TopologyWidget).selected == "momentum-2"
        topology = app.query_one(TopologyWidget)
        x, y = topology._positions["momentum-4"]
        border = topology.content_region.offset - topology.region.offset
        await pilot.click(TopologyWidget, offset=(x + border.x, y + border.y))
        await wait_for(
            pilot, lambda: app.selected_agent == "momentum-4" and table.cursor_row == table.get_row_index("momentum-4")
        )


async def test_broken_theme_file_gives_a_notification_and_a_fallback(_config_dir: Path) -> None:
    themes = _config_dir / "themes"
    themes.mkdir(parents=True)
    (themes / "bad.toml").write_text('name = "bad"\nprimary = "not-a-color"\n')
    (themes / "worse.toml").write_text("name = [")
    app = app_for("mesh.equal-coordination")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        problems = app.themes_loaded.problems
        assert len(problems) == 2 and any("primary" in p for p in problems)
        messages = [n.message for n in app._notifications]
        assert sum("theme skipped" in m for m in messages) == 2
        assert app.theme == "swarm-dark"


async def test_compact_layout_shows_one_panel_and_cycles() -> None:
    app = app_for("mesh.failover", pause_at=3.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        assert app.screen.has_class("-compact")
        assert app.query_one("#topology").display and not app.query_one("#events").display
        await pilot.press("v")
        assert app.query_one("#agents").display and not app.query_one("#topology").display
        await pilot.press("v", "v")
        assert app.query_one("#charts").display


async def test_no_color_keeps_states_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = app_for("mesh.failover", pause_at=3.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, app)
        assert app.no_color
        text = "\n".join(s.text for s in app.query_one(TopologyWidget).render_frame())
        assert "●" in text  # healthy, by glyph
        rows = app.query_one(AgentsTable)
        assert "● healthy" in str(rows.get_cell("momentum-1", "state"))
