"""A run session: what the command line and the dashboard both need around the engine.

One :class:`RunSession` per invocation holds the run id, creates (and checks) the backend by
name, opens and closes the journals, runs scenarios one after another with signals handled,
writes the exports and turns the outcome into an exit code. The CLI's ``run`` and the dashboard
use it the same way, so a run is journaled, interrupted and cleaned up alike wherever it starts.
"""

from __future__ import annotations

import asyncio
import secrets
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarm_tui.config.scenario_file import ConfigError, ScenarioDef, load_scenario_file
from swarm_tui.engine.events import Event
from swarm_tui.engine.market import CsvMarket, MarketDataError
from swarm_tui.engine.redact import scrub
from swarm_tui.engine.runner import AnyContext, AnyScenario, new_run_id, run_one, utc_now
from swarm_tui.engine.sandbox import (
    AgentProgram,
    Backend,
    BackendError,
    backend_class,
    backend_names,
    create_backend,
)
from swarm_tui.engine.scenario import ScenarioError
from swarm_tui.patterns.catalogue import Catalogue, load_catalogue
from swarm_tui.results.comparison import build_comparison
from swarm_tui.results.export import ExportError, check_export_path, write_export
from swarm_tui.results.journal import JournalError, JournalWriter, default_journal_path, prune_journals
from swarm_tui.results.model import RunResult, ScenarioResult
from swarm_tui.results.timeline import Timeline
from swarm_tui.session.agent_problems import AgentProblems
from swarm_tui.session.shutdown import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Shutdown

BackendFactory = Callable[[int], Backend]


class SessionError(ValueError):
    """Bad usage or bad input, found before anything runs: one line for the user (exit 2)."""


def select_scenarios(
    patterns: Sequence[str],
    ids: Sequence[str],
    configs: Sequence[str],
    off: Sequence[str] = (),
    *,
    catalogue: Catalogue | None = None,
) -> tuple[list[AnyScenario], str | None]:
    """The scenarios a run asked for, with scenario files applied. Returns (scenarios, market csv)."""
    catalogue = catalogue or load_catalogue()
    definitions: list[ScenarioDef] = []
    for path in configs:
        try:
            definitions.append(load_scenario_file(path, catalogue))
        except ConfigError as exc:
            raise SessionError(str(exc)) from None
    chosen: list[str] = []
    for pattern in patterns:
        if pattern == "all":
            chosen.extend(cls.id for cls in catalogue.main())
        elif pattern in catalogue.all_patterns():
            chosen.extend(cls.id for cls in catalogue.scenarios_of(pattern))
        else:
            names = ", ".join(catalogue.all_patterns())
            raise SessionError(f"unknown pattern {pattern!r} (choose from: all, {names})")
    for sid in ids:
        if sid not in catalogue and not any(d.id == sid for d in definitions):
            raise SessionError(f"unknown scenario {sid!r} (see `swarm-tui patterns`)")
        chosen.append(sid)
    if not patterns and not ids:
        chosen = [d.id for d in definitions] if definitions else [cls.id for cls in catalogue.main()]
    for d in definitions:
        if not d.overrides and d.id not in chosen:
            chosen.append(d.id)
    ordered = list(dict.fromkeys(chosen))
    by_id = {d.id: d for d in definitions}
    scenarios: list[AnyScenario] = []
    markets = {d.market for d in definitions if d.market}
    mechanisms_off = set(off)
    used_off: set[str] = set()
    for sid in ordered:
        try:
            scenario = by_id[sid].build() if sid in by_id else catalogue[sid]()
        except ScenarioError as exc:
            raise SessionError(str(exc)) from None
        for name in mechanisms_off:
            if name in scenario.mechanisms:
                scenario.mechanisms[name] = False
                used_off.add(name)
        scenarios.append(scenario)
    unused = mechanisms_off - used_off
    if unused:
        raise SessionError(
            f"--off {sorted(unused)[0]}: no selected scenario has that mechanism "
            "(see `swarm-tui patterns --mechanisms`)"
        )
    if len(markets) > 1:
        raise SessionError("scenario files name different market files; run them separately")
    return scenarios, next(iter(markets), None)


def agent_program(command: str, workdir: str | None = None) -> AgentProgram:
    """The program ``--agent-command`` (and ``--agent-workdir``) name. Raises SessionError (one line)."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise SessionError(f"--agent-command: {exc}") from None
    if not words:
        raise SessionError("--agent-command: give the command that runs your agent, e.g. 'python3 agent.py'")
    if workdir is not None:
        folder = Path(workdir)
        if not folder.is_dir():
            raise SessionError(f"--agent-workdir: no such folder {workdir!r}")
        workdir = str(folder.resolve())
    return AgentProgram(command=tuple(words), workdir=workdir)


def programs_of(scenarios: Sequence[AnyScenario]) -> list[AgentProgram]:
    """The users' programs the scenarios' agent groups name (scenario files' ``command``)."""
    found: list[AgentProgram] = []
    for scenario in scenarios:
        for spec in scenario.params.agent_specs():
            if spec.program is not None and spec.program not in found:
                found.append(spec.program)
    return found


def safe_argv() -> list[str]:
    """The command line as it may be recorded (secrets masked)."""
    return [scrub(a) for a in sys.argv[1:]]


@dataclass
class RunSession:
    """One invocation's run: its id, backend, journals, exports, signals and exit code."""

    backend: str = "mock"
    seed: int = 0
    backend_options: dict[str, Any] = field(default_factory=dict)
    market_csv: str | None = None
    exports: Sequence[str] = ()
    journal: bool = True
    journal_path: str | None = None  # where the main journal goes (default: the state directory)
    agent_program: AgentProgram | None = None  # `--agent-command`: the program of every agent
    # One line for each way a user's agent program broke (headless runs print it on stderr).
    on_agent_problem: Callable[[str], None] | None = None
    run_id: str = field(default_factory=new_run_id)
    shutdown: Shutdown = field(default_factory=Shutdown)
    journals: list[JournalWriter] = field(default_factory=list)
    journal_paths: list[Path] = field(default_factory=list)
    last: RunResult | None = None
    # Each scenario's time series, recorded only when an .html export asks for them.
    timeline: Timeline | None = None

    # -- before anything runs ------------------------------------------------------------------------
    def check(self) -> None:
        """Everything that can be wrong before a run starts: one line (SessionError)."""
        if self.seed < 0:
            raise SessionError(f"--seed must be >= 0, got {self.seed}")
        if self.backend not in backend_names():
            known = ", ".join(backend_names()) or "none (is swarm-tui installed?)"
            raise SessionError(f"unknown backend {self.backend!r} (choose from {known})")
        for path in self.exports:
            try:
                check_export_path(path)
            except ExportError as exc:
                raise SessionError(str(exc)) from None
        if self.market_csv:
            try:
                CsvMarket(self.market_csv)
            except MarketDataError as exc:
                raise SessionError(str(exc)) from None
        if self.agent_program is not None:
            self.check_programs([self.agent_program])

    def check_programs(self, programs: Sequence[AgentProgram]) -> None:
        """Users' agent programs that cannot run at all stop the run before it starts (exit 2):
        on mock (it runs the built-in agent only), or on local with no such command."""
        if not programs:
            return
        if not backend_class(self.backend).capabilities.real:
            raise SessionError(
                f"the {self.backend} backend runs the built-in agent only: run your agent program "
                "with --backend local or --backend e2b"
            )
        if self.backend == "local":
            from swarm_tui.backends.programs import resolve_command

            for program in programs:
                problem = resolve_command(program)
                if problem is not None:
                    raise SessionError(problem)

    def backend_factory(self) -> BackendFactory:
        """A function seed -> a new backend of this session's kind and options."""
        name, options = self.backend, dict(self.backend_options)
        if self.agent_program is not None:
            options["agent_program"] = self.agent_program
        return lambda seed: create_backend(name, seed=seed, **options)

    def preflight(self) -> None:
        """Build the backend once and check it can work (credentials, interpreter) before
        anything starts: a missing or rejected E2B key is one line and exit 2, not a failed run."""
        try:
            probe = self.backend_factory()(self.seed)
            asyncio.run(probe.start())
        except (ValueError, TypeError, BackendError) as exc:
            raise SessionError(scrub(str(exc))) from None

    @property
    def real(self) -> bool:
        """Does this backend run real processes or sandboxes (wall time)?"""
        return backend_class(self.backend).capabilities.real

    # -- journals ----------------------------------------------------------------------------------------
    def open_journal(self, path: Path, header: dict[str, Any], run_id: str | None = None) -> JournalWriter:
        writer = JournalWriter(path, run_id or self.run_id)
        try:
            writer.open(header)
        except JournalError as exc:
            raise SessionError(str(exc)) from None
        self.journals.append(writer)
        self.journal_paths.append(path)
        return writer

    def open_journals(self, scenarios: Sequence[AnyScenario]) -> Path | None:
        """The run's journal (unless switched off) and any ``.jsonl`` export; returns the main path."""
        header = {
            "backend": self.backend,
            "seed": self.seed,
            "started_at": utc_now(),
            "scenarios": [s.id for s in scenarios],
            "argv": safe_argv(),
        }
        main = None
        if self.journal:
            main = Path(self.journal_path) if self.journal_path else default_journal_path(self.run_id)
        paths = ([main] if main else []) + [Path(p) for p in self.exports if Path(p).suffix.lower() == ".jsonl"]
        try:
            for path in paths:
                self.open_journal(path, header)
        except SessionError:
            self.close_journals(None)
            raise
        if main is not None and not self.journal_path:
            prune_journals(main.parent)
        return main

    def scenario_journal(self, run_id: str, scenario_id: str) -> JournalWriter | None:
        """A journal for one dashboard run (each start of a scenario is a run of its own)."""
        if not self.journal:
            return None
        path = default_journal_path(run_id)
        if path.exists():  # a restart under a fixed run id: keep the earlier journal
            path = path.with_name(f"{run_id}-{secrets.token_hex(2)}.jsonl")
        header = {
            "backend": self.backend,
            "seed": self.seed,
            "started_at": utc_now(),
            "scenarios": [scenario_id],
            "dashboard": True,
        }
        writer = self.open_journal(path, header, run_id)
        prune_journals(path.parent)
        return writer

    def close_journals(self, result: RunResult | None, crash: BaseException | None = None) -> list[str]:
        """Write each journal's footer and close it; returns problems to report (one line each)."""
        problems = []
        footer: dict[str, Any] = {"finished_at": utc_now(), "interrupted": True}
        if result is not None:
            footer = {
                "finished_at": result.finished_at or utc_now(),
                "summary": result.counts(),
                "interrupted": result.interrupted,
            }
        if crash is not None:
            footer["error"] = describe(crash)
        for journal in self.journals:
            journal.close(footer)
            if journal.error:
                problems.append(journal.error)
        return problems

    # -- running ------------------------------------------------------------------------------------------
    def run(
        self,
        scenarios: Sequence[AnyScenario],
        *,
        on_start: Callable[[AnyScenario], None] | None = None,
        on_finish: Callable[[ScenarioResult], None] | None = None,
        on_context: Callable[[AnyContext], None] | None = None,
    ) -> RunResult:
        """Run the scenarios one after another (headless); signals stop the run between or inside
        a scenario. ``last`` holds the result so far, whatever ends the run."""
        factory = self.backend_factory()
        subscribers: list[Callable[[Event], None]] = list(self.journals)
        if any(Path(p).suffix.lower() == ".html" for p in self.exports):
            self.timeline = Timeline()
            subscribers.append(self.timeline)
        if self.on_agent_problem is not None:
            subscribers.append(AgentProblems(self.on_agent_problem))
        result = RunResult(run_id=self.run_id, backend=self.backend, seed=self.seed, started_at=utc_now())
        self.last = result
        try:
            for scenario in scenarios:
                if self.shutdown.requested:
                    result.interrupted = True
                    break
                if on_start:
                    on_start(scenario)
                outcome = run_one(
                    scenario,
                    factory(self.seed),
                    seed=self.seed,
                    run_id=self.run_id,
                    subscribers=subscribers,
                    market_csv=self.market_csv,
                    on_context=on_context,
                    shutdown=self.shutdown,
                )
                result.scenarios.append(outcome)
                if on_finish:
                    on_finish(outcome)
                if self.shutdown.requested:
                    result.interrupted = True
                    break
        except KeyboardInterrupt:
            result.interrupted = True
            raise
        finally:
            result.finished_at = utc_now()
            result.comparison, result.recommendations = build_comparison(result.scenarios)
        return result

    def write_exports(self, result: RunResult) -> list[str]:
        """Write every export but the journals (written as the run went); returns problems."""
        problems = []
        for path in self.exports:
            if Path(path).suffix.lower() == ".jsonl":
                continue
            try:
                write_export(result, path, self.timeline)
            except (ExportError, OSError) as exc:
                problems.append(f"cannot write {path}: {exc}")
        return problems

    def exit_code(self, result: RunResult | None, crash: BaseException | None = None) -> int:
        """0 all checks passed, 1 a check failed or a scenario errored (or an internal error),
        130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP."""
        if crash is not None:
            return EXIT_FAILED
        if self.shutdown.requested:
            return self.shutdown.exit_code or EXIT_INTERRUPTED
        if result is None:
            return EXIT_INTERRUPTED
        return EXIT_OK if result.passed else EXIT_FAILED


def describe(exc: BaseException | None) -> str:
    """An exception as one line, secrets masked."""
    return scrub(f"{type(exc).__name__}: {exc}") if exc is not None else ""
