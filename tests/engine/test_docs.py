"""The docs live in the repository and say what the code does.

docs/scenarios.md is generated from the code (`swarm-tui patterns --markdown`); it must be what
the command writes now. `patterns --params ID` prints a scenario file that loads and restates
every default. The README points only at files that exist in the repository.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from support import CATALOGUE, ROOT

from swarm_tui.config.scenario_file import load_scenario_file
from swarm_tui.patterns.describe import catalogue_markdown, scenario_toml
from swarm_tui.session.docs import catalogue_checks


def test_the_scenario_catalogue_in_docs_is_the_one_the_code_writes() -> None:
    written = (ROOT / "docs" / "scenarios.md").read_text()
    fresh = catalogue_markdown(CATALOGUE, catalogue_checks(CATALOGUE))
    assert written == fresh, "docs/scenarios.md is stale: run `swarm-tui patterns --markdown > docs/scenarios.md`"


def test_the_catalogue_names_every_scenario_parameter_and_check() -> None:
    text = (ROOT / "docs" / "scenarios.md").read_text()
    for cls in CATALOGUE:
        assert f"### {cls.id}" in text
        for name in cls.Params.model_fields:
            if name != "agents":
                assert f"`{name}`" in text
        for mechanism in cls.mechanism_help:
            assert f"`{mechanism}`" in text


@pytest.mark.parametrize("scenario_id", CATALOGUE.ids())
def test_params_print_a_scenario_file_that_restates_the_defaults(tmp_path: Path, scenario_id: str) -> None:
    cls = CATALOGUE[scenario_id]
    text = scenario_toml(cls)
    tomllib.loads(text)  # valid TOML
    path = tmp_path / "s.toml"
    path.write_text(text)
    definition = load_scenario_file(path, CATALOGUE)
    scenario = definition.build()
    assert scenario.params == cls().params
    assert [f.model_dump() for f in scenario.fault_entries] == [f.model_dump() for f in cls().fault_entries]
    assert scenario.mechanisms == cls().mechanisms


def test_the_readme_points_only_at_files_in_the_repository() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "../" not in readme, "the README points outside the repository"
    targets = re.findall(r"\]\(([^)#\s]+)", readme)
    local = [t for t in targets if not t.startswith(("http://", "https://", "mailto:"))]
    assert local, "no links found: the pattern is wrong"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"the README links to files that do not exist: {missing}"
