"""`swarm-tui replay`: a journal played back in the dashboard (read-only), paused, sped up, seeked.

The journals are recorded here from real mock runs; while they run, a probe on the engine's own
clock writes down what the swarm really was at a few moments, and the replay must show the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import CATALOGUE as REGISTRY
from ui_helpers import events, wait_for

from swarm_tui.backends.mock import MockBackend
from swarm_tui.cli import main
from swarm_tui.engine.runner import AnyContext as ScenarioContext
from swarm_tui.engine.runner import run_one
from swarm_tui.results.journal import JournalWriter, read_journal
from swarm_tui.results.model import ScenarioResult
from swarm_tui.session.replay import ReplayError, ReplayRun
from swarm_tui.ui.app import DashboardOptions, ReplayApp, SwarmApp, make_app
from swarm_tui.ui.panels import HeaderBar
from swarm_tui.ui.screens import FaultMenu, ScenarioPicker

# Moments to compare, between events (an event at the very moment could fall either side).
PROBES = {
    "mesh.failover": (5.05, 21.05, 22.7, 30.05),  # before, during the crash's silence, replacing, after
    "star.hub-failover": (10.05, 17.8, 25.05),  # the hub crashed, then the standby holds the lease
    "ring.circuit-breaker": (5.05, 13.05, 30.05),  # the breaker open at 13
    "blue-green.rollback": (3.05, 4.8, 6.05),  # shifting, then rolled back
    "canary.rollout": (5.05, 14.05, 18.05),  # steps 1, 2, 3
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def record(path: Path, scenario_id: str, probes: tuple[float, ...] = ()) -> tuple[ScenarioResult, dict]:
    """Run a catalogue scenario on the mock backend into a journal, noting the truth at ``probes``."""
    truth: dict[float, dict[str, Any]] = {}

    def look(ctx: ScenarioContext, t: float) -> None:
        swarm = ctx.swarms[0]
        topo = swarm.topology
        rollout = ctx.controls.rollout
        breaker = getattr(ctx.state, "breaker", None)
        truth[t] = {
            "agents": {a.id: a.state.value for a in swarm.agents.values()},
            "nodes": tuple(topo.nodes),
            "roles": tuple(topo.roles.get(n, "agent") for n in topo.nodes),
            "rollout": (rollout.status, rollout.step, rollout.weights()) if rollout is not None else None,
            "breaker": breaker.state.value if breaker is not None else None,
        }

    def on_context(ctx: ScenarioContext) -> None:
        for t in probes:
            ctx.clock.call_at(t, look, ctx, t)

    writer = JournalWriter(path, "test-run")
    writer.open({"backend": "mock", "seed": 0, "started_at": "2026-01-01T00:00:00Z", "scenarios": [scenario_id]})
    result = run_one(
        REGISTRY[scenario_id](), MockBackend(0), seed=0, run_id="test-run", subscribers=[writer], on_context=on_context
    )
    writer.close({"finished_at": "2026-01-01T00:00:01Z", "summary": {result.status: 1}, "interrupted": False})
    return result, truth


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, ScenarioResult, dict]]:
    base = tmp_path_factory.mktemp("journals")
    out = {}
    for scenario_id, probes in PROBES.items():
        path = base / f"{scenario_id}.jsonl"
        result, truth = record(path, scenario_id, probes)
        out[scenario_id] = (path, result, truth)
    return out


@pytest.fixture
def mesh(recorded: dict) -> Path:
    return recorded["mesh.failover"][0]


@pytest.fixture(autouse=True)
def _config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARM_TUI_CONFIG_DIR", str(tmp_path / "config"))


# -- the state at a time --------------------------------------------------------------------------------
@pytest.mark.parametrize("scenario_id", list(PROBES))
def test_replay_shows_what_the_run_was(recorded: dict, scenario_id: str) -> None:
    path, result, truth = recorded[scenario_id]
    replay = ReplayRun(read_journal(path))
    assert replay.scenario_id == scenario_id and replay.finished
    assert set(truth) == set(PROBES[scenario_id]), "the probes did not all run"
    for t, seen in sorted(truth.items()):
        assert replay.agents_at(t) == seen["agents"], f"agents at t={t}"
        snap = replay.state_at(t)
        assert snap.topology is not None
        assert snap.topology.nodes == seen["nodes"], f"topology at t={t}"
        assert snap.topology.roles == seen["roles"], f"roles at t={t}"
        if seen["rollout"] is not None:
            assert snap.rollout is not None
            assert (snap.rollout.status, snap.rollout.step, snap.rollout.weights) == seen["rollout"], f"t={t}"
        if seen["breaker"] is not None:
            assert bool(snap.topology.broken) == (seen["breaker"].upper() != "CLOSED"), f"breaker at t={t}"
    end = replay.state_at(replay.total)
    assert end.checks_final and end.status == "done"
    assert [(c.name, c.passed) for c in end.checks] == [(c["name"], c["passed"]) for c in result.checks]
    assert [c.observed for c in end.checks] == [str(c["observed"]) for c in result.checks]


def test_mesh_failover_crash_and_replacement(mesh: Path) -> None:
    replay = ReplayRun(read_journal(mesh))
    before, after = replay.agents_at(20.0), replay.agents_at(23.0)
    assert set(before) == {"momentum-1", "momentum-2", "momentum-3", "momentum-4"}
    assert set(before.values()) == {"healthy"}
    assert after["momentum-2"] in ("failed", "stopped") and after["momentum-5"] == "healthy"
    snap = replay.state_at(23.0)
    assert snap.topology.nodes == ("momentum-1", "momentum-5", "momentum-3", "momentum-4")  # its place
    row = {a.id: a for a in snap.agents}["momentum-2"]
    assert snap.t - row.last_heartbeat > 2.0  # silent since the crash
    replay.seek(23.0)
    lines = [f"{e.kind} {e.text}" for e in replay.events_since(0)]
    assert any(x.startswith("fault_injected fault crash injected into momentum-2") for x in lines)
    assert any(x.startswith("failover momentum-5 replaced momentum-2") for x in lines)
    assert replay.latest.series["agents"][-1] == 4.0 and len(replay.latest.series["agents"]) == 23


def test_canary_rollout_steps_appear_as_they_were_logged(recorded: dict) -> None:
    replay = ReplayRun(read_journal(recorded["canary.rollout"][0]))
    early, late = replay.state_at(5.0).rollout, replay.state_at(replay.total).rollout
    assert early is not None and late is not None
    assert early.kind == "canary" and early.log == () and early.step == 1
    assert [e["decision"] for e in late.log] == ["advance", "advance", "advance", "promote"]
    assert late.status == "promoted"


# -- the clock -----------------------------------------------------------------------------------------
def test_pause_stops_time_speed_scales_it_and_seek_goes_back(mesh: Path) -> None:
    clock = FakeClock()
    replay = ReplayRun(read_journal(mesh), clock=clock)
    clock.now += 5
    assert replay.position == 0.0  # not started: the dashboard starts it once it is up
    replay.start()
    clock.now += 2.0
    replay.request_snapshot()
    assert replay.latest.t == pytest.approx(2.0) and replay.latest.status == "running"
    assert replay.toggle_pause() == "paused"
    clock.now += 10.0
    replay.request_snapshot()
    assert replay.latest.t == pytest.approx(2.0) and replay.latest.status == "paused"
    assert replay.toggle_pause() == "resumed"
    assert replay.next_speed() == 5.0
    clock.now += 4.2
    replay.request_snapshot()
    assert replay.latest.t == pytest.approx(23.0)
    assert replay.latest.agents and {a.id for a in replay.latest.agents} >= {"momentum-5"}
    replay.set_speed(20.0)
    clock.now += 0.5
    assert replay.position == pytest.approx(33.0)
    assert replay.seek(3.0) == 3.0  # backwards: the crash has not happened
    replay.request_snapshot()
    assert replay.latest.t == pytest.approx(3.0)
    assert {a.id: a.state for a in replay.latest.agents} == dict.fromkeys(
        ("momentum-1", "momentum-2", "momentum-3", "momentum-4"), "healthy"
    )
    assert not any(e.kind == "failover" for e in replay.events_since(0))
    clock.now += 100.0  # far past the end: it stops there, done, with the recorded checks
    replay.request_snapshot()
    assert replay.latest.t == pytest.approx(replay.total) and replay.latest.status == "done"
    assert replay.done.is_set() and replay.latest.checks_final
    assert replay.toggle_pause() == "replaying from the start"
    replay.request_snapshot()
    assert replay.latest.t == 0.0 and not replay.done.is_set()
    assert replay.seek(-5) == 0.0 and replay.seek(1e9) == replay.total and replay.seek(float("nan")) == 0.0


def test_read_only_commands_are_refused(mesh: Path) -> None:
    replay = ReplayRun(read_journal(mesh))
    replay.seek(10.0)
    before = replay.latest
    for message in (
        replay.inject("momentum-1", "crash"),
        replay.partition(),
        replay.promote(),
        replay.rollback(),
        replay.scale(+1),
    ):
        assert message == "replay is read-only"
    replay.request_snapshot()
    assert replay.latest.agents == before.agents


# -- broken and cut-short journals ------------------------------------------------------------------------------
def test_a_truncated_journal_plays_to_its_last_event(mesh: Path, tmp_path: Path) -> None:
    raw = mesh.read_bytes()
    cut = raw.index(b'"agent":"momentum-5"')  # killed mid-line, as the replacement was deployed
    short = tmp_path / "killed.jsonl"
    short.write_bytes(raw[:cut])
    journal = read_journal(short)
    assert journal.truncated and not journal.finished
    replay = ReplayRun(journal)
    assert not replay.finished and 22.5 < replay.total < 22.6
    replay.seek(1e9)
    snap = replay.latest
    assert snap.status == "incomplete" and snap.t == replay.total and "incomplete" in (snap.error or "")
    # The checks as they stood when the recording stops: judged so far, never final.
    assert snap.checks and not snap.checks_final and {c.state for c in snap.checks} <= {"pending", "holding", "failed"}
    agents = {a.id: a.state for a in snap.agents}
    assert agents["momentum-2"] == "failed" and "momentum-5" not in agents
    lines = [e.text for e in replay.events_since(0)]
    assert any("was cut short" in x for x in lines) and any("did not finish" in x for x in lines)
    replay.seek(5.0)
    assert not any("cut short" in e.text for e in replay.events_since(0))


def test_journal_without_a_scenario_or_the_asked_one(mesh: Path, tmp_path: Path) -> None:
    header_only = tmp_path / "header.jsonl"
    header_only.write_text(mesh.read_text().splitlines()[0] + "\n")
    with pytest.raises(ReplayError, match="no scenario in this journal"):
        ReplayRun(read_journal(header_only))
    with pytest.raises(ReplayError, match=r"no scenario 'mesh.nope'.*it holds: mesh.failover"):
        ReplayRun(read_journal(mesh), "mesh.nope")


def test_damaged_lines_are_skipped_not_fatal(mesh: Path, tmp_path: Path) -> None:
    lines = mesh.read_text().splitlines()
    bad = json.loads(lines[5])
    bad["t"] = "soon"
    odd = json.loads(lines[6])
    odd["kind"] = "no_such_kind"
    worse = json.loads(lines[7])
    worse["new"] = {"a": 1}
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("\n".join([*lines[:5], json.dumps(bad), json.dumps(odd), json.dumps(worse), *lines[8:]]) + "\n")
    replay = ReplayRun(read_journal(damaged))
    assert any("2 event line(s) with bad fields" in n for n in replay.notes)
    replay.seek(1e9)
    assert replay.latest.status == "done"


# -- seeking a large journal is fast --------------------------------------------------------------------------
def synthetic_journal(path: Path, agents: int = 200, tasks: int = 20_000) -> None:
    """A 20k-event journal: ``agents`` agents, a task every 10 ms, a crash and a replacement."""
    rows = [
        {"kind": "run_started", "run_id": "big", "backend": "mock", "seed": 0},
        {"kind": "scenario_started", "t": 0.0, "scenario": "lab.synthetic", "pattern": "mesh", "title": "big"},
    ]
    for i in range(agents):
        rows.append(
            {
                "kind": "agent_state",
                "t": 0.0,
                "agent": f"momentum-{i + 1}",
                "old": "",
                "new": "starting",
                "reason": "deployed",
                "role": "worker",
            }
        )
        rows.append(
            {
                "kind": "agent_state",
                "t": 0.5,
                "agent": f"momentum-{i + 1}",
                "old": "starting",
                "new": "healthy",
                "reason": "hello",
                "role": "worker",
            }
        )
    for n in range(tasks):
        t = 1.0 + n * 0.01
        rows.append(
            {
                "kind": "task",
                "t": t,
                "task": n,
                "op": "signal",
                "agent": f"momentum-{n % agents + 1}",
                "ok": n % 97 != 0,
                "outcome": "ok" if n % 97 else "error",
                "latency_ms": 5.0 + n % 7,
            }
        )
        if n == tasks // 2:
            rows.append(
                {
                    "kind": "agent_state",
                    "t": t,
                    "agent": "momentum-1",
                    "old": "healthy",
                    "new": "failed",
                    "reason": "crash",
                }
            )
            rows.append(
                {
                    "kind": "agent_state",
                    "t": t,
                    "agent": "momentum-201",
                    "old": "",
                    "new": "starting",
                    "reason": "replaces momentum-1",
                    "role": "worker",
                }
            )
    rows.append(
        {
            "kind": "scenario_finished",
            "t": 1.0 + tasks * 0.01,
            "scenario": "lab.synthetic",
            "status": "passed",
            "result": {"checks": [{"name": "n", "passed": True, "expected": "1", "observed": 1}]},
        }
    )
    rows.append({"kind": "run_finished", "run_id": "big"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_seeking_a_20k_event_journal_lands_where_asked(tmp_path: Path) -> None:
    # How fast it seeks is measured by tests/benchmarks/bench_replay.py, not here.
    path = tmp_path / "big.jsonl"
    synthetic_journal(path)
    journal = read_journal(path)
    assert len(journal.events) > 20_000
    replay = ReplayRun(journal)
    for target in (150.0, 20.0, 199.0, 1.0, 120.0, 60.0, 180.0, 5.0, 100.0, 0.0):
        replay.seek(target)
        assert replay.latest.t == target
    replay.seek(150.0)
    states = {a.id: a.state for a in replay.latest.agents}
    assert states["momentum-1"] == "failed" and states["momentum-201"] == "starting"
    assert replay.latest.topology.nodes[0] == "momentum-201"


# -- the dashboard in replay mode ----------------------------------------------------------------------------
def replay_app(path: Path, at: float | None = 10.0, **kwargs: Any) -> ReplayApp:
    replay = ReplayRun(read_journal(path), **kwargs)
    if at is not None:
        replay.seek(at)
        replay.pause()
    app = make_app(
        DashboardOptions(
            replay=replay, stable=True, remember_theme=False, picker_on_start=False, backend=replay.backend_name
        )
    )
    assert isinstance(app, ReplayApp)
    return app


async def shown(pilot: Any, app: ReplayApp) -> None:
    """What the dashboard's timers would show now (the replay's clock is the test's)."""
    await pilot.pause()
    app.refresh_now()
    await pilot.pause()


async def test_space_pauses_and_seek_keys_move_t(mesh: Path, _state_dir: Path) -> None:
    runs = set((_state_dir / "runs").glob("*")) if (_state_dir / "runs").exists() else set()
    clock = FakeClock()
    app = replay_app(mesh, at=10.0, clock=clock)
    async with app.run_test(size=(160, 48)) as pilot:
        await shown(pilot, app)
        assert app.snapshot.status == "paused" and app.snapshot.t == pytest.approx(10.0)
        header = str(app.query_one(HeaderBar).render())
        assert "replay" in header and "t=10.0s/41.6s" in header
        await pilot.press("space")
        clock.now += 1.0
        await shown(pilot, app)
        assert app.snapshot.status == "running" and app.snapshot.t == pytest.approx(11.0)
        await pilot.press("space")
        await shown(pilot, app)
        assert app.snapshot.status == "paused"
        t = app.snapshot.t
        clock.now += 5.0
        await shown(pilot, app)
        assert app.snapshot.t == t  # paused: time stands still
        await pilot.press("right_square_bracket")
        assert app.snapshot.t == pytest.approx(t + 5.0)
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert app.snapshot.t == pytest.approx(t - 5.0)
        await pilot.press("dollar_sign")
        await shown(pilot, app)
        assert app.snapshot.status == "done" and app.snapshot.checks_final
        assert any("scenario_finished" in e for e in events(app))
        await pilot.press("0")
        await shown(pilot, app)
        assert app.snapshot.t == 0.0 and not any("scenario_finished" in e for e in events(app))
        await pilot.press("dollar_sign", "space")  # at the end, space plays it again from the start
        clock.now += 1.0
        await shown(pilot, app)
        assert app.snapshot.status == "running" and app.snapshot.t == pytest.approx(1.0)
        assert not any("scenario_finished" in e for e in events(app))  # the log restarts
        assert any("momentum-4: starting -> healthy" in e for e in events(app))
        await pilot.press("space")
        await pilot.press("x")
        assert app.replay.speed == 5.0
        await pilot.press("x", "x")
        assert app.replay.speed == 1.0
    assert app.journals == []  # a replay journals nothing
    after = set((_state_dir / "runs").glob("*")) if (_state_dir / "runs").exists() else set()
    assert after == runs


async def test_actions_that_would_change_a_run_are_refused(mesh: Path) -> None:
    app = replay_app(mesh, at=21.0, clock=FakeClock())
    async with app.run_test(size=(160, 48)) as pilot:
        await shown(pilot, app)
        before = app.replay.latest
        recorded_lines = [e for e in events(app) if not e.startswith("action ")]
        app.clear_notifications()
        await pilot.press("c")
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any("replay is read-only" in m for m in messages)
        for key in ("f", "w", "p", "r", "plus", "minus", "s", "ctrl+r", "o"):
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(app.screen, FaultMenu | ScenarioPicker), key
        await shown(pilot, app)
        # Refusals are said (a warning each), not written into the recorded events.
        refused = [n.message for n in app._notifications if "replay is read-only" in n.message]
        assert len(refused) == 10
        assert not any("read-only" in e for e in events(app))
        # Its control bar offers only what a replay can do: no button changes the run.
        buttons = {b.id for b in app.query("ControlBar Button")}
        assert "btn-crash" not in buttons and "btn-promote" not in buttons
        assert {"btn-seek_back", "btn-seek_forward", "btn-pause"} <= buttons
        assert [e for e in events(app) if not e.startswith("action ")] == recorded_lines  # nothing happened
        app.replay.request_snapshot()
        assert app.replay.latest.agents == before.agents and app.replay.latest.t == before.t
        assert app.replay.agents_at(25.0)["momentum-2"] != "healthy"  # the recording, unchanged
        t0 = app.replay.position
        await pilot.click("#btn-seek_back")
        await wait_for(pilot, lambda: app.replay.position < t0)


async def test_palette_offers_the_seek_commands(mesh: Path) -> None:
    from textual.command import CommandList, CommandPalette

    def first_command() -> str:
        if not isinstance(app.screen, CommandPalette):
            return ""
        commands = app.screen.query_one(CommandList)
        if commands.option_count == 0 or commands.highlighted is None:
            return ""
        return str(commands.get_option_at_index(commands.highlighted).prompt)

    app = replay_app(mesh, at=10.0, clock=FakeClock())
    async with app.run_test(size=(160, 48)) as pilot:
        await shown(pilot, app)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Replay: seek forward 5 s" in titles and "Replay: go to the end" in titles
        await pilot.press("ctrl+p")
        await pilot.press(*"seek forward")
        await wait_for(pilot, lambda: first_command().startswith("Replay: seek forward"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.snapshot.t == pytest.approx(15.0))
    assert "seek_forward" not in {a[0] for a in SwarmApp.ALL_ACTIONS}  # the live dashboard has no seek


async def test_seek_keys_can_be_remapped_and_are_in_the_help(mesh: Path) -> None:
    from swarm_tui.ui.screens import HelpScreen

    replay = ReplayRun(read_journal(mesh), clock=FakeClock())
    replay.seek(10.0)
    replay.pause()
    app = make_app(
        DashboardOptions(
            replay=replay, stable=True, remember_theme=False, picker_on_start=False, keymap={"seek_forward": "l"}
        )
    )
    async with app.run_test(size=(160, 48)) as pilot:
        await shown(pilot, app)
        await pilot.press("l")
        assert app.snapshot.t == pytest.approx(15.0)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = {row[2]: row[0] for row in app.screen.rows}
        assert rows["seek_forward"] == "l" and rows["seek_back"] == "["  # keys as typed


async def test_an_incomplete_recording_says_so(mesh: Path, tmp_path: Path) -> None:
    raw = mesh.read_bytes()
    short = tmp_path / "killed.jsonl"
    short.write_bytes(raw[: raw.index(b'"agent":"momentum-5"')])
    clock = FakeClock()
    app = replay_app(short, at=None, speed=20.0, clock=clock)
    async with app.run_test(size=(160, 48)) as pilot:
        await shown(pilot, app)
        clock.now += 10.0  # 200 s of recording at 20x: past its end
        await shown(pilot, app)
        assert app.snapshot.status == "incomplete"
        await wait_for(pilot, lambda: any("incomplete recording" in n.message for n in app._notifications))
        assert "incomplete" in str(app.query_one(HeaderBar).render())
        assert any("cut short" in e for e in events(app))


# -- the command line -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "no such journal"),
        (b"", "empty file"),
        (b"this is not json\n", "not JSON"),
        (bytes(range(256)) * 4, "not JSON"),
        (b'{"kind":"run_started","run_id":"x"}\n', "no scenario in this journal"),
    ],
    ids=["missing", "empty", "not-json", "binary", "no-scenario"],
)
def test_replay_bad_files_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, needle: str
) -> None:
    path = tmp_path / "journal.jsonl"
    if content is not None:
        path.write_bytes(content)
    assert main(["replay", str(path)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and needle in lines[0], err


def test_replay_unknown_scenario_exits_2(mesh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(mesh), "--scenario", "mesh.nope"]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "no scenario 'mesh.nope'" in lines[0] and "Traceback" not in err
    assert main(["replay", str(mesh), "--theme", "no-such-theme"]) == 2
    assert "unknown theme" in capsys.readouterr().err


# -- the look -------------------------------------------------------------------------------------------
def test_replay_snapshot(snap_compare, mesh: Path) -> None:
    app = replay_app(mesh, at=None, clock=FakeClock())

    async def run_before(pilot) -> None:
        await shown(pilot, app)
        app.replay.pause()
        app.seek(22.7)  # the crash detected, the replacement starting
        app.clear_notifications()
        await shown(pilot, app)

    assert snap_compare(app, terminal_size=(160, 48), run_before=run_before)
