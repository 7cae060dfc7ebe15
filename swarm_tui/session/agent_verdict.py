"""The verdict of ``swarm-tui agent check``: the suite's report, how each fault would be done
to the program, and the scenarios of the catalogue it can run; and the same from a program's
claims alone (``swarm-tui patterns --agent-command``)."""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from swarm_tui.engine.messages import HELLO_DEADLINE_S
from swarm_tui.engine.sandbox import AgentProgram
from swarm_tui.session.agent_check import FAIL, PASS, SKIP, Report, check_config, run_check
from swarm_tui.session.agent_fit import Fit, answered, fault_methods, fit
from swarm_tui.session.agent_process import AgentProcess
from swarm_tui.session.requirements import cached as requirements_cached
from swarm_tui.session.requirements import parse as parse_requirements
from swarm_tui.session.requirements import requirements


# -- the whole command --------------------------------------------------------------------------------
@dataclass
class Verdict:
    """The report, how each fault would be done to the program, and the scenarios it can run."""

    report: Report
    backend: str
    methods: dict[str, str]
    fits: list[Fit]

    @property
    def exit_code(self) -> int:
        return 0 if self.report.passed else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.report.command,
            "passed": self.report.passed,
            "counts": self.report.counts(),
            "seconds": round(self.report.seconds, 3),
            "hello": self.report.hello,
            "clauses": [c.to_dict() for c in self.report.clauses],
            "backend": self.backend,
            "faults": self.methods,
            "scenarios": [f.to_dict() for f in self.fits],
        }

    def lines(self) -> list[str]:
        """The report as text: one line per clause, the faults, the scenarios, a summary."""
        out = [f"agent check: {shlex.join(self.report.command)}"]
        out += [f"  {c.status:<4}  {c.name}" + (f": {c.detail}" if c.detail else "") for c in self.report.clauses]
        out.append(f"faults on {self.backend}:")
        out += [f"  {kind:<12} {how}" for kind, how in self.methods.items()]
        runnable = [f for f in self.fits if f.runnable]
        out.append(f"scenarios of the catalogue it can run: {len(runnable)} of {len(self.fits)}")
        for f in self.fits:
            if f.runnable:
                outside = f" (from outside: {', '.join(f.outside)})" if f.outside else ""
                out.append(f"  can run     {f.scenario}{outside}")
            else:
                out.append(f"  cannot run  {f.scenario}: needs {', '.join(f.missing)}")
        counts = self.report.counts()
        out.append(
            f"{'passed' if self.report.passed else 'FAILED'}: {counts[PASS]} passed, {counts[FAIL]} failed, "
            f"{counts[SKIP]} skipped (not claimed) in {self.report.seconds:.1f} s"
        )
        return out


def check_agent(program: AgentProgram, backend: str = "local") -> Verdict:
    """The suite, then the faults and scenarios of the catalogue for what the program proved it does.

    The scenarios' requirements are measured (in a process of their own, while the suite runs)
    unless this code's are in the cache."""
    needs = requirements_cached()
    measuring = None
    if needs is None:
        measuring = subprocess.Popen(
            [sys.executable, "-m", "swarm_tui.session.requirements"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        report = run_check(program)
        if measuring is not None:
            out, _ = measuring.communicate(timeout=120)
            needs = parse_requirements(out.decode()) if measuring.returncode == 0 else requirements()
    finally:
        if measuring is not None and measuring.poll() is None:
            measuring.kill()
            measuring.wait()
    assert needs is not None
    obeyed = frozenset(report.faults)
    methods = fault_methods(backend, obeyed)
    ops = answered(report.ops, ()) | {op for op in report.ops if op.startswith("signal:")}
    fits = fit(needs, ops if report.hello is not None else set(), methods)
    return Verdict(report, backend, methods, fits)


async def read_hello(program: AgentProgram, timeout: float = HELLO_DEADLINE_S) -> tuple[dict[str, Any] | None, str]:
    """Start the program only for its hello (its claims); (hello, why not)."""
    proc = AgentProcess(program, check_config())
    try:
        await proc.start()
        line = await proc.wait_for(lambda m: True, timeout, stop_on_violation=True)
        if line is not None and line.msg["type"] == "hello":
            return line.msg, ""
        if proc.violations:
            return None, proc.violations[0]
        if proc.exit_code is not None:
            return None, f"exited with code {proc.exit_code} before its hello"
        return None, f"no hello within {timeout:g} s"
    finally:
        await proc.kill()


def claimed_fit(program: AgentProgram, backend: str = "local") -> tuple[dict[str, Any], dict[str, str], list[Fit]]:
    """What a program claims in its hello (unchecked: ``agent check`` checks it), how each fault
    would be done to it on ``backend``, and the scenarios it claims to be able to run.

    Raises OSError (it cannot start) or ValueError (no hello: the reason)."""
    hello, why = asyncio.run(read_hello(program))
    if hello is None:
        raise ValueError(why)
    ops = answered([str(o) for o in hello.get("ops") or []], [str(s) for s in hello.get("strategies") or []])
    methods = fault_methods(backend, frozenset(str(f) for f in hello.get("faults") or []))
    return hello, methods, fit(requirements(), ops, methods)
