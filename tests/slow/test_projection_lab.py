"""Live versus replay for the lab's long scenarios (the other 23 are in the fast tier)."""

from __future__ import annotations

from pathlib import Path

import pytest
from projection_probe import assert_replay_equals_live
from support import CATALOGUE


@pytest.mark.slow
@pytest.mark.parametrize("scenario_id", [cls.id for cls in CATALOGUE if cls not in CATALOGUE.main()])
def test_the_replay_shows_what_the_live_run_showed_lab(tmp_path: Path, scenario_id: str) -> None:
    assert_replay_equals_live(tmp_path, scenario_id)
