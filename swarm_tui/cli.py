"""Command line: the dashboard, the headless runner and its helpers.

Exit codes: 0 all checks passed; 1 a check failed (or a scenario errored); 2 bad usage or bad
input (one line on stderr, no traceback); 130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP
(results so far are still written). The work itself belongs to the run session
(:mod:`swarm_tui.session`); this module parses, calls and prints.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from swarm_tui import __version__
from swarm_tui.engine.sandbox import backend_names
from swarm_tui.session.shutdown import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, Shutdown

F = TypeVar("F", bound=Callable[..., Any])
# Installed first thing by main(): a signal that arrives before a run is set up (while the
# backend's key is checked, say) is remembered, and the command ends with its exit code.
SHUTDOWN = Shutdown()


class UsageProblem(click.UsageError):
    """Bad usage or bad input: reported as one line, exit 2."""


def _fail(message: str) -> UsageProblem:
    return UsageProblem(message)


def e2b_options(template: str | None, timeout: int | None, rate: float | None, cap: int | None) -> dict[str, Any]:
    options = {"template": template, "sandbox_timeout_s": timeout, "rate_per_s": rate, "max_sandboxes": cap}
    return {k: v for k, v in options.items() if v is not None}


def _finite(_ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """FloatRange lets NaN through (every comparison with it is false)."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number", param=param)
    return value


def e2b_flags(fn: F) -> F:
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


def agent_flags(fn: F) -> F:
    """Your own agent program instead of the built-in agent, for every agent of a run."""
    for option in reversed(
        (
            click.option(
                "--agent-command",
                metavar="CMD",
                help="Run this program (it speaks the agent protocol) for every agent, e.g. 'python3 agent.py'.",
            ),
            click.option(
                "--agent-workdir",
                metavar="DIR",
                help="Where --agent-command runs (local) or what is uploaded (e2b); default: this folder.",
            ),
        )
    ):
        fn = option(fn)
    return fn


def _session(
    backend: str,
    seed: int,
    options: dict[str, Any],
    agent_command: str | None = None,
    agent_workdir: str | None = None,
    **kwargs: Any,
) -> Any:
    from swarm_tui.session.run import RunSession, SessionError, agent_program

    if agent_workdir is not None and agent_command is None:
        raise _fail("--agent-workdir is a setting of --agent-command: give that too")
    try:
        program = agent_program(agent_command, agent_workdir) if agent_command is not None else None
    except SessionError as exc:
        raise _fail(str(exc)) from None
    session = RunSession(
        backend=backend,
        seed=seed,
        backend_options=options if backend == "e2b" else {},
        shutdown=SHUTDOWN,
        agent_program=program,
        **kwargs,
    )
    try:
        session.check()
        session.preflight()
    except SessionError as exc:
        raise _fail(str(exc)) from None
    return session


THEMES_HELP = "Dashboard theme: swarm-dark, swarm-light, swarm-high-contrast, swarm-ansi, or one of your own."


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--backend", type=click.Choice(backend_names()), default="mock", show_default=True, help="Where agents run."
)
@click.option("--scenario", "scenario_id", metavar="ID", help="Open the dashboard with this scenario running.")
@click.option("--theme", metavar="NAME", help=THEMES_HELP)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the market and the mock sandboxes.")
@click.option("--config", "configs", multiple=True, metavar="FILE.toml", help="Scenario file(s) to offer.")
@click.option("--no-mouse", is_flag=True, help="Turn mouse support off.")
@e2b_flags
@agent_flags
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
    agent_command: str | None,
    agent_workdir: str | None,
) -> None:
    """Watch, test and break swarms of trading agents in sandboxes.

    With no command, opens the dashboard.
    """
    if ctx.invoked_subcommand is not None:
        return
    from swarm_tui.ui import run_dashboard

    session = _session(
        backend,
        seed,
        e2b_options(e2b_template, e2b_timeout, e2b_rate, e2b_max),
        agent_command=agent_command,
        agent_workdir=agent_workdir,
    )
    if SHUTDOWN.requested:
        ctx.exit(SHUTDOWN.exit_code)
    # The dashboard takes SIGTERM and SIGHUP over once it is mounted (ctrl+c is a key there); one
    # that arrives before is kept by SHUTDOWN (the session's), and the dashboard exits with it.
    try:
        code = run_dashboard(session, scenario=scenario_id, theme=theme, configs=list(configs), mouse=not no_mouse)
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
@click.option("--backend", type=click.Choice(backend_names()), default="mock", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--export",
    "exports",
    multiple=True,
    metavar="PATH",
    help="Write results; the format follows the extension: .json .jsonl .xml .md .csv .html",
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
@agent_flags
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
    agent_command: str | None,
    agent_workdir: str | None,
) -> None:
    """Run scenarios headless and export the results.

    Every run writes its events to a journal as they happen; `swarm-tui report JOURNAL` rebuilds
    the results from it, even after a crash. SIGINT, SIGTERM and SIGHUP stop the run: every
    sandbox is killed, the results so far are exported, and the exit code is 130, 143 or 129.
    """
    from rich.console import Console

    from swarm_tui.console import LiveProgress, one_line, summary_table
    from swarm_tui.session.run import SessionError, describe, programs_of, select_scenarios

    if journal_path and no_journal:
        raise _fail("--journal and --no-journal contradict each other")
    try:
        scenarios, file_market = select_scenarios(patterns, ids, configs, off)
    except SessionError as exc:
        raise _fail(str(exc)) from None
    session = _session(
        backend,
        seed,
        e2b_options(e2b_template, e2b_timeout, e2b_rate, e2b_max),
        market_csv=market_csv or file_market,
        exports=exports,
        journal=not no_journal,
        journal_path=journal_path,
        agent_command=agent_command,
        agent_workdir=agent_workdir,
    )
    try:
        session.check_programs(programs_of(scenarios))
    except SessionError as exc:
        raise _fail(str(exc)) from None
    console = Console(stderr=False, width=_width())
    errors = Console(stderr=True, soft_wrap=True)
    session.on_agent_problem = lambda line: errors.print(f"swarm-tui: {line}", style="red", highlight=False)
    try:
        main_journal = session.open_journals(scenarios)
    except SessionError as exc:
        raise _fail(str(exc)) from None
    if main_journal is not None:
        errors.print(f"journal: {main_journal}", style="dim", highlight=False)

    shutdown = session.shutdown
    shutdown.on_message = lambda text: errors.print(f"swarm-tui: {text}", style="yellow", highlight=False)
    progress = LiveProgress(console, scenarios) if not quiet else None
    crash: BaseException | None = None
    with shutdown:
        try:
            if progress is not None:
                with progress:
                    session.run(
                        scenarios,
                        on_start=progress.on_start,
                        on_finish=progress.on_finish,
                        on_context=progress.on_context,
                    )
            else:
                session.run(scenarios)
        except KeyboardInterrupt:  # a Ctrl-C that got past the handler (before it was installed)
            shutdown.signum = shutdown.signum or 2
        except Exception as exc:  # a bug outside the scenarios: still close and export what was measured
            crash = exc
        # From here on a signal only hurries: the journal and the exports must be written.
        result = session.last
        if result is not None:
            result.interrupted = result.interrupted or shutdown.requested
        for problem in session.close_journals(result, crash):
            errors.print(f"swarm-tui: {problem}", style="red", highlight=False)
        if result is None:
            if crash is not None:
                raise crash
            sys.exit(shutdown.exit_code or EXIT_INTERRUPTED)
        for problem in session.write_exports(result):
            errors.print(f"swarm-tui: {problem}", style="red", highlight=False)
        if quiet:
            click.echo(one_line(result))
        else:
            console.print()
            console.print(summary_table(result))
            for path in exports:
                console.print(f"wrote {path}", style="dim")
        if crash is not None:
            errors.print(
                f"swarm-tui: internal error: {describe(crash)} (results so far were written)",
                style="red",
                highlight=False,
            )
        sys.exit(session.exit_code(result, crash))


def _width() -> int | None:
    """Piped or in CI, Rich would wrap the summary at 80 columns: give it room instead."""
    return None if sys.stdout.isatty() else 160


@cli.command()
@click.option(
    "--workload",
    default="desk",
    show_default=True,
    metavar="NAME|FILE.toml",
    help="The workload held fixed: a built-in one (desk, hft) or your own file (docs/workloads.md).",
)
@click.option("--seeds", default="0..29", show_default=True, metavar="A..B", help="Seeds to repeat every run over.")
@click.option("--backend", type=click.Choice(backend_names()), default="mock", show_default=True)
@click.option(
    "--jobs",
    type=click.IntRange(1, 1024),
    default=None,
    metavar="N",
    help="Worker processes (default: the cores this process may use).",
)
@click.option(
    "--export",
    "exports",
    multiple=True,
    metavar="PATH",
    help="Write the report; the format follows the extension: .html .json .md .csv",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar; one summary line instead of the tables.")
@e2b_flags
def compare(
    workload: str,
    seeds: str,
    backend: str,
    jobs: int | None,
    exports: tuple[str, ...],
    quiet: bool,
    e2b_template: str | None,
    e2b_timeout: int | None,
    e2b_rate: float | None,
    e2b_max: int | None,
) -> None:
    """Which pattern should I use? One workload through every topology and rollout, measured.

    The same agents, market, load and fault schedule run through mesh, hierarchical, ring and
    star, and the same sound and defective versions roll out all at once, blue-green and canary,
    each repeated over the seeds in parallel worker processes. Prints every figure as a median
    with its 95 % interval, the differences that are significant, the recommendations they
    support, and the replaced system's hand-written table beside the measured one. Ctrl-C
    writes what finished (marked interrupted) and exits 130.
    """
    from swarm_tui.compare.command import run_compare

    options = e2b_options(e2b_template, e2b_timeout, e2b_rate, e2b_max)
    _session(backend, 0, options)  # the backend's preflight: one line and exit 2 if it cannot work
    try:
        code = run_compare(
            workload=workload,
            seeds=seeds,
            backend=backend,
            backend_options=options if backend == "e2b" else {},
            jobs=jobs,
            exports=exports,
            quiet=quiet,
            stop=SHUTDOWN,
            width=_width(),
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None
    sys.exit(code)


@cli.command()
@click.argument("journal", metavar="JOURNAL.jsonl")
@click.option(
    "--export",
    "exports",
    multiple=True,
    metavar="PATH",
    help="Write the rebuilt results; the format follows the extension: .json .jsonl .xml .md .csv .html",
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
    console = Console(width=_width())
    errors = Console(stderr=True, soft_wrap=True)
    for note in recorded.notes:
        errors.print(f"note: {note}", style="yellow", highlight=False)
    for path in exports:
        try:
            if Path(path).suffix.lower() == ".jsonl":
                if Path(path).resolve() != Path(journal).resolve():
                    shutil.copyfile(journal, path)
            elif Path(path).suffix.lower() == ".html":
                from swarm_tui.results.timeline import Timeline

                write_export(result, path, Timeline.from_records(recorded.events))
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
@click.option("--theme", metavar="NAME", help=THEMES_HELP)
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
@click.option("--params", "show_params", metavar="ID", help="Print a scenario's parameters as a scenario file (TOML).")
@click.option("--markdown", is_flag=True, help="Print the whole catalogue as Markdown (docs/scenarios.md).")
@click.option(
    "--agent-command",
    metavar="CMD",
    help="Say which scenarios this agent program claims it can run, and how each fault is done to it.",
)
@click.option(
    "--backend",
    type=click.Choice(("local", "e2b")),
    default="local",
    show_default=True,
    help="With --agent-command: the backend whose way of doing faults to say.",
)
def patterns(
    mechanisms: bool, show_params: str | None, markdown: bool, agent_command: str | None, backend: str
) -> None:
    """List the patterns and their scenarios, one line each."""
    from rich.console import Console

    from swarm_tui.patterns.catalogue import load_catalogue
    from swarm_tui.patterns.describe import catalogue_markdown, scenario_toml

    if agent_command is not None:
        _agent_patterns(agent_command, backend)
        return
    catalogue = load_catalogue()
    if show_params:
        cls = catalogue.get(show_params)
        if cls is None:
            raise _fail(f"unknown scenario {show_params!r} (see `swarm-tui patterns`)")
        click.echo(scenario_toml(cls), nl=False)
        return
    if markdown:
        from swarm_tui.session.docs import catalogue_checks

        click.echo(catalogue_markdown(catalogue, catalogue_checks(catalogue)), nl=False)
        return
    console = Console(width=_width())
    for pattern, text in catalogue.all_patterns().items():
        console.print(f"[bold]{pattern}[/bold]  [dim]{text}[/dim]")
        for cls in catalogue.scenarios_of(pattern):
            console.print(f"  {cls.id:<34} {cls.summary}")
            if mechanisms:
                for name, help_text in cls.mechanism_help.items():
                    console.print(f"      [dim]--off {name}: {help_text}[/dim]")


@cli.group()
def agent() -> None:
    """Your own agent programs: check one against the agent protocol, get the protocol's schemas."""


@agent.command("check", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="-- CMD [ARG ...]")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (for CI).")
@click.option(
    "--backend",
    type=click.Choice(("local", "e2b")),
    default="local",
    show_default=True,
    help="Say how each fault would be done to this agent on this backend.",
)
@click.option("--workdir", metavar="DIR", help="Where the program runs (default: this folder).")
def agent_check(command: tuple[str, ...], as_json: bool, backend: str, workdir: str | None) -> None:
    """Run a program through the agent protocol's conformance suite (docs/agent-protocol.md).

    One line per clause (pass, fail with the reason, or skip: not claimed), how each fault would be
    done to it, and the scenarios of the catalogue it can run. Exit 0: every clause it claims
    passes; 1: some fail; 2: bad usage (no command, or one that cannot run at all).
    """
    import json

    from swarm_tui.backends.programs import resolve_command
    from swarm_tui.engine.sandbox import AgentProgram
    from swarm_tui.session.agent_verdict import check_agent

    words = [w for w in command if w != "--"] if command[:1] == ("--",) else list(command)
    if not words:
        raise _fail("agent check: give the command that runs your agent after --, e.g. -- python3 agent.py")
    if workdir is not None and not Path(workdir).is_dir():
        raise _fail(f"--workdir: no such folder {workdir!r}")
    program = AgentProgram(command=tuple(words), workdir=str(Path(workdir).resolve()) if workdir else None)
    problem = resolve_command(program)
    if problem is not None:
        raise _fail(problem)
    try:
        verdict = check_agent(program, backend)
    except OSError as exc:
        raise _fail(f"cannot start {words[0]!r}: {exc}") from None
    if as_json:
        click.echo(json.dumps(verdict.to_dict(), indent=2))
    else:
        for line in verdict.lines():
            click.echo(line)
    sys.exit(verdict.exit_code)


@agent.command("schemas")
@click.option("--out", "out_dir", metavar="DIR", help="Write the files there (default: list them).")
def agent_schemas(out_dir: str | None) -> None:
    """The JSON Schema of every message of the agent protocol (what docs/schemas/ holds)."""
    from swarm_tui.engine.messages import json_schemas, schema_text

    schemas = json_schemas()
    if out_dir is None:
        for name in schemas:
            click.echo(name)
        return
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, schema in schemas.items():
            (folder / name).write_text(schema_text(schema), encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot write the schemas to {out_dir}: {exc}") from None
    click.echo(f"wrote {len(schemas)} schema files to {out_dir}")


def _agent_patterns(agent_command: str, backend: str) -> None:
    """`patterns --agent-command`: the catalogue as an agent program claims it can run it."""
    from swarm_tui.backends.programs import resolve_command
    from swarm_tui.session.agent_verdict import claimed_fit
    from swarm_tui.session.run import SessionError, agent_program

    try:
        program = agent_program(agent_command)
    except SessionError as exc:
        raise _fail(str(exc)) from None
    problem = resolve_command(program)
    if problem is not None:
        raise _fail(problem)
    try:
        hello, methods, fits = claimed_fit(program, backend)
    except (OSError, ValueError) as exc:
        raise _fail(f"--agent-command: {exc}") from None
    click.echo(f"{hello.get('program') or agent_command}: what it claims (check it: swarm-tui agent check -- ...)")
    click.echo(f"faults on {backend}:")
    for kind, how in methods.items():
        click.echo(f"  {kind:<12} {how}")
    runnable = [f for f in fits if f.runnable]
    click.echo(f"scenarios it claims it can run: {len(runnable)} of {len(fits)}")
    for f in fits:
        if f.runnable:
            outside = f" (from outside: {', '.join(f.outside)})" if f.outside else ""
            click.echo(f"  can run     {f.scenario}{outside}")
        else:
            click.echo(f"  cannot run  {f.scenario}: needs {', '.join(f.missing)}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option("--scenario", "scenario_id", metavar="ID", help="Start this scenario in every browser session.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the market and the mock sandboxes.")
@click.option("--theme", metavar="NAME", help=THEMES_HELP)
def serve(host: str, port: int, scenario_id: str | None, seed: int, theme: str | None) -> None:
    """Serve the dashboard in a browser (textual-serve): each tab gets its own dashboard."""
    from swarm_tui.patterns.catalogue import load_catalogue
    from swarm_tui.ui.serve import ServeError, serve_dashboard

    if scenario_id is not None and scenario_id not in load_catalogue():
        raise _fail(f"unknown scenario {scenario_id!r} (see `swarm-tui patterns`)")
    SHUTDOWN.restore()  # the server stops on SIGINT and SIGTERM itself
    try:
        code = serve_dashboard(host, port, scenario_id, seed, theme)
    except ServeError as exc:
        raise _fail(str(exc)) from None
    sys.exit(code)


@cli.command()
@click.option("--yes", is_flag=True, help="Kill what is found (otherwise only list it).")
@click.option(
    "--where",
    type=click.Choice(("all", *backend_names())),
    default="all",
    show_default=True,
    help="Which backend's leftovers to look for.",
)
def cleanup(yes: bool, where: str) -> None:
    """Find (and with --yes kill) sandboxes and agent processes left by swarm-tui runs."""
    from rich.console import Console
    from rich.table import Table

    from swarm_tui.engine.sandbox import BackendError
    from swarm_tui.session.cleanup import find_leftovers, kill_leftovers

    console = Console()
    try:
        found = find_leftovers(where)
    except BackendError as exc:
        raise _fail(str(exc)) from None
    for note in found.notes:
        console.print(note, style="dim")
    if not found.items:
        console.print("nothing left behind: no swarm-tui sandboxes or agent processes found")
        return
    table = Table(title=f"{len(found.items)} left behind", title_justify="left")
    for col in ("backend", "id", "agent", "run id", "age", "detail"):
        table.add_column(col, overflow="fold")
    for item in found.items:
        table.add_row(
            item.backend, item.id, item.agent_id or "-", item.run_id or "-", f"{item.age_s:,.0f} s", item.detail
        )
    console.print(table)
    if not yes:
        console.print("run again with --yes to kill them")
        return
    if found.in_use:
        console.print(f"{len(found.in_use)} agent(s) belong to a run still going: left alone", style="yellow")
    killed, problems = kill_leftovers(found.stray)
    for problem in problems:
        console.print(problem, style="red")
    console.print(f"killed {killed} of {len(found.stray)}")
    if killed < len(found.stray):
        sys.exit(EXIT_FAILED)


def main(argv: Sequence[str] | None = None, *, early_signals: Sequence[int] = ()) -> int:
    """Entry point: runs the CLI and turns every error into one line and an exit code.

    ``early_signals`` arrived before this ran (see :mod:`swarm_tui.__main__`): the first counts."""
    global SHUTDOWN
    SHUTDOWN = Shutdown().install()
    if early_signals:
        SHUTDOWN.request(early_signals[0])
    try:
        code = _main(argv)
        # A signal that arrived while the command did something else still decides the code.
        return SHUTDOWN.exit_code if SHUTDOWN.requested else code
    finally:
        SHUTDOWN.restore()


def _main(argv: Sequence[str] | None) -> int:
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
        from swarm_tui.engine.redact import scrub

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


def wait_for_foreign_threads(timeout: float = 5.0) -> None:
    """Return once no thread that Python did not start is running Python code (or after ``timeout``).

    The e2b SDK's HTTP client (pyqwest) runs on Rust threads that complete our awaits by calling
    the loop's ``call_soon_threadsafe``, which lets go of the GIL to write the loop's wake-up byte:
    the awaiting code (the CLI) may resume and reach interpreter shutdown before that thread takes
    the GIL back. Python (before 3.14) ends a thread that takes the GIL during shutdown with
    ``pthread_exit``, and unwinding the Rust frames of that thread aborts the process (SIGABRT).
    Waiting here, before shutdown begins, lets such a thread finish what it started.
    """
    import threading
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ours = {t.ident for t in threading.enumerate() if not isinstance(t, threading._DummyThread)}
        if set(sys._current_frames()) <= ours:
            return
        time.sleep(0.001)  # lets them take the GIL and finish


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
