"""Running the units of a comparison in parallel worker processes.

Workers are spawned (not forked: the parent may hold threads, such as the progress display) and
ignore SIGINT, so that Ctrl-C reaches the parent alone: it stops handing out units, waits for the
units in progress (a mock unit takes well under a second) and returns what finished, marked
interrupted. A second Ctrl-C terminates the workers at once (each run kills its own sandboxes
when it is cancelled; local agents also die with their parent). Results are keyed by unit, so
they are the same whatever the number of workers and whatever order units finish in.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from swarm_tui.compare.experiment import Job, run_unit

ProgressCallback = Callable[[dict[str, Any]], None]


class StopRequest(Protocol):
    """What the runner asks of the command's signal handling (``session.shutdown.Shutdown``)."""

    @property
    def requested(self) -> bool: ...

    @property
    def hurry(self) -> bool: ...


@dataclass
class Outcome:
    """The figures of every unit that finished, in plan order; whether the run was interrupted."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False
    wall_s: float = 0.0


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _failed(job: Job, exc: BaseException) -> dict[str, Any]:
    unit = job.unit
    return {
        "kind": unit.kind,
        "arm": unit.arm,
        "version": unit.version,
        "seed": unit.seed,
        "error": f"{type(exc).__name__}: {exc}",
        "series": {},
    }


def run_jobs(
    jobs: Sequence[Job],
    *,
    workers: int,
    stop: StopRequest | None = None,
    on_done: ProgressCallback | None = None,
) -> Outcome:
    """Run every job (in ``workers`` processes; 1 runs them here) and collect their figures."""
    started = time.perf_counter()
    outcome = Outcome()
    results: dict[int, dict[str, Any]] = {}
    if workers <= 1:
        for i, job in enumerate(jobs):
            if stop is not None and stop.requested:
                outcome.interrupted = True
                break
            try:
                results[i] = run_unit(job)
            except Exception as exc:  # a unit's bug is that unit's error, not the comparison's end
                results[i] = _failed(job, exc)
            if on_done:
                on_done(results[i])
    else:
        outcome.interrupted = _in_pool(jobs, workers, stop, on_done, results)
    outcome.runs = [results[i] for i in sorted(results)]
    outcome.wall_s = time.perf_counter() - started
    return outcome


def _in_pool(
    jobs: Sequence[Job],
    workers: int,
    stop: StopRequest | None,
    on_done: ProgressCallback | None,
    results: dict[int, dict[str, Any]],
) -> bool:
    """Keep ``workers`` units in flight (so a stop waits for at most that many); True if stopped."""
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_ignore_sigint)
    pending: dict[Future[dict[str, Any]], int] = {}
    queue = list(enumerate(jobs))
    queue.reverse()
    stopped = False
    try:
        while queue or pending:
            if stop is not None and stop.requested:
                stopped = True
                if stop.hurry or not pending:
                    break
            while queue and not stopped and len(pending) < workers * 2:
                i, job = queue.pop()
                pending[pool.submit(run_unit, job)] = i
            done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                i = pending.pop(future)
                try:
                    results[i] = future.result()
                except Exception as exc:
                    results[i] = _failed(jobs[i], exc)
                if on_done:
                    on_done(results[i])
    finally:
        if stopped and stop is not None and stop.hurry:
            for child in multiprocessing.active_children():
                child.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
    return stopped
