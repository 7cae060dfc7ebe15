"""Each controller against its rule: HPA formula, breaker state machine, quorum, analysis, split."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarm_tui.engine.clock import Clock, VirtualTimeLoop
from swarm_tui.engine.controllers.autoscaler import Autoscaler, hpa_formula
from swarm_tui.engine.controllers.breaker import BreakerState, CircuitBreaker
from swarm_tui.engine.controllers.lease import ActiveHubs
from swarm_tui.engine.controllers.quorum import majority, tally
from swarm_tui.engine.controllers.routing import SmoothWeighted


def in_loop(fn):
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(fn())
    finally:
        loop.close()


# -- HPA -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("current", "observed", "target", "expected"),
    [
        (2, 50.0, 10.0, 10),  # ceil(2 x 50/10)
        (4, 10.5, 10.0, 4),  # within the 0.1 tolerance: no change
        (4, 11.5, 10.0, 5),  # ceil(4 x 1.15) = ceil(4.6)
        (6, 1.0, 10.0, 1),  # ceil(0.6)
        (3, 20.0, 20.0, 3),
        (5, 0.0, 10.0, 0),
    ],
)
def test_hpa_formula(current, observed, target, expected) -> None:
    assert hpa_formula(current, observed, target, 0.1) == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 50), st.floats(0.0, 1000.0, allow_nan=False), st.floats(0.1, 100.0))
def test_hpa_formula_properties(current, observed, target) -> None:
    desired = hpa_formula(current, observed, target, 0.1)
    ratio = observed / target
    if abs(ratio - 1) <= 0.1:
        assert desired == current
    else:
        assert desired >= current * ratio - 1e-6
        assert desired < current * ratio + 1


def _scaler(clock, state, **kw):
    async def scale_to(n, direction):
        state["n"] = n

    defaults = dict(
        metric="load",
        read_metric=lambda: state["load"],
        current=lambda: state["n"],
        scale_to=scale_to,
        target=10.0,
        min_replicas=2,
        max_replicas=10,
        window_s=10.0,
        period_s=1.0,
    )
    defaults.update(kw)
    return Autoscaler(clock, **defaults)


def test_scale_up_is_limited_per_period_and_capped() -> None:
    async def main():
        clock = Clock()
        state = {"n": 2, "load": 100.0}
        scaler = _scaler(clock, state)
        first = scaler.evaluate()
        # ceil(2 x 100/10) = 20 -> capped at max 10 -> limited to max(+100 %, +4) = 6.
        assert (first.formula, first.desired) == (20, 6)
        state["n"] = first.desired
        await clock.sleep(1.0)
        second = scaler.evaluate()
        assert second.desired == 10
        state["n"] = 10
        await clock.sleep(1.0)
        assert scaler.evaluate() is None  # at max, nothing to do

    in_loop(main)


def test_scale_down_waits_for_the_stabilization_window() -> None:
    async def main():
        clock = Clock()
        state = {"n": 6, "load": 1.0}
        scaler = _scaler(clock, state)
        downs = []
        for _ in range(15):
            d = scaler.evaluate()
            if d is not None:
                downs.append((clock.now(), d.desired))
                state["n"] = d.desired
            await clock.sleep(1.0)
        # The window starts out holding 6: the first scale-down comes once it has passed.
        assert downs and downs[0][0] >= 10.0
        assert downs[0][1] == 2

    in_loop(main)


def test_scale_down_takes_the_highest_recommendation_in_the_window() -> None:
    async def main():
        clock = Clock()
        state = {"n": 8, "load": 10.0}
        scaler = _scaler(clock, state, window_s=5.0)
        scaler.evaluate()  # at target: recommendation 8
        await clock.sleep(1.0)
        state["load"] = 5.0  # recommendation ceil(8 x 0.5) = 4, but 8 is still in the window
        assert scaler.evaluate() is None
        await clock.sleep(5.5)
        d = scaler.evaluate()
        assert d is not None and d.desired == 4

    in_loop(main)


def test_no_flapping_counter() -> None:
    async def main():
        clock = Clock()
        state = {"n": 2, "load": 50.0}
        scaler = _scaler(clock, state, window_s=0.0)
        for load in (50.0, 1.0, 50.0):
            state["load"] = load
            d = scaler.evaluate()
            if d:
                state["n"] = d.desired
            await clock.sleep(1.0)
        return scaler.direction_changes()

    assert in_loop(main) == 2


# -- circuit breaker ---------------------------------------------------------------------------------
def test_breaker_state_machine() -> None:
    async def main():
        clock = Clock()
        seen = []
        b = CircuitBreaker(
            "x", clock, window=10, min_calls=5, failure_rate=0.5, open_s=5.0, probes=3, publish=seen.append
        )
        for _ in range(4):
            assert b.allow()
            b.record(False)
        assert b.state == BreakerState.CLOSED  # fewer than min_calls
        assert b.allow()
        b.record(False)
        assert b.state == BreakerState.OPEN
        assert not b.allow()  # refused while open
        await clock.sleep(4.9)
        assert not b.allow()
        await clock.sleep(0.2)
        assert b.allow()  # the wait is over: half-open, a probe passes
        assert b.state == BreakerState.HALF_OPEN
        b.record(False)  # a failed probe opens it again
        assert b.state == BreakerState.OPEN
        await clock.sleep(5.0)
        for _ in range(3):
            assert b.allow()
        assert not b.allow()  # only 3 probes at once
        for _ in range(3):
            b.record(True)
        assert b.state == BreakerState.CLOSED
        return [(e.old, e.new) for e in seen], b.refused

    transitions, refused = in_loop(main)
    assert transitions == [
        ("CLOSED", "OPEN"),
        ("OPEN", "HALF_OPEN"),
        ("HALF_OPEN", "OPEN"),
        ("OPEN", "HALF_OPEN"),
        ("HALF_OPEN", "CLOSED"),
    ]
    assert refused == 3


def test_breaker_needs_the_failure_rate_not_just_failures() -> None:
    async def main():
        b = CircuitBreaker("x", Clock(), window=10, min_calls=5, failure_rate=0.5)
        for ok in [True, True, False, True, True, False, True, False, True, True]:
            b.allow()
            b.record(ok)
        return b.state

    assert in_loop(main) == BreakerState.CLOSED


def test_disabled_breaker_never_opens() -> None:
    async def main():
        b = CircuitBreaker("x", Clock(), enabled=False)
        for _ in range(20):
            assert b.allow()
            b.record(False)
        return b.state

    assert in_loop(main) == BreakerState.CLOSED


# -- quorum ------------------------------------------------------------------------------------------
def test_quorum_tally() -> None:
    r = tally({"a": "buy", "b": "buy", "c": "sell"}, 2)
    assert (r.decision, r.agreeing, r.reached, r.split) == ("buy", 2, True, "2-1")
    r = tally({"a": "buy", "b": "sell", "c": "hold"}, 2)
    assert (r.decision, r.reached, r.split) == (None, False, "1-1-1")
    assert tally({"a": "buy"}, 2).reached is False
    assert majority(5) == 3 and majority(4) == 3 and majority(3) == 2
    with pytest.raises(ValueError):
        tally({}, 0)


# -- traffic split and analysis -----------------------------------------------------------------------
@settings(max_examples=100, deadline=None)
@given(st.integers(0, 100), st.integers(100, 400))
def test_smooth_weighted_split_tracks_its_weights(weight, n) -> None:
    split = SmoothWeighted({"green": weight, "blue": 100 - weight})
    picks = [split.next() for _ in range(n)]
    share = 100.0 * picks.count("green") / n
    assert abs(share - weight) <= 100.0 / n + 1e-9


def test_active_hubs_overlap() -> None:
    hubs = ActiveHubs()
    hubs.start("a", 0.0)
    hubs.start("b", 5.0)
    hubs.stop("a", 7.0)
    assert hubs.overlap_s(10.0) == pytest.approx(2.0)
    assert hubs.active() == ["b"]


def test_loop_helper_is_virtual() -> None:
    async def main():
        await asyncio.sleep(100)
        return asyncio.get_running_loop().time()

    assert in_loop(main) == 100.0
