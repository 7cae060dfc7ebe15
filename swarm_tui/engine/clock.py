"""Time for the engine: virtual (mock), paced virtual (dashboard), or wall (real backends).

Engine code never calls ``time.sleep``, ``asyncio.sleep`` or ``time.monotonic`` itself: it asks a
:class:`Clock`. The clock reads the time of the running asyncio loop, so the mode is decided by
the loop the engine runs on:

* :class:`VirtualTimeLoop` with ``speed=None`` jumps straight to the next timer whenever nothing
  is runnable. A headless mock run costs only CPU time and is deterministic for a seed, because
  the order of callbacks depends on nothing but the program.
* :class:`VirtualTimeLoop` with a ``speed`` paces virtual time to wall time times that factor
  and can be paused; the dashboard uses it so people can watch a mock swarm.
* :class:`VirtualTimeLoop` with ``stepped=True`` runs like the first, but never past a limit
  that another thread moves with :meth:`VirtualTimeLoop.advance_to`, which returns once the loop
  has done everything due up to the limit (trio's MockClock with autojump, for tests): a test
  steps scenario time instead of racing the wall clock.
* Any ordinary asyncio loop gives wall time, which real backends (processes, E2B) need.

Because the whole loop is virtual, everything built on it (``asyncio.wait_for``, timeouts,
``call_later``) follows the same clock without special cases.
"""

from __future__ import annotations

import asyncio
import selectors
import threading
import time
from collections.abc import Callable
from typing import Any


class _VirtualSelector(selectors.BaseSelector):
    """A selector that advances the loop's virtual time instead of waiting.

    Real file descriptors (the loop's self-pipe, used by ``call_soon_threadsafe`` and signal
    handlers) are still polled, so a paced loop can be woken from another thread.
    """

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._real = selectors.DefaultSelector()
        self._loop = loop

    # Registration is delegated to the real selector.
    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_map(self) -> Any:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        loop = self._loop
        if loop._paused:
            # Frozen: virtual time stands still; only a wake-up from another thread gets through.
            return self._real.select(None if timeout != 0 else 0)
        if loop._speed is None:
            events = self._real.select(0)
            if events or timeout == 0:
                return events
            limit = loop._limit
            if limit is not None and (timeout is None or loop._vtime + timeout > limit):
                # Stepped: everything due up to the limit is done; stand at the limit until
                # another thread moves it (or asks for something).
                loop._vtime = max(loop._vtime, limit)
                loop._reached(loop._vtime)
                return self._real.select(None)
            if timeout is None:
                # Nothing is scheduled at all: only another thread or a signal can make progress.
                return self._real.select(None)
            loop._vtime += timeout
            return []
        # Paced: virtual time follows the wall clock x speed from an anchor (set at start, on
        # resume and on a speed change). A loop that falls behind (busy CPU, a busy GIL) catches
        # up by running its due timers at once instead of drifting ever later.
        if timeout == 0:
            return self._real.select(0)
        speed = loop._speed
        target = loop._anchor_v + (time.monotonic() - loop._anchor_wall) * speed
        deadline = None if timeout is None else loop._vtime + timeout
        if deadline is not None and target >= deadline:
            loop._vtime = deadline
            return self._real.select(0)
        real_wait = None if deadline is None else (deadline - target) / speed
        events = self._real.select(real_wait)
        target = loop._anchor_v + (time.monotonic() - loop._anchor_wall) * speed
        if deadline is not None:
            target = deadline if not events else min(target, deadline)
        loop._vtime = max(loop._vtime, target)
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose ``time()`` is virtual.

    ``speed=None``: time jumps to the next timer when nothing is runnable (as fast as the CPU
    allows). ``speed=k``: virtual time runs at k times wall time; :meth:`pause` freezes it.
    """

    def __init__(self, speed: float | None = None, *, stepped: bool = False) -> None:
        self._vtime = 0.0
        self._speed = None if stepped else speed
        self._paused = False
        self._anchor_wall = time.monotonic()
        self._anchor_v = 0.0
        # Stepped mode: virtual time stops at _limit; _idle_at is where it last stood idle.
        self._limit: float | None = 0.0 if stepped else None
        self._idle_at = -1.0
        self._idle = threading.Condition()
        super().__init__(_VirtualSelector(self))

    @property
    def stepped(self) -> bool:
        return self._limit is not None

    def _reached(self, t: float) -> None:
        with self._idle:
            self._idle_at = t
            self._idle.notify_all()

    def advance_to(self, t: float, timeout: float = 60.0, *, gone: Callable[[], bool] = lambda: False) -> float:
        """Stepped mode, from another thread: let virtual time run to ``t`` and wait until
        everything due by then is done. Returns the virtual time reached (``t``).

        Returns early (with the time reached) once ``gone()`` says the loop's work is over.
        Raises TimeoutError if the loop does not get there within ``timeout`` wall seconds (a
        callback that never returns, or the loop has stopped)."""
        if self._limit is None:
            raise RuntimeError("advance_to needs a stepped loop")
        with self._idle:
            self._idle_at = -1.0

        def move() -> None:
            self._limit = max(self._limit or 0.0, t)

        try:
            self.call_soon_threadsafe(move)
        except RuntimeError:  # closed: its work is over
            return self._vtime
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._idle_at < t - 1e-9:
                if gone():
                    return self._vtime
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"the loop did not reach t={t:g} s of virtual time")
                self._idle.wait(min(left, 0.05))
            return self._idle_at

    def settle(self, timeout: float = 60.0, *, gone: Callable[[], bool] = lambda: False) -> float:
        """Stepped mode: wait until the loop is idle at its current limit (after a command)."""
        return self.advance_to(self._limit or 0.0, timeout, gone=gone)

    def release(self) -> None:
        """Leave stepped mode: run freely (instant virtual time) from here on (thread-safe)."""

        def apply() -> None:
            self._limit = None

        self.call_soon_threadsafe(apply)

    def _reanchor(self) -> None:
        self._anchor_wall = time.monotonic()
        self._anchor_v = self._vtime

    def time(self) -> float:
        return self._vtime

    @property
    def speed(self) -> float | None:
        return self._speed

    @property
    def paused(self) -> bool:
        return self._paused

    def set_speed(self, speed: float) -> None:
        """Change the pace (thread-safe: may be called from the UI thread)."""
        if speed <= 0:
            raise ValueError("speed must be positive")

        def apply() -> None:
            self._speed = speed
            self._reanchor()

        self.call_soon_threadsafe(apply)

    def pause(self) -> None:
        """Freeze virtual time (thread-safe). Zero-delay work still runs."""

        def apply() -> None:
            self._paused = True

        self.call_soon_threadsafe(apply)

    def resume(self) -> None:
        """Let virtual time run again (thread-safe)."""

        def apply() -> None:
            self._paused = False
            self._reanchor()

        self.call_soon_threadsafe(apply)


class Clock:
    """The engine's only source of time: scenario seconds since the clock was started."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self._t0 = self._loop.time()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def virtual(self) -> bool:
        """True when time is simulated (mock backend), False for wall time."""
        return isinstance(self._loop, VirtualTimeLoop)

    def now(self) -> float:
        """Scenario seconds since the clock started."""
        return self._loop.time() - self._t0

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def sleep_until(self, t: float) -> None:
        await asyncio.sleep(max(0.0, t - self.now()))

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> asyncio.TimerHandle:
        return self._loop.call_later(max(0.0, delay), callback, *args)

    def call_at(self, t: float, callback: Callable[..., Any], *args: Any) -> asyncio.TimerHandle:
        return self._loop.call_at(self._t0 + t, callback, *args)


def new_loop(virtual: bool, speed: float | None = None) -> asyncio.AbstractEventLoop:
    """A loop for a run: virtual (instant, or paced at ``speed``) or an ordinary wall-time loop."""
    if virtual:
        return VirtualTimeLoop(speed=speed)
    return asyncio.new_event_loop()


def wall_now() -> float:
    """Wall-clock seconds for measuring real elapsed time (not scenario time)."""
    return time.perf_counter()
