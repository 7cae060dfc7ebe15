"""Dashboard benchmarks: prints numbers, asserts nothing.

    .venv/bin/python tests/benchmarks/bench_ui.py [--agents 10000] [--seconds 10]

1. Topology frame time: a 200-node mesh (the heatmap) and a 150-node graph, median of many frames.
2. A 10,000-agent mock swarm running at 1x in the dashboard (headless): CPU used by the UI thread
   and by the engine thread, as % of one core, while the dashboard refreshes at its rates; and
   how long key presses take to be handled (select the next agent), median and worst.
3. Time to the first frame of `swarm-tui --scenario mesh.failover`, from launching the process:
   the app in-process (headless), and the real command in a tmux terminal (160x48) as a person
   sees it: until the dashboard's panels are drawn, and until the scenario's agents are listed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import psutil


def bench_topology() -> None:
    from textual.app import App

    from swarm_tui.engine.projection import TopologyView
    from swarm_tui.ui.themes import SWARM_VARIABLES
    from swarm_tui.ui.topology import TopologyWidget

    class Host(App):
        def get_theme_variable_defaults(self) -> dict[str, str]:
            return {**super().get_theme_variable_defaults(), **SWARM_VARIABLES}

        def compose(self):  # type: ignore[no-untyped-def]
            yield TopologyWidget()

    async def run() -> None:
        app = Host()
        async with app.run_test(size=(110, 32)) as pilot:
            widget = app.query_one(TopologyWidget)
            rng = random.Random(1)
            for n, kind in ((200, "mesh"), (150, "ring"), (10_000, "mesh")):
                nodes = tuple(f"agent-{i}" for i in range(n))
                states = tuple(rng.choice(["healthy"] * 30 + ["degraded", "failed", "starting"]) for _ in nodes)
                widget.show(
                    TopologyView(kind=kind, nodes=nodes, roles=("worker",) * n, states=states, pools=("stable",) * n)
                )
                await pilot.pause(0.05)
                times = []
                for _ in range(50):
                    widget._dirty = True
                    t0 = time.perf_counter()
                    widget.render_frame()
                    times.append(time.perf_counter() - t0)
                median = statistics.median(times) * 1000
                print(
                    f"topology: {n:>6}-node {kind} ({widget.mode}) frame median {median:.2f} ms,"
                    f" worst {max(times) * 1000:.2f} ms (target < 5 ms for 200 nodes)"
                )

    asyncio.run(run())


def bench_large_swarm(agents: int, seconds: float) -> None:
    from swarm_tui.patterns.catalogue import load_catalogue
    from swarm_tui.ui.app import DashboardOptions, make_app

    cls = load_catalogue()["lab.large-swarm"]
    params = {"size": agents, "rate_per_agent": 0.01, "duration_s": 3600.0, "heartbeat_s": 2.0}
    options = DashboardOptions(
        scenario="lab.large-swarm",
        seed=0,
        speed=1.0,
        stable=True,
        remember_theme=False,
        picker_on_start=False,
        extra_scenarios={"lab.large-swarm": lambda: cls(params)},
    )
    app = make_app(options)
    me = psutil.Process()
    from textual.screen import Screen

    # Key press latency as a person sees it: from the key to the first repaint after its handler.
    handled: list[float] = []
    painted: list[float] = []
    original_action = app.action_next_agent

    def timed_action() -> None:
        original_action()
        handled.append(time.perf_counter())

    app.action_next_agent = timed_action  # type: ignore[method-assign]
    original_paint = Screen._on_timer_update

    def timed_paint(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = original_paint(self, *args, **kwargs)
        painted.append(time.perf_counter())
        return result

    Screen._on_timer_update = timed_paint  # type: ignore[method-assign]

    def thread_cpu() -> dict[int, float]:
        return {t.id: t.user_time + t.system_time for t in me.threads()}

    async def run() -> None:
        async with app.run_test(size=(160, 48)) as pilot:
            for _ in range(600):
                await pilot.pause(0.1)
                snap = app.snapshot
                if snap is not None and len(snap.agents) >= agents and all(a.state == "healthy" for a in snap.agents):
                    break
            ui_thread = threading.get_native_id()
            engine_thread = app.live._thread.native_id if app.live and app.live._thread else None
            before, wall0 = thread_cpu(), time.perf_counter()
            await pilot.pause(seconds)
            after, wall = thread_cpu(), time.perf_counter() - wall0
            ui = (after.get(ui_thread, 0) - before.get(ui_thread, 0)) / wall
            engine = (after.get(engine_thread, 0) - before.get(engine_thread, 0)) / wall if engine_thread else 0.0
            total = sum(after.values()) - sum(before.get(k, 0) for k in after)
            latencies = []
            missed = 0
            for _ in range(30):
                seen = len(handled)
                t0 = time.perf_counter()
                await pilot.press("n")
                for _ in range(500):  # up to 5 s for the handler and the repaint after it
                    if len(handled) > seen and any(p >= handled[-1] for p in painted):
                        break
                    await pilot.pause(0.01)
                if len(handled) == seen:
                    missed += 1  # the key never reached its action
                    continue
                done = handled[-1]
                latencies.append(next((p for p in painted if p >= done), time.perf_counter()) - t0)
                await pilot.pause(0.1)
            if missed:
                print(f"  {missed} of 30 key presses never reached their action")
            snap = app.snapshot
            print(f"{agents} agents at 1x, dashboard refreshing for {wall:.1f} s (t={snap.t:.1f} s of scenario):")
            print(
                f"  UI thread {ui:.1%} of one core (target < 25 %), engine thread {engine:.1%}, "
                f"process {total / wall:.1%}"
            )
            latencies.sort()
            print(
                f"  key press to repaint: median {statistics.median(latencies) * 1000:.1f} ms, "
                f"p90 {latencies[int(0.9 * len(latencies))] * 1000:.1f} ms, worst {latencies[-1] * 1000:.1f} ms "
                "(target < 100 ms)"
            )
            print(
                f"  topology mode {app.w_topology.mode}, frames drawn {app.w_topology.frames}, "
                f"table cell updates {app.w_agents.cell_updates}"
            )

    asyncio.run(run())


def bench_first_frame(runs: int = 5) -> None:
    code = (
        "import time, sys\n"
        "from swarm_tui.ui.app import make_app, DashboardOptions\n"
        "app = make_app(DashboardOptions(scenario='mesh.failover', remember_theme=False, picker_on_start=False))\n"
        "async def auto(pilot):\n"
        "    await pilot.pause()\n"
        "    print(time.time(), flush=True)\n"
        "    await pilot.app.action_quit()\n"
        "app.run(headless=True, auto_pilot=auto)\n"
    )
    times = []
    for _ in range(runs):
        launched = time.time()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip().splitlines()[-1]) - launched)
    print(
        f"first frame of the app in-process, until idle with its run started: median "
        f"{statistics.median(times):.2f} s, worst {max(times):.2f} s over {runs} runs (target < 1 s)"
    )


def bench_first_frame_terminal(runs: int = 5) -> None:
    if shutil.which("tmux") is None:
        print("first frame in a terminal: skipped (no tmux)")
        return
    exe = os.path.join(os.path.dirname(sys.executable), "swarm-tui")
    panels, agents = [], []
    for i in range(runs):
        name = f"bench-ff-{os.getpid()}-{i}"
        launched = time.perf_counter()
        subprocess.run(
            ["tmux", "new", "-d", "-s", name, "-x", "160", "-y", "48", f"{exe} --scenario mesh.failover"], check=True
        )
        drawn = listed = None
        try:
            while listed is None and time.perf_counter() - launched < 30:
                capture = ["tmux", "capture-pane", "-p", "-t", name]
                screen = subprocess.run(capture, capture_output=True, text=True).stdout
                now = time.perf_counter() - launched
                if drawn is None and "topology" in screen and "agents" in screen and "checks" in screen:
                    drawn = now
                if "mock-0001" in screen and "healthy" in screen:
                    listed = now
                time.sleep(0.005)
        finally:
            subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
        if drawn is not None:
            panels.append(drawn)
        if listed is not None:
            agents.append(listed)
        time.sleep(0.5)
    if panels:
        print(
            f"first frame of `swarm-tui --scenario mesh.failover` in tmux (160x48): dashboard drawn after median "
            f"{statistics.median(panels):.2f} s (worst {max(panels):.2f} s)"
            + (f", its agents listed after {statistics.median(agents):.2f} s" if agents else "")
            + f" over {len(panels)} runs (target < 1 s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    os.environ["SWARM_TUI_CONFIG_DIR"] = tempfile.mkdtemp(prefix="swarm-tui-bench-")
    os.environ["SWARM_TUI_STATE_DIR"] = tempfile.mkdtemp(prefix="swarm-tui-bench-state-")
    bench_topology()
    bench_first_frame()
    bench_first_frame_terminal()
    bench_large_swarm(args.agents, args.seconds)


if __name__ == "__main__":
    main()
