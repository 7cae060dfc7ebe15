"""Results rebuilt from a journal (``swarm-tui report``), including a run cut short.

A scenario that finished carries its whole result in its ``scenario_finished`` line, so that is
taken as it was. A scenario the run never finished (SIGKILL, power loss) is rebuilt from its
events: the metrics aggregator is a pure function of the event stream, so its figures are the
ones the run had measured up to the last line that reached the disk. Its checks cannot be judged
(the experiment did not end), so it is reported as an ``error`` saying so.
"""

from __future__ import annotations

import math
from typing import Any

from swarm_tui.engine.events import event_from_dict
from swarm_tui.engine.metrics import MetricsAggregator
from swarm_tui.results.journal import Journal, finite
from swarm_tui.results.model import RunResult, ScenarioResult


def rebuild_results(journal: Journal) -> RunResult:
    from swarm_tui.results.comparison import build_comparison

    header, footer = journal.header, journal.footer or {}
    seed = header.get("seed")
    result = RunResult(
        run_id=journal.run_id,
        backend=str(header.get("backend", "")),
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        started_at=str(header.get("started_at", "")),
        finished_at=str(footer.get("finished_at", "")),
        interrupted=bool(footer.get("interrupted")) or journal.footer is None,
    )
    for name, events in journal.by_scenario():
        last = events[-1]
        if last.get("kind") == "scenario_finished" and isinstance(last.get("result"), dict):
            try:
                result.scenarios.append(ScenarioResult.from_dict(last["result"]))
                continue
            except (KeyError, TypeError, ValueError):
                journal.notes.append(f"{name}: its recorded result is damaged; rebuilt from its events")
        result.scenarios.append(_unfinished(name, events, journal))
    result.comparison, result.recommendations = build_comparison(result.scenarios)
    return result


def _unfinished(name: str, events: list[dict[str, Any]], journal: Journal) -> ScenarioResult:
    metrics = MetricsAggregator()
    end = 0.0
    skipped = 0
    for record in events:
        t = record.get("t")
        if not isinstance(t, int | float) or isinstance(t, bool) or not math.isfinite(t):
            skipped += 1
            continue
        try:
            metrics(event_from_dict(record))
        except (TypeError, ValueError, KeyError, AttributeError):
            skipped += 1
            continue
        end = max(end, float(t))
    if skipped:
        journal.notes.append(f"{name}: {skipped} event line(s) with bad fields were ignored")
    started = events[0]
    summary = metrics.summary(end)
    summary["sim_time_s"] = round(end, 4)
    return ScenarioResult(
        id=name,
        pattern=str(started.get("pattern", "")),
        title=str(started.get("title", "")),
        status="error",
        duration_s=0.0,
        checks=[],
        metrics=finite(summary),
        events=len(events),
        error=f"incomplete: the run ended at t={end:.2f} s before this scenario finished; "
        "figures are what was measured until then",
    )
