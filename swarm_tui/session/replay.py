"""A recorded run played back: the dashboard's picture of a scenario, rebuilt from its journal.

:class:`ReplayRun` offers what the dashboard uses of :class:`~swarm_tui.session.live.LiveRun`
(status, the latest snapshot, event lines, pause, speed), plus :meth:`ReplayRun.seek`. Nothing
runs: a clock (wall time x speed, pausable) gives the scenario time to show, and the picture at
that time is the same :class:`~swarm_tui.engine.projection.SwarmProjection` the live run was
drawn from, fed the journal's events up to it. There is no second copy of the engine's rules.

Seeking is cheap: one pass over the journal at open keeps a copy of the projection every
``checkpoint_every`` events; a seek restores the nearest copy before the target and applies the
events in between. Playing forward only applies the events since the last look.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from swarm_tui.engine.events import EVENT_TYPES, Event, Note, event_from_dict
from swarm_tui.engine.projection import EventLine, Snapshot, SwarmProjection
from swarm_tui.engine.topology import TOPOLOGIES
from swarm_tui.results.journal import Journal
from swarm_tui.session.live import SPEEDS

READ_ONLY = "replay is read-only"
ROWS_EVERY_S = 0.25  # agent rows are rebuilt at most this often (wall time) while playing
CHECKPOINT_EVERY = 2000
EVENT_LIMIT = 2000  # event lines handed out at once (the events panel keeps as many)


class ReplayError(ValueError):
    """A journal that cannot be replayed: one line for the user."""


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


_FIELDS: dict[type[Event], frozenset[str]] = {}


def _event(record: dict[str, Any]) -> Event:
    """:func:`event_from_dict`, with each event type's field names looked up once (a journal has many)."""
    kind = record.get("kind")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return event_from_dict(record)  # says what is wrong with it
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = frozenset(f.name for f in dataclasses.fields(cls))
    return cls(**{k: v for k, v in record.items() if k in names})


def _pick(journal: Journal, scenario: str | None) -> tuple[str, list[dict[str, Any]]]:
    runs = list(journal.by_scenario())
    if not runs:
        raise ReplayError(f"{journal.path}: no scenario in this journal (the run ended before one started)")
    if scenario is None:
        return runs[0]
    for name, records in runs:
        if name == scenario:
            return name, records
    names = ", ".join(dict.fromkeys(name for name, _ in runs))
    raise ReplayError(f"{journal.path}: no scenario {scenario!r} in this journal (it holds: {names})")


class ReplayRun:
    """One recorded scenario, played back for the dashboard (read-only)."""

    virtual = True  # its clock is ours to pace: pause, speed and seek all work

    def __init__(
        self,
        journal: Journal,
        scenario: str | None = None,
        *,
        speed: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        checkpoint_every: int = CHECKPOINT_EVERY,
    ) -> None:
        if not math.isfinite(speed) or speed <= 0:
            raise ReplayError(f"speed must be a positive number, got {speed!r}")
        self.journal = journal
        name, records = _pick(journal, scenario)
        self.scenario_id = name
        started = records[0]
        self.title = str(started.get("title", ""))
        self.pattern = str(started.get("pattern", ""))
        self.backend_name = str(started.get("backend") or journal.header.get("backend") or "")
        seed = started.get("seed", journal.header.get("seed"))
        self.seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else None
        self.run_id = journal.run_id
        params = started.get("params")
        self.params: dict[str, Any] = params if isinstance(params, dict) else {}
        self.notes: list[str] = list(journal.notes)
        topology = started.get("topology")
        self.kind = topology if isinstance(topology, str) and topology in TOPOLOGIES else "mesh"
        self._events, self._times, skipped = self._parse(records)
        if skipped:
            self.notes.append(f"{name}: {skipped} event line(s) with bad fields were ignored")
        last = self._events[-1] if self._events else None
        finished = last if last is not None and last.kind == "scenario_finished" else None
        self.result: dict[str, Any] | None = None
        if finished is not None and isinstance(getattr(finished, "result", None), dict):
            self.result = finished.result  # type: ignore[attr-defined]
        self.finished = finished is not None
        self.recorded_status = str(getattr(finished, "status", "")) if finished is not None else "incomplete"
        self.total = self._times[-1] if self._times else 0.0
        if not self.finished:
            for text in [f"incomplete: the recording ends at t={self.total:.2f} s", *self.notes]:
                self._events.append(Note(t=self.total, scenario=name, text=text))
                self._times.append(self.total)
        self.checkpoint_every = max(1, checkpoint_every)
        self._clock = clock
        self.speed = float(speed)
        self._paused = False
        self._started = False  # the clock stands at 0 until start() (the dashboard starts it once it is up)
        self._base_t = 0.0
        self._base_wall = clock()
        self.status = "running"
        self.error: str | None = None
        self.latest: Snapshot | None = None
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._snap_seq = 0
        self._snap_key: tuple[Any, ...] | None = None
        self._rows_at = -1e9
        self._force_rows = True
        self.seeks = 0  # how many times it jumped (a view of the log starts over after each)
        self._checkpoints: list[SwarmProjection] = []
        self._lines: list[EventLine] = []
        self._line_at: list[int] = []  # the number of events applied when each line appeared
        self._index()
        self._state = self._checkpoints[0].clone()
        self._state_index = 0
        self._rows = self._state.rows(0.0)
        self.request_snapshot()

    # -- reading the journal --------------------------------------------------------------------
    @staticmethod
    def _parse(records: list[dict[str, Any]]) -> tuple[list[Event], list[float], int]:
        events: list[Event] = []
        times: list[float] = []
        skipped = 0
        latest = 0.0
        for record in records:
            t = _finite(record.get("t"))
            if t is None or t < 0:
                skipped += 1
                continue
            try:
                event = _event(record)
            except (TypeError, ValueError, KeyError):
                skipped += 1
                continue
            latest = max(latest, t)  # time never runs backwards, even in a damaged journal
            event.t = latest
            events.append(event)
            times.append(latest)
        return events, times, skipped

    @staticmethod
    def _apply(state: SwarmProjection, event: Event) -> None:
        # A damaged line changes nothing (it may still show in the log).
        with contextlib.suppress(TypeError, ValueError, AttributeError, KeyError, ZeroDivisionError):
            state(event)

    def _index(self) -> None:
        """One pass over the events: every log line, and a checkpoint every so many events."""
        state = SwarmProjection(self.kind)
        self._checkpoints.append(state.clone())
        seen = 0
        for i, ev in enumerate(self._events):
            self._apply(state, ev)
            if state.line_seq > seen:
                for line in list(state.lines)[-(state.line_seq - seen) :]:
                    self._lines.append(line)
                    self._line_at.append(i + 1)
                seen = state.line_seq
            if (i + 1) % self.checkpoint_every == 0:
                self._checkpoints.append(state.clone())

    # -- the clock -------------------------------------------------------------------------------------
    def start(self) -> ReplayRun:
        """Set the clock going (from where it stands)."""
        with self._lock:
            if not self._started:
                self._started = True
                self._base_wall = self._clock()
        return self

    @property
    def position(self) -> float:
        """The scenario time shown now."""
        if self._paused or not self._started:
            return self._base_t
        return min(self.total, self._base_t + (self._clock() - self._base_wall) * self.speed)

    @property
    def paused(self) -> bool:
        return self._paused

    def _rebase(self, t: float) -> None:
        self._base_t = t
        self._base_wall = self._clock()

    def pause(self) -> bool:
        with self._lock:
            if not self._paused:
                self._rebase(self.position)
                self._paused = True
        return True

    def resume(self) -> bool:
        with self._lock:
            if self._paused or not self._started:
                self._base_wall = self._clock()
                self._paused = False
                self._started = True
        return True

    def toggle_pause(self) -> str:
        if self._paused:
            if self.position >= self.total:
                self.seek(0.0)
                self.resume()
                return "replaying from the start"
            self.resume()
            return "resumed"
        self.pause()
        return "paused"

    def set_speed(self, speed: float) -> bool:
        if not math.isfinite(speed) or speed <= 0:
            return False
        with self._lock:
            self._rebase(self.position)
            self.speed = float(speed)
        return True

    def next_speed(self) -> float:
        """Cycle 1x -> 5x -> 20x -> 1x; returns the new speed."""
        i = SPEEDS.index(self.speed) if self.speed in SPEEDS else -1
        self.set_speed(SPEEDS[(i + 1) % len(SPEEDS)])
        return self.speed

    def seek(self, t: float) -> float:
        """Go to scenario time ``t`` (clamped to the recording); returns where it went."""
        if not math.isfinite(t):
            t = 0.0
        t = min(max(0.0, t), self.total)
        with self._lock:
            self._rebase(t)
            self._sync(t)
            self._force_rows = True
            self.seeks += 1
        if t < self.total:
            self.done.clear()
        self.request_snapshot()
        return t

    def seek_by(self, delta: float) -> float:
        return self.seek(self.position + delta)

    def stop(self, wait: float = 0.0) -> None:
        """Nothing runs in a replay: stopping only stops the clock."""
        self.pause()

    # -- read-only: what would change a live run is refused ------------------------------------------
    def inject(self, agent_id: str, kind: str, **params: Any) -> str:
        return READ_ONLY

    def partition(self, seconds: float = 10.0) -> str:
        return READ_ONLY

    def promote(self) -> str:
        return READ_ONLY

    def rollback(self) -> str:
        return READ_ONLY

    def scale(self, delta: int) -> str:
        return READ_ONLY

    # -- the picture at a time ---------------------------------------------------------------------------
    def _sync(self, t: float) -> None:
        """Bring the projection to scenario time ``t``: forward from here, or from the nearest checkpoint."""
        target = bisect.bisect_right(self._times, t)
        state, index = self._state, self._state_index
        k = min(target // self.checkpoint_every, len(self._checkpoints) - 1)
        if target < index or k * self.checkpoint_every > index:
            state, index = self._checkpoints[k].clone(), k * self.checkpoint_every
        for i in range(index, target):
            self._apply(state, self._events[i])
        self._state, self._state_index = state, target

    def projection_at(self, t: float) -> SwarmProjection:
        """The projection after every event up to scenario time ``t`` (a copy: the replay stays put)."""
        t = min(max(0.0, t), self.total)
        with self._lock:
            saved = (self._state, self._state_index)
            self._state = self._state.clone()
            try:
                self._sync(t)
                return self._state
            finally:
                self._state, self._state_index = saved

    def state_at(self, t: float) -> Snapshot:
        """A snapshot at scenario time ``t`` without moving the replay (for tests and tools)."""
        t = min(max(0.0, t), self.total)
        projection = self.projection_at(t)
        status = self._end_status() if t >= self.total else "paused"
        return self._snapshot(projection, t, status, rows=projection.rows(t))

    def agents_at(self, t: float) -> dict[str, str]:
        """Agent id -> state at scenario time ``t`` (every agent the recording has seen so far)."""
        return {a.id: a.state for a in self.projection_at(t).agents.values()}

    def request_snapshot(self) -> None:
        """Bring ``latest`` up to the clock (cheap when nothing moved)."""
        with self._lock:
            t = self.position
            if not self._paused and self._started and t >= self.total:
                self._rebase(self.total)
                self._paused = True  # played to the end: the clock stops there
            self._sync(t)
            at_end = t >= self.total
            if at_end:
                self.done.set()
                self.status = self._end_status()
            else:
                self.status = "paused" if self._paused or not self._started else "running"
            key = (t, self.status, self.speed, self._state_index, self._force_rows)
            if key == self._snap_key and self.latest is not None:
                return
            wall = self._clock()
            if self._force_rows or self._paused or at_end or wall - self._rows_at >= ROWS_EVERY_S:
                self._rows = self._state.rows(t)
                self._rows_at = wall
            self.latest = self._snapshot(self._state, t, self.status, rows=self._rows)
            self._snap_key = (t, self.status, self.speed, self._state_index, False)
            self._force_rows = False

    def _end_status(self) -> str:
        if not self.finished:
            return "incomplete"
        return "error" if self.recorded_status == "error" else "done"

    def _snapshot(self, projection: SwarmProjection, t: float, status: str, *, rows: Any) -> Snapshot:
        self._snap_seq += 1
        at_end = t >= self.total
        error = None
        if at_end:
            if self.finished and self.result is not None and self.result.get("error"):
                error = str(self.result["error"])
            elif not self.finished:
                error = f"incomplete recording: it ends at t={self.total:.2f} s"
        view = projection.view(t, rows=rows)
        return Snapshot.of(
            view,
            seq=self._snap_seq,
            status=status,
            speed=self.speed,
            scenario=self.scenario_id,
            title=self.title,
            pattern=self.pattern,
            backend=self.backend_name,
            run_id=self.run_id,
            error=error,
            total=self.total,
        )

    # -- the log ---------------------------------------------------------------------------------------
    def _visible_lines(self, index: int) -> int:
        """How many log lines belong to the first ``index`` events."""
        return bisect.bisect_right(self._line_at, index)

    def events_since(self, seq: int) -> list[EventLine]:
        """Log lines newer than ``seq`` up to the current time (the last EVENT_LIMIT at most)."""
        with self._lock:
            m = self._visible_lines(self._state_index)
        start = max(seq, m - EVENT_LIMIT, 0)
        return self._lines[start:m] if start < m else []

    @property
    def lines(self) -> list[EventLine]:
        """Every line of the recording's log."""
        return list(self._lines)
