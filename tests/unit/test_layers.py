"""The engine never imports textual: headless runs never pay for the UI. (import-linter holds
the same lines and the rest of the layering statically: see pyproject.toml and .ci/run.)"""

from __future__ import annotations

import subprocess
import sys

HEADLESS = [
    "swarm_tui.engine.runner",
    "swarm_tui.engine.scenario",
    "swarm_tui.engine.projection",
    "swarm_tui.backends",
    "swarm_tui.backends.mock",
    "swarm_tui.backends.local",
    "swarm_tui.backends.e2b",
    "swarm_tui.patterns",
    "swarm_tui.patterns.catalogue",
    "swarm_tui.session.run",
    "swarm_tui.session.live",
    "swarm_tui.session.replay",
    "swarm_tui.session.agent_verdict",
    "swarm_tui.results.export",
    "swarm_tui.results.journal",
    "swarm_tui.results.comparison",
    "swarm_tui.agent.core",
    "swarm_tui.config.scenario_file",
    "swarm_tui.console",
]


def test_engine_does_not_import_textual() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in HEADLESS)
        + "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        + "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"headless modules imported textual: {out.stdout.strip()}"


def test_a_headless_run_does_not_import_textual() -> None:
    code = (
        "import sys\n"
        "from swarm_tui.cli import main\n"
        "try:\n"
        "    main(['run', '--scenario', 'mesh.equal-coordination', '--quiet'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('TEXTUAL' if 'textual' in sys.modules else 'CLEAN')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "CLEAN"


def test_agent_program_uses_the_standard_library_only() -> None:
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import swarm_tui.agent.core, swarm_tui.agent.strategies, swarm_tui.agent.kinds\n"
        "new = sorted(m.split('.')[0] for m in set(sys.modules) - before)\n"
        "third = sorted({m for m in new if m not in sys.stdlib_module_names and m != 'swarm_tui'})\n"
        "print(','.join(third))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_catalogue_loads_by_an_explicit_call_not_on_import() -> None:
    code = (
        "import sys\n"
        "import swarm_tui.patterns\n"
        "print(sorted(m for m in sys.modules if m.startswith('swarm_tui.patterns.')))\n"
        "from swarm_tui.patterns.catalogue import load_catalogue\n"
        "print(len(load_catalogue().ids()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, count = out.stdout.strip().splitlines()
    assert before == "[]", f"importing the package loaded pattern modules: {before}"
    assert int(count) >= 23
