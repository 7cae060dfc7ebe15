"""The virtual clock: time jumps to the next timer, order is preserved, pause freezes time."""

from __future__ import annotations

import asyncio
import threading
import time

from swarm_tui.engine.clock import Clock, VirtualTimeLoop


def run(coro_fn, speed=None):
    loop = VirtualTimeLoop(speed=speed)
    try:
        return loop.run_until_complete(coro_fn(loop))
    finally:
        loop.close()


def test_virtual_time_jumps_to_the_next_timer() -> None:
    async def main(loop):
        clock = Clock()
        await clock.sleep(3600.0)
        return clock.now()

    started = time.perf_counter()
    now = run(main)
    assert now == 3600.0
    # An hour of scenario time costs (much) less than a second of wall time.
    assert time.perf_counter() - started < 1.0


def test_timers_fire_in_time_order_and_timeouts_are_virtual() -> None:
    async def main(loop):
        clock = Clock()
        seen = []
        for delay in (3.0, 1.0, 2.0, 1.0):
            clock.call_later(delay, lambda d=delay: seen.append((d, clock.now())))
        try:
            await asyncio.wait_for(asyncio.sleep(10.0), timeout=5.0)
        except TimeoutError:
            seen.append(("timeout", clock.now()))
        return seen

    assert run(main) == [(1.0, 1.0), (1.0, 1.0), (2.0, 2.0), (3.0, 3.0), ("timeout", 5.0)]


def test_clock_reports_virtual_and_sleep_until() -> None:
    async def main(loop):
        clock = Clock()
        await clock.sleep_until(12.5)
        await clock.sleep(-1)  # negative sleeps are no sleeps
        return clock.virtual, clock.now()

    assert run(main) == (True, 12.5)


def test_wall_clock_loop_is_not_virtual() -> None:
    async def main():
        return Clock().virtual

    assert asyncio.run(main()) is False


def test_pause_freezes_virtual_time_and_resume_lets_it_run() -> None:
    loop = VirtualTimeLoop(speed=1000.0)
    result = {}

    def drive():
        async def main():
            clock = Clock()
            loop.pause()
            await asyncio.sleep(0)  # let the pause apply
            frozen = clock.now()
            waiter = asyncio.ensure_future(clock.sleep(5.0))
            await asyncio.sleep(0)
            result["frozen"] = frozen

            # While paused, a real 50 ms passes without virtual time moving; then it resumes (one
            # timer, so a loaded machine cannot run the resume before the reading).
            def read_then_resume() -> None:
                result["during"] = clock.now()
                loop.resume()

            threading.Timer(0.05, read_then_resume).start()
            await waiter
            result["after"] = clock.now()

        loop.run_until_complete(main())

    drive()
    loop.close()
    assert result["during"] == result["frozen"]
    assert result["after"] >= result["frozen"] + 5.0


def test_paced_loop_runs_slower_than_instant_but_faster_than_wall() -> None:
    loop = VirtualTimeLoop(speed=100.0)

    async def main():
        clock = Clock()
        await clock.sleep(2.0)
        return clock.now()

    started = time.perf_counter()
    assert loop.run_until_complete(main()) >= 2.0
    elapsed = time.perf_counter() - started
    loop.close()
    # 2 s of scenario time at 100x is about 20 ms of wall time; never the 2 s of wall time.
    assert elapsed < 1.0
