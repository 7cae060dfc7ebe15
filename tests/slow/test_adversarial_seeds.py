"""The adversarial scenario files over seeds 1..2 (seed 0 is the fast tier's).

A fail file must fail for its stated reason on every seed, and a pass file pass on every seed:
a claim that holds for one seed only is luck, not a property of the swarm. Each file is one test
(pytest-xdist spreads them); its seeds run one after another so a failure lists every bad seed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from support import ROOT

SEEDS = range(1, 3)


def _cases_module() -> ModuleType:
    """The fast tier's reader and judge of the files (tests/engine is not importable by name)."""
    path = ROOT / "tests" / "engine" / "test_adversarial.py"
    spec = importlib.util.spec_from_file_location("adversarial_cases", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


adversarial = _cases_module()
# A refused file is refused before any seed matters: the fast tier's run covers it.
SEEDED = [c for c in adversarial.CASES if c.expect != "reject"]


@pytest.mark.slow
@pytest.mark.parametrize("case", SEEDED, ids=lambda c: c.name)
def test_a_file_does_what_it_says_on_seeds_1_to_2(
    case: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    problems = {}
    for seed in SEEDS:
        outcome = adversarial.run_file(case.path, seed, tmp_path / "r.json", capsys)
        found = adversarial.problem(case, outcome)
        if found is not None:
            problems[seed] = found
    assert not problems, f"{case.name}: " + "; ".join(f"seed {s}: {p}" for s, p in problems.items())
