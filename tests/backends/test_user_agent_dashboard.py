"""The dashboard runs a user's agent program on a real backend and names it in the agents table
(the command line's `--agent-command` reaches it through the run session's backend options)."""

from __future__ import annotations

import contextlib
import sys

from support import ROOT
from textual.widgets.data_table import CellDoesNotExist, ColumnDoesNotExist, RowDoesNotExist
from ui_helpers import app_for, wait_for

from swarm_tui.engine.sandbox import AgentProgram
from swarm_tui.ui.table import AgentsTable

PROGRAM = AgentProgram(command=(sys.executable, str(ROOT / "examples" / "agents" / "python" / "agent.py")))


async def test_the_agents_table_names_the_program_each_agent_runs() -> None:
    app = app_for("mesh.equal-coordination", pause_at=None, backend="local", backend_options={"agent_program": PROGRAM})
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(
            pilot,
            lambda: (
                app.snapshot is not None
                and len(app.snapshot.agents) == 5
                and all(a.state == "healthy" for a in app.snapshot.agents)
            ),
            timeout=60,
        )
        assert {a.program for a in app.snapshot.agents} == {"python agent.py"}
        table = app.query_one(AgentsTable)

        def versions() -> set[str]:
            try:
                return {str(table.get_cell(a.id, "version")) for a in app.snapshot.agents}
            except (CellDoesNotExist, RowDoesNotExist, ColumnDoesNotExist):  # not drawn yet (its own timer)
                return set()

        with contextlib.suppress(AssertionError):  # judged below, with what it shows
            await wait_for(pilot, lambda: versions() == {"v1 · python agent.py"}, timeout=10)
        assert versions() == {"v1 · python agent.py"}
