"""Users' agents over the catalogue (slow: minutes of wall time).

* the scenarios of the catalogue that the Python example claims it can run pass with it as every
  agent's program, on local (as ``swarm-tui run --agent-command``): a subset here (the example's
  own leak; faults done from outside are in tests/backends/test_user_programs.py),
  all 20 by hand (about 9 minutes)::

      SWARM_TUI_REAL_ALL=1 .venv/bin/python -m pytest -n 0 tests/slow/test_user_agents_catalogue.py

* the v2-against-v1 canaries (the fast tier runs the regression on local): the regression aborts
  on e2b (the loopback fake), the sound v2 is promoted on e2b and on local;
* the Node.js example on the scenarios whose faults are all done to it from outside.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import time

import pytest
from support import CATALOGUE, ROOT, failed_checks

from swarm_tui.engine.runner import run_one
from swarm_tui.engine.sandbox import AgentProgram, create_backend
from swarm_tui.session.agent_verdict import claimed_fit
from swarm_tui.session.run import select_scenarios

pytestmark = pytest.mark.slow
# mesh.failover is left to the by-hand run: its outage bound (decisions answered within 1.5 s
# during the crash) was missed once in three CI runs when four workers shared the two cores.
SUBSET = [
    "chaos.memory-leak",  # the example's own leak
]
CHOSEN = [c.id for c in CATALOGUE.main()] if os.environ.get("SWARM_TUI_REAL_ALL") else SUBSET
EXAMPLES = ROOT / "examples"
PYTHON = AgentProgram(command=(sys.executable, str(EXAMPLES / "agents" / "python" / "agent.py")))
NODE = AgentProgram(command=("node", "agent.js"), workdir=str(EXAMPLES / "agents" / "node"))


@functools.cache
def python_fits() -> dict[str, tuple[str, ...]]:
    _hello, _methods, fits = claimed_fit(PYTHON, "local")
    return {f.scenario: f.missing for f in fits}


def passes_with(program: AgentProgram, scenario_id: str, backend: str = "local") -> None:
    started = time.perf_counter()
    result = run_one(CATALOGUE[scenario_id](), create_backend(backend, agent_program=program), seed=0, run_id="mine")
    assert result.status == "passed", result.error or failed_checks(result)
    assert time.perf_counter() - started < 120


@pytest.mark.parametrize("scenario_id", CHOSEN)
def test_every_scenario_the_python_example_claims_passes_on_local(scenario_id: str) -> None:
    missing = python_fits()[scenario_id]
    if missing:
        pytest.skip(f"the Python example does not claim {', '.join(missing)}")
    passes_with(PYTHON, scenario_id)


def test_the_python_example_claims_most_of_the_catalogue() -> None:
    runnable = [s for s, missing in python_fits().items() if not missing]
    assert len(runnable) == 20


def test_the_v2_regression_canary_aborts_on_e2b(e2b_fake) -> None:
    (scenario,), _ = select_scenarios([], [], [str(EXAMPLES / "scenarios" / "canary-user-v2-regression.toml")])
    result = run_one(scenario, create_backend("e2b"), seed=0, run_id="canary-e2b")
    assert result.status == "passed", result.error or failed_checks(result)


def test_the_sound_v2_canary_is_promoted_on_e2b(e2b_fake) -> None:
    (scenario,), _ = select_scenarios([], [], [str(EXAMPLES / "scenarios" / "canary-user-v2-sound.toml")])
    result = run_one(scenario, create_backend("e2b"), seed=0, run_id="canary-e2b")
    assert result.status == "passed", result.error or failed_checks(result)
    assert result.metrics["programs"] == {"python3 agent.py v1": 5, "python3 agent_v2.py v2": 6}
    # Each agent ran in a sandbox of its own, the program uploaded into it.
    box = next(iter(e2b_fake.sandboxes.values()))
    assert (box.host_path("/home/user/agent/agent_v2.py")).is_file()
    assert (box.host_path("/home/user/swarm/lib/swarm_tui/agent/sdk.py")).is_file()


def test_the_sound_v2_canary_is_promoted_on_local() -> None:
    (scenario,), _ = select_scenarios([], [], [str(EXAMPLES / "scenarios" / "canary-user-v2-sound.toml")])
    result = run_one(scenario, create_backend("local"), seed=0, run_id="canary-local")
    assert result.status == "passed", result.error or failed_checks(result)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: the Node.js example cannot run here")
# The faults that need nothing from the agent are the Python example's test above; here the two
# done to a process from outside (a freeze, a leak beside it), as the Node example claims none.
@pytest.mark.parametrize("scenario_id", ["chaos.memory-leak", "chaos.cpu-spike"])
def test_the_node_example_with_every_fault_from_outside(scenario_id: str) -> None:
    passes_with(NODE, scenario_id)
