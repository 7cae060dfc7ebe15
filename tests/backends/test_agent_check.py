"""`swarm-tui agent check`: the built-in agent and both examples pass; each clause fails, with its
reason, on a program that breaks its rule; bad usage is exit 2; nothing is left running."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import ROOT, cli_env

from swarm_tui.engine.sandbox import AgentProgram
from swarm_tui.session.agent_verdict import check_agent

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed: the Node.js example cannot run here")
PYTHON_EXAMPLE = ROOT / "examples" / "agents" / "python" / "agent.py"
NODE_EXAMPLE = ROOT / "examples" / "agents" / "node" / "agent.js"


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swarm_tui", *args],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=timeout,
        cwd=ROOT,
    )


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in report["clauses"]}


def check_json(*command: str) -> tuple[int, dict[str, Any]]:
    out = cli("agent", "check", "--json", "--", *command)
    assert out.stderr == "" or out.returncode == 2, out.stderr
    return out.returncode, json.loads(out.stdout)


def test_the_built_in_agent_passes_every_clause() -> None:
    code, report = check_json(sys.executable, "-m", "swarm_tui.agent")
    assert code == 0 and report["passed"], [c for c in report["clauses"] if c["status"] != "pass"]
    assert report["counts"] == {"pass": len(report["clauses"]), "fail": 0, "skip": 0}
    assert report["hello"]["program"] == "built-in"
    assert all(s["runnable"] for s in report["scenarios"]) and len(report["scenarios"]) == 23
    assert all(how.startswith(("by the agent", "the sandbox", "in the router")) for how in report["faults"].values())


def test_the_python_example_passes_and_says_what_it_cannot_run() -> None:
    code, report = check_json("python3", str(PYTHON_EXAMPLE))
    assert code == 0, [c for c in report["clauses"] if c["status"] == "fail"]
    seen = statuses(report)
    assert seen["op signal momentum"] == "pass" and seen["op signal pairs"] == "skip"
    assert seen["fault cpu-spike obeyed"] == "pass" and seen["fault memory-leak obeyed"] == "pass"
    assert seen["fault error-rate obeyed"] == "skip"
    assert report["faults"]["error-rate"].startswith("from outside")
    cannot = {s["id"]: s["missing"] for s in report["scenarios"] if not s["runnable"]}
    assert cannot == {
        "multi-strategy.mix": ["signal:arbitrage", "signal:pairs"],
        "multi-strategy.rotation": ["allocate", "signal:arbitrage", "signal:pairs"],
        "star.hub-specialists": ["performance", "signal:arbitrage", "signal:pairs"],
    }


@needs_node
def test_the_node_example_passes() -> None:
    out = cli("agent", "check", "--", "node", str(NODE_EXAMPLE.relative_to(ROOT)))
    assert out.returncode == 0, out.stdout
    lines = out.stdout.splitlines()
    assert lines[0] == "agent check: node examples/agents/node/agent.js"
    assert any(line.startswith("  pass  hello within 10 s: example-node/1.0") for line in lines)
    assert any(line.startswith("  skip  fault cpu-spike obeyed: not claimed") for line in lines)
    assert any(line.startswith("  cpu-spike    from outside: frozen (SIGSTOP)") for line in lines)
    assert lines[-1].startswith("passed: ")


# -- programs that break a rule --------------------------------------------------------------------------
AGENT_BASE = """
import os, sys, time
from swarm_tui.agent import sdk

class Agent(sdk.Agent):
    program = "broken/1"
    strategies = ("momentum",)
    faults = FAULTS

    def op_echo(self, data):
        return data

    def op_work(self, data):
        return WORK

    def op_signal(self, data):
        return {"action": "buy", "strength": 0.5}

BODY

sys.exit(sdk.main(Agent))
"""


def broken(tmp_path: Path, body: str = "", faults: str = "()", work: str = '{"var95": 0.1, "n": 3}') -> list[str]:
    path = tmp_path / "broken.py"
    path.write_text(AGENT_BASE.replace("FAULTS", faults).replace("WORK", work).replace("BODY", body), "utf-8")
    return [sys.executable, str(path)]


def run(command: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    verdict = check_agent(AgentProgram(command=tuple(command)))
    details = {c.name: c.detail for c in verdict.report.clauses}
    return {c.name: c.status for c in verdict.report.clauses}, details


def test_a_wrong_answer_fails_its_operation_with_the_reason(tmp_path: Path) -> None:
    seen, why = run(broken(tmp_path, work='{"var95": "high", "n": 3}'))
    assert seen["op work"] == "fail" and why["op work"] == "work.value.var95 must be a number, got a string"
    assert seen["op echo"] == "pass" and seen["op signal momentum"] == "pass" and seen["op vote"] == "skip"


def test_a_claimed_fault_that_is_not_obeyed_fails(tmp_path: Path) -> None:
    body = """
    def handle_fault(self, msg):
        pass  # claims them, does nothing
Agent.handle_fault = handle_fault
""".replace("\n    ", "\n")
    seen, why = run(broken(tmp_path, body, faults='("error-rate", "slow", "memory-leak", "crash", "cpu-spike")'))
    assert seen["fault error-rate obeyed"] == "fail" and "0 of 5 answers were errors" in why["fault error-rate obeyed"]
    assert seen["fault slow obeyed"] == "fail" and seen["fault memory-leak obeyed"] == "fail"
    assert seen["fault crash obeyed"] == "fail" and "still running" in why["fault crash obeyed"]
    assert seen["fault cpu-spike obeyed"] == "fail" and "a burner beside it" in why["fault cpu-spike obeyed"]
    assert seen["fault byzantine obeyed"] == "skip"


def test_a_slow_fault_obeyed_only_once_fails(tmp_path: Path) -> None:
    # One slowed window can come from a busy machine alone: every round must be slower.
    body = """
    slowed = []
    def handle_fault(self, msg):
        if msg.get("fault") == "slow":
            if slowed:
                return  # the second slow command and later ones are ignored
            slowed.append(msg)
        sdk.Agent.handle_fault(self, msg)
    Agent.handle_fault = handle_fault
    """.replace("\n    ", "\n")
    seen, why = run(broken(tmp_path, body, faults='("slow",)'))
    assert seen["fault slow obeyed"] == "fail", why["fault slow obeyed"]
    assert why["fault slow obeyed"].startswith("answers not twice as slow at factor 4 (median ms ")
    assert why["fault slow obeyed"].count("->") == 2  # the first round passed, the second did not


def test_malformed_input_that_kills_the_program_fails(tmp_path: Path) -> None:
    body = """
def handle_line(self, raw):
    import json
    json.loads(raw)  # a crash on the first line it cannot read
    sdk.Agent.handle_line(self, raw)
Agent.handle_line = handle_line
"""
    seen, why = run(broken(tmp_path, body))
    assert seen["malformed input answered with error lines, not a crash"] == "fail"
    assert "exited with code 1" in why["malformed input answered with error lines, not a crash"]


def test_a_program_that_ignores_eof_and_beats_slowly_fails_those_clauses(tmp_path: Path) -> None:
    body = """
def run(self):
    self.heartbeat_s *= 2  # beats at twice the interval it was given
    self.emit(self.hello())
    import threading
    threading.Thread(target=self._heartbeats, daemon=True).start()
    for raw in iter(sys.stdin.buffer.readline, b""):
        self.handle_line(raw)
    time.sleep(30)  # and does not leave when its stdin closes
Agent.run = run
"""
    seen, why = run(broken(tmp_path, body))
    beats = next(name for name in seen if name.startswith("heartbeats"))
    # Beats every 0.4 s against 0.2 s asked (a CI machine under load measured a median of 0.395 s).
    median = re.search(r"median gap ([0-9.]+) s", why[beats])
    assert seen[beats] == "fail" and median is not None and 0.35 < float(median.group(1)) < 0.5, why[beats]
    assert seen["stdin closed: exits within 2 s"] == "fail"


def test_garbage_before_the_hello_and_an_early_exit_fail_the_hello(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.py"
    garbage.write_text("import sys, time\nprint('ready!', flush=True)\ntime.sleep(30)\n", "utf-8")
    seen, why = run([sys.executable, str(garbage)])
    assert seen["hello within 10 s"] == "fail" and "is not JSON: 'ready!'" in why["hello within 10 s"]
    assert seen["the rest of the suite"] == "skip"
    exits = tmp_path / "exits.py"
    exits.write_text("import sys\nsys.exit('no module named trading')\n", "utf-8")
    seen, why = run([sys.executable, str(exits)])
    assert why["hello within 10 s"] == "exited with code 1 before its hello: no module named trading"


def test_bad_usage_is_exit_2_and_a_failing_program_exit_1(tmp_path: Path) -> None:
    for args in (("agent", "check"), ("agent", "check", "--", "no-such-agent-program"), ("agent", "check", "--")):
        out = cli(*args)
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
    exits = tmp_path / "exits.py"
    exits.write_text("raise SystemExit(3)\n", "utf-8")
    out = cli("agent", "check", "--", sys.executable, str(exits))
    assert out.returncode == 1 and "  fail  hello within 10 s: exited with code 3 before its hello" in out.stdout


def test_nothing_of_the_programs_under_test_is_left(tmp_path: Path) -> None:
    import psutil

    marker = tmp_path / "left.py"
    marker.write_text(
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', 'left-behind-child'])\n"
        "time.sleep(0.5)\n"
        "print('not a hello', flush=True)\n"  # the check fails at once, and kills it and its child
        "time.sleep(60)\n",
        "utf-8",
    )
    run([sys.executable, str(marker)])
    left = [p for p in psutil.process_iter(["cmdline"]) if "left-behind-child" in (p.info["cmdline"] or [])]
    assert left == []


def test_patterns_says_what_a_program_claims() -> None:
    out = cli("patterns", "--agent-command", f"python3 {PYTHON_EXAMPLE}", "--backend", "e2b")
    assert out.returncode == 0, out.stderr
    assert "example-python/1.0: what it claims" in out.stdout
    assert "  error-rate   from outside: the backend changes its answers on their way" in out.stdout
    assert "  cannot run  multi-strategy.mix: needs signal:arbitrage, signal:pairs" in out.stdout
    assert cli("patterns", "--agent-command", "no-such-program").returncode == 2
