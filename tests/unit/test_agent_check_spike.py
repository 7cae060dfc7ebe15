"""`agent check`'s cpu-spike clause: the bar a burning program must reach follows what a burner of
the checker's own gets on the machine at that moment (a loaded machine gives any burner less)."""

from __future__ import annotations

import asyncio

import pytest

from swarm_tui.session.agent_check import SPIKE_FLOOR, SPIKE_MIN_SHARE, reference_burn, spike_bar


def test_the_bar_is_15_percent_unless_a_burner_gets_less_than_30() -> None:
    assert spike_bar(1.0) == SPIKE_MIN_SHARE == 0.15  # an idle machine: the full bar
    assert spike_bar(0.3) == pytest.approx(0.15)
    assert spike_bar(0.2) == pytest.approx(0.10)  # a busy one: half what a burner got
    assert spike_bar(0.01) == SPIKE_FLOOR == 0.02  # never next to nothing: a program at rest fails
    assert spike_bar(0.0) == SPIKE_FLOOR
    assert spike_bar(None) == SPIKE_MIN_SHARE  # no measure of the machine: the full bar


def test_a_reference_burner_reports_a_share_of_a_cpu() -> None:
    share = asyncio.run(reference_burn(0.3))
    assert share is not None, "the burner printed no share"
    assert 0.0 < share <= 1.0  # a share of one CPU (a busy machine gives it less than a whole one)
