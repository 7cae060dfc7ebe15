"""Command line: the dashboard, the headless runner and its helpers.

Exit codes: 0 all checks passed; 1 a check failed (or a scenario errored); 2 bad usage or bad
input (one line on stderr, no traceback); 130 interrupted (results so far are still written).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from swarm_tui import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
BACKENDS = ("mock", "local", "e2b")


class UsageProblem(click.UsageError):
    """Bad usage or bad input: reported as one line, exit 2."""


def _fail(message: str) -> UsageProblem:
    return UsageProblem(message)


def select_scenarios(
    patterns: Sequence[str], ids: Sequence[str], configs: Sequence[str], off: Sequence[str] = ()
) -> tuple[list, str | None]:
    """The scenarios a run asked for, with scenario files applied. Returns (scenarios, market csv)."""
    from swarm_tui.config.scenario_file import ConfigError, load_scenario_file
    from swarm_tui.engine.scenario import REGISTRY, ScenarioError
    from swarm_tui.patterns import EXTRA_PATTERNS, PATTERNS, all_scenarios, scenarios_of

    definitions = []
    for path in configs:
        try:
            definitions.append(load_scenario_file(path))
        except ConfigError as exc:
            raise _fail(str(exc)) from None
    chosen: list[str] = []
    for pattern in patterns:
        if pattern == "all":
            chosen.extend(cls.id for cls in all_scenarios())
        elif pattern in PATTERNS or pattern in EXTRA_PATTERNS:
            chosen.extend(cls.id for cls in scenarios_of(pattern))
        else:
            names = ", ".join([*PATTERNS, *EXTRA_PATTERNS])
            raise _fail(f"unknown pattern {pattern!r} (choose from: all, {names})")
    for sid in ids:
        if sid not in REGISTRY and not any(d.id == sid for d in definitions):
            raise _fail(f"unknown scenario {sid!r} (see `swarm-tui patterns`)")
        chosen.append(sid)
    if not patterns and not ids:
        chosen = [d.id for d in definitions] if definitions else [cls.id for cls in all_scenarios()]
    for d in definitions:
        if not d.overrides and d.id not in chosen:
            chosen.append(d.id)
    seen: set[str] = set()
    ordered = [s for s in chosen if not (s in seen or seen.add(s))]
    by_id = {d.id: d for d in definitions}
    scenarios = []
    markets = {d.market for d in definitions if d.market}
    mechanisms_off = set(off)
    used_off: set[str] = set()
    for sid in ordered:
        try:
            if sid in by_id:
                scenario = by_id[sid].build()
            else:
                scenario = REGISTRY[sid]()
            for name in mechanisms_off:
                if name in scenario.mechanisms:
                    scenario.mechanisms[name] = False
                    used_off.add(name)
        except ScenarioError as exc:
            raise _fail(str(exc)) from None
        scenarios.append(scenario)
    unused = mechanisms_off - used_off
    if unused:
        raise _fail(
            f"--off {sorted(unused)[0]}: no selected scenario has that mechanism "
            "(see `swarm-tui patterns --mechanisms`)"
        )
    if len(markets) > 1:
        raise _fail("scenario files name different market files; run them separately")
    return scenarios, next(iter(markets), None)


def make_backend_factory(name: str, options: dict | None = None):
    """A function seed -> Backend for the named backend."""
    from swarm_tui.backends import make_backend

    options = options or {}
    return lambda seed: make_backend(name, seed=seed, **options)


def e2b_options(template: str | None, timeout: int | None, rate: float | None, cap: int | None) -> dict:
    options = {"template": template, "sandbox_timeout_s": timeout, "rate_per_s": rate, "max_sandboxes": cap}
    return {k: v for k, v in options.items() if v is not None}


def preflight(backend: str, seed: int, options: dict):
    """Build the backend once and check it can work (credentials, interpreter) before anything
    starts: a missing or rejected E2B key is one line and exit 2, not a failed run."""
    import asyncio

    from swarm_tui.backends.base import BackendError

    factory = make_backend_factory(backend, options if backend == "e2b" else None)
    try:
        probe = factory(seed)
        asyncio.run(probe.start())
    except (ValueError, BackendError) as exc:
        raise _fail(str(exc)) from None
    return factory


def _finite(_ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """FloatRange lets NaN through (every comparison with it is false)."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number", param=param)
    return value


def e2b_flags(fn):
    """The E2B options of the commands that run scenarios (environment variables set the defaults)."""
    for option in reversed(
        (
            click.option("--e2b-template", metavar="NAME", help="E2B template (default base; SWARM_TUI_E2B_TEMPLATE)."),
            click.option(
                "--e2b-timeout",
                type=click.IntRange(5, 86400),
                metavar="S",
                help="Sandbox keep-alive timeout in s, refreshed while the run lasts (default 30).",
            ),
            click.option(
                "--e2b-rate",
                type=click.FloatRange(min=0.01, max=10000.0),
                metavar="N",
                callback=_finite,
                help="Sandbox creations per second (default 1, the free tier; SWARM_TUI_E2B_RATE).",
            ),
            click.option(
                "--e2b-max",
                type=click.IntRange(1, 100000),
                metavar="N",
                help="Sandboxes alive at once (default 20, the free tier; SWARM_TUI_E2B_MAX).",
            ),
        )
    ):
        fn = option(fn)
    return fn


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--backend", type=click.Choice(BACKENDS), default="mock", show_default=True, help="Where agents run.")
@click.option("--scenario", "scenario_id", metavar="ID", help="Open the dashboard with this scenario running.")
@click.option("--theme", metavar="NAME", help="Dashboard theme (see themes/).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the market and the mock sandboxes.")
@click.option("--config", "configs", multiple=True, metavar="FILE.toml", help="Scenario file(s) to offer.")
@click.option("--no-mouse", is_flag=True, help="Turn mouse support off.")
@e2b_flags
@click.version_option(__version__, prog_name="swarm-tui")
@click.pass_context
def cli(
    ctx: click.Context,
    backend: str,
    scenario_id: str | None,
    theme: str | None,
    seed: int,
    configs: tuple[str, ...],
    no_mouse: bool,
    e2b_template: str | None,
    e2b_timeout: int | None,
    e2b_rate: float | None,
    e2b_max: int | None,
) -> None:
    """Watch, test and break swarms of trading agents in sandboxes.

    With no command, opens the dashboard.
    """
    if ctx.invoked_subcommand is not None:
        return
    if seed < 0:
        raise _fail(f"--seed must be >= 0, got {seed}")
    from swarm_tui.ui import run_dashboard

    options = e2b_options(e2b_template, e2b_timeout, e2b_rate, e2b_max)
    preflight(backend, seed, options)
    try:
        code = run_dashboard(
            backend=backend,
            scenario=scenario_id,
            theme=theme,
            seed=seed,
            configs=list(configs),
            mouse=not no_mouse,
            backend_options=options if backend == "e2b" else {},
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None
    ctx.exit(code)


@cli.command()
@click.option(
    "--pattern",
    "patterns",
    multiple=True,
    metavar="NAME|all",
    help="Run a pattern's scenarios (repeatable); 'all' runs the whole catalogue.",
)
@click.option("--scenario", "ids", multiple=True, metavar="ID", help="Run one scenario (repeatable).")
@click.option(
    "--config",
    "configs",
    multiple=True,
    metavar="FILE.toml",
    help="A scenario file: a new scenario, or an override of one from the catalogue.",
)
@click.option("--backend", type=click.Choice(BACKENDS), default="mock", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--export",
    "exports",
    multiple=True,
    metavar="PATH",
    help="Write results; the format follows the extension: .json .jsonl .xml .md .csv",
)
@click.option("--market", "market_csv", metavar="FILE.csv", help="Replay market data from a CSV file.")
@click.option(
    "--off",
    "off",
    multiple=True,
    metavar="MECHANISM",
    help="Switch a mechanism off (e.g. failover) to see the scenarios that rely on it fail.",
)
@click.option(
    "--journal",
    "journal_path",
    metavar="PATH",
    help="Where to write the event journal (default: runs/ in the state directory).",
)
@click.option("--no-journal", is_flag=True, help="Do not write a journal.")
@click.option("--quiet", "-q", is_flag=True, help="No live display; one summary line.")
@e2b_flags
def run(
    patterns: tuple[str, ...],
    ids: tuple[str, ...],
    configs: tuple[str, ...],
    backend: str,
    seed: int,
    exports: tuple[str, ...],
    market_csv: str | None,
    off: tuple[str, ...],
    journal_path: str | None,
    no_journal: bool,
    quiet: bool,
    e2b_template: str | None,
    e2b_timeout: int | None,
    e2b_rate: float | None,
    e2b_max: int | None,
) -> None:
    """Run scenarios headless and export the results.

    Every run writes its events to a journal as they happen; `swarm-tui report JOURNAL` rebuilds
    the results from it, even after a crash. SIGINT, SIGTERM and SIGHUP stop the run: every
    sandbox is killed, the results so far are exported, and the exit code is 130, 143 or 129.
    """
    from rich.console import Console

    from swarm_tui.console import LiveProgress, one_line, summary_table
    from swarm_tui.engine.market import CsvMarket, MarketDataError
    from swarm_tui.engine.runner import Runner, Shutdown, new_run_id, utc_now
    from swarm_tui.results.export import ExportError, check_export_path, write_export
    from swarm_tui.results.journal import JournalError, JournalWriter, default_journal_path, prune_journals

    if seed < 0:
        raise _fail(f"--seed must be >= 0, got {seed}")
    if journal_path and no_journal:
        raise _fail("--journal and --no-journal contradict each other")
    for path in exports:
        try:
            check_export_path(path)
        except ExportError as exc:
            raise _fail(str(exc)) from None
    scenarios, file_market = select_scenarios(patterns, ids, configs, off)
    market = market_csv or file_market
    if market:
        try:
            CsvMarket(market)
        except MarketDataError as exc:
            raise _fail(str(exc)) from None
    factory = preflight(backend, seed, e2b_options(e2b_template, e2b_timeout, e2b_rate, e2b_max))

    console = Console(stderr=False)
    errors = Console(stderr=True, soft_wrap=True)
    run_id = new_run_id()
    header = {
        "backend": backend,
        "seed": seed,
        "started_at": utc_now(),
        "scenarios": [s.id for s in scenarios],
        "argv": _safe_argv(),
    }
    paths = [Path(p) for p in exports if Path(p).suffix.lower() == ".jsonl"]
    main_journal = None if no_journal else Path(journal_path) if journal_path else default_journal_path(run_id)
    journals: list[JournalWriter] = []
    for path in ([main_journal] if main_journal else []) + paths:
        writer = JournalWriter(path, run_id)
        try:
            writer.open(header)
        except JournalError as exc:
            for opened in journals:
                opened.close()
            raise _fail(str(exc)) from None
        journals.append(writer)
    if main_journal is not None:
        if not journal_path:
            prune_journals(main_journal.parent)
        errors.print(f"journal: {main_journal}", style="dim", highlight=False)

    shutdown = Shutdown()
    shutdown.on_message = lambda text: errors.print(f"swarm-tui: {text}", style="yellow", highlight=False)
    progress = LiveProgress(console, scenarios) if not quiet else None
    runner = Runner(
        factory,
        backend,
        seed=seed,
        market_csv=market,
        subscribers=list(journals),
        run_id=run_id,
        on_start=progress.on_start if progress else None,
        on_finish=progress.on_finish if progress else None,
        on_context=progress.on_context if progress else None,
        shutdown=shutdown,
    )
    crash: BaseException | None = None
    with shutdown:
        try:
            if progress is not None:
                with progress:
                    runner.run(scenarios)
            else:
                runner.run(scenarios)
        except KeyboardInterrupt:  # a Ctrl-C that got past the handler (before it was installed)
            shutdown.signum = shutdown.signum or 2
        except Exception as exc:  # a bug outside the scenarios: still close and export what was measured
            crash = exc
        # From here on a signal only hurries: the journal and the exports must be written.
        result = runner.last
        if result is None:
            for journal in journals:
                journal.close({"finished_at": utc_now(), "interrupted": True})
            if crash is not None:
                raise crash
            sys.exit(shutdown.exit_code or EXIT_INTERRUPTED)
        result.interrupted = result.interrupted or shutdown.requested
        for journal in journals:
            journal.close(
                {
                    "finished_at": result.finished_at or utc_now(),
                    "summary": result.counts(),
                    "interrupted": result.interrupted,
                    **({"error": _describe(crash)} if crash else {}),
                }
            )
            if journal.error:
                errors.print(f"swarm-tui: {journal.error}", style="red", highlight=False)
        for path in exports:
            if Path(path).suffix.lower() != ".jsonl":
                try:
                    write_export(result, path)
                except (ExportError, OSError) as exc:
                    errors.print(f"swarm-tui: cannot write {path}: {exc}", style="red", highlight=False)
        if quiet:
            click.echo(one_line(result))
        else:
            console.print()
            console.print(summary_table(result))
            for path in exports:
                console.print(f"wrote {path}", style="dim")
        if crash is not None:
            errors.print(
                f"swarm-tui: internal error: {_describe(crash)} (results so far were written)",
                style="red",
                highlight=False,
            )
            sys.exit(EXIT_FAILED)
        if shutdown.requested:
            sys.exit(shutdown.exit_code)
        sys.exit(EXIT_OK if result.passed else EXIT_FAILED)


def _describe(exc: BaseException | None) -> str:
    from swarm_tui.redact import scrub

    return scrub(f"{type(exc).__name__}: {exc}") if exc is not None else ""


def _safe_argv() -> list[str]:
    from swarm_tui.redact import scrub

    return [scrub(a) for a in sys.argv[1:]]


@cli.command()
@click.argument("journal", metavar="JOURNAL.jsonl")
@click.option(
    "--export",
    "exports",
    multiple=True,
    metavar="PATH",
    help="Write the rebuilt results; the format follows the extension: .json .jsonl .xml .md .csv",
)
@click.option("--quiet", "-q", is_flag=True, help="One summary line instead of the table.")
def report(journal: str, exports: tuple[str, ...], quiet: bool) -> None:
    """Rebuild the results (and any export) from a journal, even one cut short by a crash."""
    import shutil

    from rich.console import Console

    from swarm_tui.console import one_line, summary_table
    from swarm_tui.results.export import ExportError, check_export_path, write_export
    from swarm_tui.results.journal import JournalError, read_journal
    from swarm_tui.results.rebuild import rebuild_results

    for path in exports:
        try:
            check_export_path(path)
        except ExportError as exc:
            raise _fail(str(exc)) from None
    try:
        recorded = read_journal(journal)
    except JournalError as exc:
        raise _fail(str(exc)) from None
    result = rebuild_results(recorded)
    console = Console()
    errors = Console(stderr=True, soft_wrap=True)
    for note in recorded.notes:
        errors.print(f"note: {note}", style="yellow", highlight=False)
    for path in exports:
        try:
            if Path(path).suffix.lower() == ".jsonl":
                if Path(path).resolve() != Path(journal).resolve():
                    shutil.copyfile(journal, path)
            else:
                write_export(result, path)
        except (ExportError, OSError) as exc:
            raise _fail(f"cannot write {path}: {exc}") from None
    if quiet:
        click.echo(one_line(result))
    else:
        console.print(summary_table(result))
        for path in exports:
            console.print(f"wrote {path}", style="dim")
    sys.exit(EXIT_OK if result.passed and not result.interrupted else EXIT_FAILED)


@cli.command()
@click.argument("journal", metavar="JOURNAL.jsonl")
@click.option("--scenario", "scenario_id", metavar="ID", help="Scenario to play (default: the first).")
@click.option(
    "--speed",
    type=click.FloatRange(min=0.1, max=1000.0),
    default=1.0,
    show_default=True,
    help="Playback speed (times the recorded scenario time).",
)
@click.option("--theme", metavar="NAME", help="Dashboard theme (see themes/).")
@click.option("--no-mouse", is_flag=True, help="Turn mouse support off.")
def replay(journal: str, scenario_id: str | None, speed: float, theme: str | None, no_mouse: bool) -> None:
    """Play a recorded run in the dashboard: pause, speed, seek (read-only)."""
    from swarm_tui.results.journal import JournalError, read_journal

    try:
        recorded = read_journal(journal)
    except JournalError as exc:
        raise _fail(str(exc)) from None
    from swarm_tui.ui import run_replay

    try:
        code = run_replay(recorded, scenario=scenario_id, speed=speed, theme=theme, mouse=not no_mouse)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    sys.exit(code)


@cli.command()
@click.option("--mechanisms", is_flag=True, help="Also list the mechanisms each scenario relies on.")
@click.option("--params", "show_params", metavar="ID", help="Show a scenario's parameters (for scenario files).")
def patterns(mechanisms: bool, show_params: str | None) -> None:
    """List the patterns and their scenarios, one line each."""
    from rich.console import Console
    from rich.table import Table

    from swarm_tui.engine.scenario import REGISTRY
    from swarm_tui.patterns import EXTRA_PATTERNS, PATTERNS, scenarios_of

    console = Console()
    if show_params:
        cls = REGISTRY.get(show_params)
        if cls is None:
            raise _fail(f"unknown scenario {show_params!r} (see `swarm-tui patterns`)")
        table = Table(title=f"{cls.id} parameters", title_justify="left")
        table.add_column("key")
        table.add_column("default")
        for key, value in cls.defaults.items():
            table.add_row(key, repr(value))
        for f in cls.default_faults:
            table.add_row("[[faults]]", repr(f))
        for name, text in cls.mechanism_help.items():
            table.add_row(f"mechanisms.{name}", f"true  ({text})")
        console.print(table)
        return
    for pattern, text in {**PATTERNS, **EXTRA_PATTERNS}.items():
        console.print(f"[bold]{pattern}[/bold]  [dim]{text}[/dim]")
        for cls in scenarios_of(pattern):
            console.print(f"  {cls.id:<34} {cls.summary}")
            if mechanisms:
                for name, help_text in cls.mechanism_help.items():
                    console.print(f"      [dim]--off {name}: {help_text}[/dim]")


@cli.command()
@click.option("--yes", is_flag=True, help="Kill what is found (otherwise only list it).")
@click.option(
    "--where",
    type=click.Choice(("all", "e2b", "local")),
    default="all",
    show_default=True,
    help="Look at E2B sandboxes, local agent processes, or both.",
)
def cleanup(yes: bool, where: str) -> None:
    """Find (and with --yes kill) sandboxes and agent processes left by swarm-tui runs."""
    import asyncio
    import os

    from rich.console import Console
    from rich.table import Table

    from swarm_tui.backends.base import OwnedSandbox
    from swarm_tui.backends.local import find_stray_agents, kill_stray_agent

    console = Console()
    found: list[OwnedSandbox] = []
    notes: list[str] = []
    if where in ("all", "local"):
        found.extend(find_stray_agents())
    if where in ("all", "e2b"):
        if not os.environ.get("E2B_API_KEY"):
            notes.append("E2B: skipped (E2B_API_KEY is not set)")
        else:
            from e2b.exceptions import AuthenticationException

            from swarm_tui.backends.e2b import list_tagged_sandboxes
            from swarm_tui.redact import scrub

            try:
                found.extend(asyncio.run(list_tagged_sandboxes()))
            except AuthenticationException:
                raise _fail("E2B rejected the API key (401): check E2B_API_KEY") from None
            except Exception as exc:
                raise _fail(scrub(f"cannot list E2B sandboxes: {type(exc).__name__}: {exc}")) from None
    for note in notes:
        console.print(note, style="dim")
    if not found:
        console.print("nothing left behind: no swarm-tui sandboxes or agent processes found")
        return
    table = Table(title=f"{len(found)} left behind", title_justify="left")
    for col in ("backend", "id", "agent", "run id", "age", "detail"):
        table.add_column(col, overflow="fold")
    for item in found:
        table.add_row(
            item.backend, item.id, item.agent_id or "-", item.run_id or "-", f"{item.age_s:,.0f} s", item.detail
        )
    console.print(table)
    if not yes:
        console.print("run again with --yes to kill them")
        return
    killed = 0
    in_use = [i for i in found if i.backend == "local" and "run alive" in i.detail]
    if in_use:
        console.print(f"{len(in_use)} local agent(s) belong to a run still going: left alone", style="yellow")
    found = [i for i in found if i not in in_use]
    for item in found:
        if item.backend == "local":
            killed += kill_stray_agent(int(item.id.split("-", 1)[1]))
        else:
            from swarm_tui.backends.e2b import kill_sandbox

            try:
                killed += asyncio.run(kill_sandbox(item.id))
            except Exception as exc:
                console.print(f"could not kill {item.id}: {type(exc).__name__}", style="red")
    console.print(f"killed {killed} of {len(found)}")
    if killed < len(found):
        sys.exit(EXIT_FAILED)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: runs the CLI and turns every error into one line and an exit code."""
    try:
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="swarm-tui", standalone_mode=False)
        if isinstance(code, int):  # click returns ctx.exit(code) instead of raising, outside standalone mode
            return code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("swarm-tui: interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        from swarm_tui.redact import scrub

        message = " ".join(exc.format_message().split())  # one line, whatever the message held
        message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)  # no escape codes
        click.echo(scrub(f"swarm-tui: error: {message}"), err=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        click.echo("swarm-tui: interrupted", err=True)
        return EXIT_INTERRUPTED
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USAGE)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
