"""Users' agent programs, wherever they run: how one is started (its environment, a check that
its command exists, death with the engine) and what is uploaded with it.

A program (:class:`~swarm_tui.engine.sandbox.AgentProgram`) gets its configuration in
``$SWARM_AGENT_CONFIG``, the run's marker in ``$SWARM_TUI_AGENT`` (its command line is its own,
so ``swarm-tui cleanup`` looks there), and the Python helper module ``swarm_tui.agent.sdk`` on
``PYTHONPATH``.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from swarm_tui.engine.messages import CONFIG_VARIABLE
from swarm_tui.engine.sandbox import AgentProgram, BackendError

MARKER = "swarm-tui-agent"  # on every agent's command line (or in its environment), so `swarm-tui cleanup` finds strays
MARKER_VARIABLE = "SWARM_TUI_AGENT"  # a user's program carries the marker here (its command line is its own)
# The parent of swarm_tui/: put on PYTHONPATH so a user's Python agent can import the helper
# module (swarm_tui.agent.sdk) whatever interpreter runs it.
PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent.parent)
# What is not uploaded of a workdir, and how much is (e2b).
SKIPPED_DIRS = frozenset({".git", "__pycache__", ".venv", "venv", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
MAX_UPLOAD_FILES = 2000
MAX_UPLOAD_BYTES = 50 << 20


def program_environment(program: AgentProgram, config: dict[str, Any], run_id: str) -> dict[str, str]:
    """The environment a user's program starts with: ours, its own ``env``, its configuration,
    the marker that finds it if it is left behind, and the helper module on PYTHONPATH."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = PACKAGE_PARENT + (os.pathsep + path if path else "")
    env.update(program.environment)
    env[CONFIG_VARIABLE] = json.dumps(config, separators=(",", ":"))
    env[MARKER_VARIABLE] = f"{MARKER}:{run_id}"
    return env


def resolve_command(program: AgentProgram, cwd: str | None = None) -> str | None:
    """Why the program's command cannot run here (no such program, not executable), or None."""
    workdir = program.workdir or cwd or os.getcwd()
    if not os.path.isdir(workdir):
        return f"agent program workdir {workdir!r} is not a folder"
    first = program.command[0]
    if "/" in first:
        path = first if os.path.isabs(first) else os.path.join(workdir, first)
        if not os.path.isfile(path):
            return f"agent command {first!r}: no such file (in {workdir})"
        if not os.access(path, os.X_OK):
            return f"agent command {first!r}: not executable"
        return None
    if shutil.which(first) is None:
        return f"agent command {first!r}: no such program on PATH"
    return None


def _pdeathsig() -> Any:
    """A function for ``preexec_fn``: the kernel kills the child when its parent dies (Linux).

    The C function is looked up here, before any fork: after fork only the call itself runs."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_pdeathsig() -> None:
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

    return set_pdeathsig


PDEATHSIG = _pdeathsig()


def helper_module_sources() -> dict[str, str]:
    """The helper module as files to upload (relative path -> text): ``swarm_tui.agent.sdk``, alone."""
    package = resources.files("swarm_tui.agent")
    return {
        "swarm_tui/__init__.py": '"""The agent helper of swarm-tui (only the helper is here)."""\n',
        "swarm_tui/agent/__init__.py": '"""The agent helper: swarm_tui.agent.sdk."""\n',
        "swarm_tui/agent/sdk.py": package.joinpath("sdk.py").read_text(encoding="utf-8"),
    }


def read_workdir(workdir: str) -> dict[str, bytes]:
    """The files of a workdir to upload (relative path -> bytes), caches and VCS folders left out.

    Raises BackendError (one line) when it is not a folder or too big to upload."""
    root = Path(workdir)
    if not root.is_dir():
        raise BackendError(f"agent program workdir {workdir!r} is not a folder")
    files: dict[str, bytes] = {}
    size = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if not path.is_file():
                continue
            data = path.read_bytes()
            size += len(data)
            files[path.relative_to(root).as_posix()] = data
            if len(files) > MAX_UPLOAD_FILES or size > MAX_UPLOAD_BYTES:
                raise BackendError(
                    f"e2b backend: agent program workdir {workdir!r} is too big to upload "
                    f"(more than {MAX_UPLOAD_FILES} files or {MAX_UPLOAD_BYTES >> 20} MB): give a smaller workdir"
                )
    return files
