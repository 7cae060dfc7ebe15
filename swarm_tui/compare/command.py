"""``swarm-tui compare`` behind the command line: check the input, run with a progress bar,
write the exports, print the report, and say how it ended (the exit code)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from swarm_tui.compare.compare import Comparison, default_jobs, parse_seeds
from swarm_tui.compare.runner import StopRequest
from swarm_tui.compare.workload_file import load_workload
from swarm_tui.compare.writers import console_report, writer_for
from swarm_tui.results.export import atomic_write

EXIT_OK, EXIT_FAILED = 0, 1


def check_export(path: str) -> None:
    """Fail before anything runs on an export path that cannot be written. Raises ValueError."""
    writer_for(path)
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise ValueError(f"cannot export to {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"cannot export to {path}: folder {parent} is not writable")
    if Path(path).is_dir():
        raise ValueError(f"cannot export to {path}: it is a folder")


def write_exports(report: dict[str, Any], exports: Sequence[str]) -> list[str]:
    """Write each export atomically (a temporary file renamed); returns problems, one line each."""
    problems = []
    for path in exports:
        try:
            atomic_write(path, writer_for(path)(report))  # secrets masked, a normal file mode
        except (OSError, ValueError) as exc:
            problems.append(f"cannot write {path}: {exc}")
    return problems


def one_line(report: dict[str, Any]) -> str:
    best = min(
        report["topologies"].items(),
        key=lambda kv: kv[1].get("latency_p95_ms", {}).get("median") or float("inf"),
        default=None,
    )
    units = report["units"]
    text = f"compare: {units['finished']}/{units['planned']} runs, {len(report['seeds'])} seeds"
    if best is not None:
        text += f"; lowest median p95: {best[0]}"
    called = sum(1 for t in report["differences"] if t["significant"])
    text += f"; {called} of {len(report['differences'])} differences significant"
    return text + (" (interrupted)" if report["interrupted"] else "")


def run_compare(
    *,
    workload: str,
    seeds: str,
    backend: str,
    backend_options: dict[str, Any],
    jobs: int | None,
    exports: Sequence[str],
    quiet: bool,
    stop: StopRequest,
    width: int | None = None,
) -> int:
    """The whole command; returns its exit code (130 when interrupted). Raises ValueError (bad input)."""
    seed_list = parse_seeds(seeds)
    chosen = load_workload(workload)
    for path in exports:
        check_export(path)
    comparison = Comparison(
        chosen, seed_list, backend=backend, backend_options=backend_options, jobs=jobs or default_jobs()
    )
    errors = Console(stderr=True, soft_wrap=True)
    with contextlib.suppress(AttributeError):
        stop.on_message = lambda text: errors.print(  # type: ignore[attr-defined]
            f"swarm-tui: {text}; writing what finished", style="yellow", highlight=False
        )
    total = len(comparison.jobs_list())
    progress = Progress(
        TextColumn("[bold]compare[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=errors,
        disable=quiet,
        transient=True,
    )
    with progress:
        task = progress.add_task("runs", total=total)
        report = comparison.run(stop=stop, on_done=lambda _run: progress.advance(task))
    for problem in write_exports(report, exports):
        errors.print(f"swarm-tui: {problem}", style="red", highlight=False)
    console = Console(width=width)
    if quiet:
        print(one_line(report))
    else:
        console.print(console_report(report))
        for path in exports:
            console.print(f"wrote {path}", style="dim")
    sys.stdout.flush()
    if report["interrupted"] or stop.requested:
        return int(getattr(stop, "exit_code", 0) or 130)
    return EXIT_FAILED if report["units"]["errors"] else EXIT_OK
