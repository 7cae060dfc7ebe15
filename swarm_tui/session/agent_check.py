"""``swarm-tui agent check -- CMD [ARG ...]``: a program against the agent protocol, version 1.

The conformance suite (docs/agent-protocol.md, "Conformance"): one clause per rule, each
passed, failed with the reason, or skipped because the program does not claim what it tests.

* a hello within the deadline, of the right shape, naming its configuration and a protocol
  version the engine offered;
* heartbeats at the interval it was given (the median gap within 25 %, none over 1.75 intervals;
  a busy machine's own scheduling delay, measured by the checker, is added to that bound, up to
  1.9 intervals, so a gap of two intervals, where the engine's detector fires, always fails);
* a ping answered with a pong of its id; a tick taken without an answer;
* each operation (and strategy) it claims answered with a value of the right shape, an unknown
  operation with an error result;
* malformed input answered with error lines, and the program still answering after it;
* each fault command it claims obeyed (error-rate, slow, byzantine, cpu-spike, memory-leak, crash);
* every line it wrote a protocol message; stdin closed: exit within 2 s.

Three runs of the program go on at once (the main one; one that is leaked to death; one that is
crashed), so the whole suite takes about two seconds for a quick program.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from swarm_tui.agent.kinds import CAPABILITIES
from swarm_tui.backends.programs import PDEATHSIG
from swarm_tui.engine.market import MarketSimulator
from swarm_tui.engine.messages import (
    EOF_EXIT_S,
    HEARTBEAT_MAX_GAP,
    HEARTBEAT_MAX_GAP_BUSY,
    HEARTBEAT_TOLERANCE,
    HELLO_DEADLINE_S,
    OPERATIONS,
    STRATEGIES,
    SUPPORTED_VERSIONS,
)
from swarm_tui.engine.protocol import check_value
from swarm_tui.engine.sandbox import AgentProgram
from swarm_tui.session.agent_process import AgentProcess

HEARTBEAT_S = 0.2  # the interval the program is given
MIN_GAPS = 8  # heartbeat gaps measured at least
OOM_EXIT = 137
SPIKE_MIN_SHARE = 0.15  # a cpu-spike: the agent uses at least this much of a CPU ...
SPIKE_OF_REFERENCE = 0.5  # ... or, on a machine too busy to give a burner 30 %, half its share,
SPIKE_FLOOR = 0.02  # never less than this ...
SPIKE_OVER_REST = 5.0  # ... and this many times what it uses at rest
SPIKE_WINDOW_S = 0.6  # how long the burning is measured
SLOW_ROUNDS = 3  # a slow fault: answers at least twice as slow as just before, in every round
PASS, FAIL, SKIP = "pass", "fail", "skip"
LAG_PROBE_S = 0.02  # how often the checker's own loop is timed


class LoopLag:
    """How late this process's event loop wakes up: a busy machine delays every process alike,
    the checker reading heartbeats as much as the program writing them. A task sleeps
    ``LAG_PROBE_S`` over and over and keeps the longest overshoot."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._probe())

    async def _probe(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(LAG_PROBE_S)
            self.worst = max(self.worst, time.monotonic() - before - LAG_PROBE_S)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def max_gap(lag: float) -> float:
    """The longest heartbeat gap allowed when the machine delayed the checker by ``lag`` seconds:
    1.75 intervals plus that delay, at most 1.9 intervals (the engine's detector fires at 2)."""
    return HEARTBEAT_S * min(HEARTBEAT_MAX_GAP + max(lag, 0.0) / HEARTBEAT_S, HEARTBEAT_MAX_GAP_BUSY)


def spike_bar(burner: float | None) -> float:
    """The least share of a CPU a program obeying cpu-spike must use, given what a burner of our
    own got over the same window: 15 % of a CPU, less only where the machine is too busy to give
    a burner 30 % (then half the burner's share), never under 2 %; the full bar if the burner
    could not be measured (None)."""
    if burner is None:
        return SPIKE_MIN_SHARE
    return max(SPIKE_FLOOR, min(SPIKE_MIN_SHARE, SPIKE_OF_REFERENCE * burner))


async def reference_burn(seconds: float) -> float | None:
    """The share of a CPU that a process burning one gets on this machine now, measured by a
    process started like a program under test (its own session: where the kernel groups
    sessions for scheduling, the program gets a group's share, and so does this one). None if
    it could not be measured (the clause then holds the program to the full bar)."""
    code = (
        "import time\n"
        "t, c = time.monotonic(), time.process_time()\n"
        f"while time.monotonic() - t < {seconds!r}: pass\n"
        "print((time.process_time() - c) / (time.monotonic() - t))\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=PDEATHSIG,
    )
    try:
        out, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    try:
        return max(0.0, min(1.0, float(out)))
    except ValueError:
        return None


@dataclass
class Clause:
    """One rule of the protocol and how the program did."""

    name: str
    status: str
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


@dataclass
class Report:
    """The whole check: the program's hello, every clause, what it answers and performs."""

    command: list[str]
    hello: dict[str, Any] | None = None
    clauses: list[Clause] = field(default_factory=list)
    ops: set[str] = field(default_factory=set)  # operations (signal:<strategy>) answered right
    faults: set[str] = field(default_factory=set)  # fault commands claimed and obeyed
    seconds: float = 0.0

    def add(self, name: str, status: str, detail: str = "") -> None:
        self.clauses.append(Clause(name, status, detail))

    @property
    def passed(self) -> bool:
        return bool(self.clauses) and all(c.status != FAIL for c in self.clauses)

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for c in self.clauses if c.status == s) for s in (PASS, FAIL, SKIP)}


def check_config(agent_id: str = "check-1") -> dict[str, Any]:
    """The configuration the program under test starts with: every capability, a quick heartbeat."""
    caps = sorted({c for kind_caps in CAPABILITIES.values() for c in kind_caps})
    return {
        "agent_id": agent_id,
        "kind": "momentum",
        "strategy": "momentum",
        "symbols": ["SPY"],
        "version": "v1",
        "capabilities": caps,
        "heartbeat_s": HEARTBEAT_S,
        "memory_limit_mb": 512.0,
        "params": {},
        "defect": {},
        "seed": 0,
        "protocols": list(SUPPORTED_VERSIONS),
        "run_id": "agent-check",
    }


def sample_data() -> dict[str, dict[str, Any]]:
    """A task's data for each operation (and each strategy of signal), from the market simulator."""
    market = MarketSimulator(seed=0)
    market.warm_up(40)
    spy, qqq = market.window("SPY", 40), market.window("QQQ", 40)
    out: dict[str, dict[str, Any]] = {
        f"signal:{s}": {"strategy": s, "symbol": "SPY", "prices": spy}
        for s in ("momentum", "mean_reversion", "forecast")
    }
    out["signal:pairs"] = {"strategy": "pairs", "symbol_a": "SPY", "symbol_b": "QQQ", "prices_a": spy, "prices_b": qqq}
    out["signal:arbitrage"] = {"strategy": "arbitrage", "symbol": "SPY", "price_a": spy[-1], "price_b": spy[-1] * 1.002}
    out.update(
        {
            "vote": {"prices": spy, "symbol": "SPY"},
            "risk_check": {
                "order": {"symbol": "SPY", "side": "buy", "qty": 10.0, "price": spy[-1]},
                "positions": {"SPY": 0.0, "__exposure__": 0.0},
                "limits": {"max_position": 100.0, "max_order_notional": 1e6, "max_exposure": 1e7},
            },
            "fill": {"side": "buy", "qty": 10.0, "price": spy[-1]},
            "allocate": {"scores": {"momentum": 1.2, "pairs": 0.4, "arbitrage": -0.1}, "floor": 0.1},
            "performance": {"returns": [0.01, -0.02, 0.015, 0.003, -0.004]},
            "collect": {"symbol": "SPY", "price": spy[-1], "t": 1},
            "work": {"prices": spy},
            "forward": {"to": "agent-2"},
            "echo": {"n": 7, "nested": [1, {"x": "y"}]},
        }
    )
    return out


def _names(op: str) -> tuple[str, dict[str, Any]]:
    """``signal:momentum`` -> (``signal``, data); others -> (op, data)."""
    return op.split(":", 1)[0], SAMPLES[op]


SAMPLES = sample_data()
MALFORMED = (b"this is not JSON\n", b"[1, 2, 3]\n", b'{"type": 7}\n', b'{"type": "no-such-message"}\n')


class AgentCheck:
    """The suite, on one program."""

    def __init__(self, program: AgentProgram) -> None:
        self.program = program
        self.report = Report(list(program.command))
        self.lag = LoopLag()

    def _process(self, agent_id: str) -> AgentProcess:
        return AgentProcess(self.program, check_config(agent_id))

    async def run(self) -> Report:
        """Every clause; the programs under test are killed whatever happens."""
        started = time.monotonic()
        main, leak, crash = self._process("check-1"), self._process("check-2"), self._process("check-3")
        self.lag.start()
        try:
            for proc in (main, leak, crash):
                await proc.start()
            hello = await self._hello(main)
            if hello is None:
                return self.report
            claims = {str(f) for f in hello.get("faults") or []}
            lone = await asyncio.gather(
                self._lone_fault(leak, "memory-leak", claims, self._leak),
                self._lone_fault(crash, "crash", claims, self._crash),
            )
            await self._main(main, hello)
            self._lone_reports(lone)
            self._discipline(main, leak, crash)
            await self._eof(main)
        finally:
            await asyncio.gather(*(p.kill() for p in (main, leak, crash)), return_exceptions=True)
            await self.lag.stop()
            self.report.seconds = time.monotonic() - started
        return self.report

    # -- hello -----------------------------------------------------------------------------------------
    async def _hello(self, proc: AgentProcess) -> dict[str, Any] | None:
        name = f"hello within {HELLO_DEADLINE_S:g} s"
        first = await proc.wait_for(lambda m: True, HELLO_DEADLINE_S, stop_on_violation=True)
        if first is None:
            if proc.exit_code is not None:
                words = proc.last_words()
                why = f"exited with code {proc.exit_code} before its hello" + (f": {words}" if words else "")
            elif proc.violations:
                why = f"its first line broke the protocol: {proc.violations[0]}"
            else:
                why = f"no hello within {HELLO_DEADLINE_S:g} s"
            self.report.add(name, FAIL, why)
            self.report.add("the rest of the suite", SKIP, "nothing more can be checked without a hello")
            return None
        hello = first.msg
        if hello["type"] != "hello":
            self.report.add(name, FAIL, f"its first message is a {hello['type']}, not a hello")
            return None
        config = proc.config
        for key, want in (("agent", config["agent_id"]), ("kind", config["kind"]), ("version", config["version"])):
            if hello.get(key) != want:
                self.report.add(name, FAIL, f"hello.{key} is {hello.get(key)!r}, its configuration says {want!r}")
                return None
        self.report.hello = hello
        ops = hello.get("ops")
        parts = [
            str(hello.get("program") or "a program that does not name itself"),
            f"protocol {hello['protocol']}",
            f"{len(ops)} operations" if isinstance(ops, list) else "no operations claimed",
            f"faults: {', '.join(hello.get('faults') or []) or 'none'}",
            f"in {first.t - proc.started:.2f} s",
        ]
        self.report.add(name, PASS, ", ".join(parts))
        return hello

    # -- the main run ----------------------------------------------------------------------------------
    async def _main(self, proc: AgentProcess, hello: dict[str, Any]) -> None:
        pong, took = await proc.answer({"type": "ping"}, 2.0)
        name = "a ping answered with a pong of its id"
        self.report.add(name, PASS if pong is not None else FAIL, f"in {took * 1000:.1f} ms" if pong else "no pong")
        await self._tick(proc)
        await self._operations(proc, hello)
        await self._malformed(proc)
        await self._answer_faults(proc, hello)
        await self._cpu_spike(proc, hello)
        await self._heartbeats(proc)

    async def _tick(self, proc: AgentProcess) -> None:
        since = len(proc.lines)
        proc.send({"type": "tick", "t": 1.0, "prices": {"SPY": SAMPLES["work"]["prices"][-1], "QQQ": 380.0}})
        pong, _ = await proc.answer({"type": "ping"}, 2.0)
        answered = [line.msg for line in proc.lines[since:] if line.msg["type"] in ("result",)]
        if pong is None:
            self.report.add("a tick taken without an answer", FAIL, "no pong after the tick: is it still running?")
        elif answered:
            self.report.add("a tick taken without an answer", FAIL, "it answered the tick with a result")
        else:
            self.report.add("a tick taken without an answer", PASS)

    async def _operations(self, proc: AgentProcess, hello: dict[str, Any]) -> None:
        ops = {str(o) for o in hello.get("ops") or []}
        strategies = {str(s) for s in hello.get("strategies") or []}
        wanted = [f"signal:{s}" for s in STRATEGIES] + [o for o in OPERATIONS if o != "signal"]
        claimed = [
            w for w in wanted if w.split(":", 1)[0] in ops and (not w.startswith("signal:") or w[7:] in strategies)
        ]
        answers = await asyncio.gather(*(self._operation(proc, w) for w in claimed))
        results = dict(zip(claimed, answers, strict=True))
        for w in wanted:
            name = f"op {w.replace(':', ' ')}"
            if w not in results:
                base = w.split(":", 1)[0]
                why = "the strategy is not claimed" if base in ops else "not claimed"
                self.report.add(name, SKIP, why)
                continue
            problem, took = results[w]
            if problem is None:
                self.report.ops.add(w)
                self.report.add(name, PASS, f"in {took * 1000:.1f} ms")
            else:
                self.report.add(name, FAIL, problem)
        line, _took = await proc.answer({"type": "task", "op": "no-such-op", "cap": None, "data": {}, "cost": 0.0})
        name = "an unknown operation answered with an error result"
        if line is None:
            self.report.add(name, FAIL, "no answer")
        elif line.msg.get("ok") is not False:
            self.report.add(name, FAIL, "it answered ok")
        else:
            self.report.add(name, PASS, repr(line.msg.get("error", ""))[:60])

    async def _operation(self, proc: AgentProcess, op: str) -> tuple[str | None, float]:
        base, data = _names(op)
        line, took = await proc.answer({"type": "task", "op": base, "cap": None, "data": data, "cost": 0.0})
        if line is None:
            return "no answer within 3 s", took
        msg = line.msg
        if not msg["ok"]:
            return f"it answered an error: {msg.get('error', '')!r}"[:200], took
        problem = check_value(base, msg["value"])
        if problem is None and base == "echo" and msg["value"] != data:
            problem = "echo answered something else than its data"
        return problem, took

    async def _malformed(self, proc: AgentProcess) -> None:
        name = "malformed input answered with error lines, not a crash"
        since = len(proc.lines)
        for raw in MALFORMED:
            proc.write(raw)
        pong, _ = await proc.answer({"type": "ping"}, 2.0)
        errors = sum(1 for line in proc.lines[since:] if line.msg["type"] == "error")
        if pong is None:
            why = f"exited with code {proc.exit_code}" if proc.exit_code is not None else "no pong after it"
            self.report.add(name, FAIL, f"{why} (after {len(MALFORMED)} malformed lines)")
        elif errors < len(MALFORMED):
            self.report.add(name, FAIL, f"{errors} error lines for {len(MALFORMED)} malformed lines")
        else:
            self.report.add(name, PASS, f"{errors} error lines for {len(MALFORMED)} malformed lines, still answering")

    # -- faults ----------------------------------------------------------------------------------------
    def _probe(self, hello: dict[str, Any], prefer: tuple[str, ...] = ("echo", "work", "collect")) -> str | None:
        """An operation the program answered right, to watch a fault's effect on."""
        for op in (*prefer, *sorted(self.report.ops)):
            if op in self.report.ops:
                return op
        return None

    async def _answer_faults(self, proc: AgentProcess, hello: dict[str, Any]) -> None:
        claims = {str(f) for f in hello.get("faults") or []}
        for fault, test in (("error-rate", self._error_rate), ("slow", self._slow), ("byzantine", self._byzantine)):
            name = f"fault {fault} obeyed"
            if fault not in claims:
                self.report.add(name, SKIP, "not claimed (done from outside the agent)")
                continue
            problem, detail = await test(proc, hello)
            proc.send({"type": "fault", "fault": "clear"})
            if problem is None:
                self.report.faults.add(fault)
                self.report.add(name, PASS, detail)
            else:
                self.report.add(name, FAIL, problem)

    async def _ask(self, proc: AgentProcess, op: str, n: int, cost: float = 0.0) -> list[tuple[dict[str, Any], float]]:
        base, data = _names(op)
        task = {"type": "task", "op": base, "cap": None, "data": data, "cost": cost}
        answers = await asyncio.gather(*(proc.answer(task) for _ in range(n)))
        return [(line.msg, took) for line, took in answers if line is not None]

    async def _error_rate(self, proc: AgentProcess, hello: dict[str, Any]) -> tuple[str | None, str]:
        op = self._probe(hello)
        if op is None:
            return "no operation answered right to watch it on", ""
        proc.send({"type": "fault", "fault": "error-rate", "rate": 1.0, "duration": 5.0})
        answers = await self._ask(proc, op, 5)
        errors = sum(1 for msg, _ in answers if not msg["ok"])
        if errors < 5:
            return f"{errors} of 5 answers were errors at rate 1.0", ""
        proc.send({"type": "fault", "fault": "clear"})
        after = await self._ask(proc, op, 3)
        if not all(msg["ok"] for msg, _ in after):
            return "still answering errors after the fault was cleared", ""
        return None, f"5 of 5 answers were errors ({op}); cleared, answers ok again"

    async def _slow(self, proc: AgentProcess, hello: dict[str, Any]) -> tuple[str | None, str]:
        op = self._probe(hello)
        if op is None:
            return "no operation answered right to watch it on", ""

        # Rounds of answers cleared then slowed, each judged on its own: a busy machine can make
        # one window's answers twice as slow by itself (a CI run saw a program that ignores the
        # fault pass a single round), but not every slowed window and none of the cleared ones.
        async def median_s() -> float:
            return statistics.median([t for _, t in await self._ask(proc, op, 3, cost=0.05)] or [0.0])

        rounds: list[str] = []
        for _ in range(SLOW_ROUNDS):
            proc.send({"type": "fault", "fault": "clear"})
            before = await median_s()
            proc.send({"type": "fault", "fault": "slow", "factor": 4.0, "duration": 5.0})
            during = await median_s()
            rounds.append(f"{before * 1000:.0f} -> {during * 1000:.0f}")
            if during < 2.0 * before:
                return f"answers not twice as slow at factor 4 (median ms {', '.join(rounds)})", ""
        return None, f"median ms {', '.join(rounds)} in {SLOW_ROUNDS} rounds at factor 4"

    async def _byzantine(self, proc: AgentProcess, hello: dict[str, Any]) -> tuple[str | None, str]:
        op = next((o for o in ("vote", "signal:momentum", *sorted(self.report.ops)) if o in self.report.ops), None)
        if op is None or not (op == "vote" or op.startswith("signal:")):
            return "it answers neither vote nor signal, whose decisions a byzantine fault draws at random", ""
        key = "vote" if op == "vote" else "action"
        honest = {msg["value"][key] for msg, _ in await self._ask(proc, op, 10) if msg["ok"]}
        proc.send({"type": "fault", "fault": "byzantine", "duration": 5.0})
        drawn = [msg["value"][key] for msg, _ in await self._ask(proc, op, 30) if msg["ok"]]
        if len(honest) != 1:
            return f"honest answers to the same {op} task differ: {sorted(honest)}", ""
        if len(set(drawn)) < 2:
            return f"30 byzantine answers to the same {op} task were all {drawn[:1]}", ""
        return None, f"{op}: {len(set(drawn))} different decisions in 30 answers to the same task"

    async def _cpu_spike(self, proc: AgentProcess, hello: dict[str, Any]) -> None:
        name = "fault cpu-spike obeyed"
        if "cpu-spike" not in {str(f) for f in hello.get("faults") or []}:
            self.report.add(name, SKIP, "not claimed (done from outside the agent)")
            return
        # Relative to the agent at rest, not to a whole CPU: on a loaded machine a burning
        # thread gets its share of the cores, not all of one.
        cpu0, t0 = proc.cpu_seconds(), time.monotonic()
        await asyncio.sleep(0.3)
        rest = (proc.cpu_seconds() - cpu0) / (time.monotonic() - t0)
        proc.send({"type": "fault", "fault": "cpu-spike", "factor": 3.0, "duration": 1.0})
        await asyncio.sleep(0.1)
        # A process of our own burns a CPU over the same window: what a burner gets here now.
        reference = asyncio.ensure_future(reference_burn(SPIKE_WINDOW_S))
        try:
            cpu0, t0 = proc.cpu_seconds(), time.monotonic()
            await asyncio.sleep(SPIKE_WINDOW_S)
            share = (proc.cpu_seconds() - cpu0) / (time.monotonic() - t0)
            burner = await reference
        finally:
            reference.cancel()
        bar = spike_bar(burner)
        beside = "unmeasured" if burner is None else f"{burner:.0%}"
        detail = f"{share:.0%} of a CPU while it lasted, {rest:.0%} at rest, a burner beside it {beside}"
        if share >= bar and share >= SPIKE_OVER_REST * rest:
            self.report.faults.add("cpu-spike")
            self.report.add(name, PASS, detail)
        else:
            self.report.add(name, FAIL, f"{detail} (at least {bar:.0%} and {SPIKE_OVER_REST:g}x rest)")

    async def _lone_fault(
        self,
        proc: AgentProcess,
        fault: str,
        claims: set[str],
        test: Callable[[AgentProcess], Awaitable[tuple[str | None, str]]],
    ) -> tuple[str, str, str]:
        """A fault that ends the program, on a run of its own."""
        name = f"fault {fault} obeyed"
        if fault not in claims:
            return name, SKIP, "not claimed (done from outside the agent)"
        hello = await proc.wait_for(lambda m: m["type"] == "hello", HELLO_DEADLINE_S)
        if hello is None:
            return name, FAIL, "no hello from its second run"
        problem, detail = await test(proc)
        if problem is None:
            self.report.faults.add(fault)
            return name, PASS, detail
        return name, FAIL, problem

    def _lone_reports(self, results: Iterable[tuple[str, str, str]]) -> None:
        for name, status, detail in results:
            self.report.add(name, status, detail)

    async def _leak(self, proc: AgentProcess) -> tuple[str | None, str]:
        sent = time.monotonic()
        proc.send({"type": "fault", "fault": "memory-leak", "rate_mb_s": 400.0, "limit_mb": 160.0})
        code = await proc.wait_exit(5.0)
        if code is None:
            return "still running 5 s after a leak of 400 MB/s up to 160 MB", ""
        if code != OOM_EXIT:
            return f"exited with code {code}, not {OOM_EXIT} (as an OOM kill)", ""
        return None, f"exit {OOM_EXIT} after {time.monotonic() - sent:.2f} s (400 MB/s up to 160 MB)"

    async def _crash(self, proc: AgentProcess) -> tuple[str | None, str]:
        sent = time.monotonic()
        proc.send({"type": "fault", "fault": "crash"})
        code = await proc.wait_exit(EOF_EXIT_S)
        if code is None:
            return f"still running {EOF_EXIT_S:g} s after the crash command", ""
        return None, f"exited (code {code}) in {time.monotonic() - sent:.2f} s"

    # -- all along and at the end ------------------------------------------------------------------------
    async def _heartbeats(self, proc: AgentProcess) -> None:
        name = f"heartbeats every {HEARTBEAT_S:g} s (median within {HEARTBEAT_TOLERANCE:.0%}, none over"
        name += f" {HEARTBEAT_MAX_GAP:g} intervals)"
        deadline = time.monotonic() + (MIN_GAPS + 3) * HEARTBEAT_S * HEARTBEAT_MAX_GAP
        while len(proc.of_type("heartbeat")) < MIN_GAPS + 1 and time.monotonic() < deadline:
            if proc.exit_code is not None:
                break
            await asyncio.sleep(HEARTBEAT_S / 2)
        beats = proc.of_type("heartbeat")
        hello_t = proc.lines[0].t
        times = [hello_t] + [b.t for b in beats]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        seqs = [b.msg["seq"] for b in beats]
        if len(gaps) < MIN_GAPS:
            self.report.add(name, FAIL, f"{len(beats)} heartbeats in {time.monotonic() - hello_t:.1f} s")
            return
        median, longest = statistics.median(gaps), max(gaps)
        detail = f"median gap {median:.3f} s, longest {longest:.3f} s over {len(gaps)} gaps"
        bound = max_gap(self.lag.worst)
        if longest > HEARTBEAT_MAX_GAP * HEARTBEAT_S:  # said only where the machine's delay counts
            detail += f" (bound {bound:.3f} s: this machine delayed the checker by up to {self.lag.worst:.3f} s)"
        if any(b <= a for a, b in itertools.pairwise(seqs)):
            self.report.add(name, FAIL, f"seq does not increase: {seqs[:12]}")
        elif abs(median - HEARTBEAT_S) > HEARTBEAT_TOLERANCE * HEARTBEAT_S or longest > bound:
            self.report.add(name, FAIL, detail)
        else:
            self.report.add(name, PASS, detail)

    def _discipline(self, *procs: AgentProcess) -> None:
        name = "every line it wrote is a protocol message"
        problems = [v for p in procs for v in p.violations]
        lines = sum(len(p.lines) for p in procs) + len(problems)
        if problems:
            self.report.add(name, FAIL, f"{len(problems)} of {lines} lines broke it; the first: {problems[0]}")
        else:
            self.report.add(name, PASS, f"{lines} lines")

    async def _eof(self, proc: AgentProcess) -> None:
        name = f"stdin closed: exits within {EOF_EXIT_S:g} s"
        closed = time.monotonic()
        await proc.close_stdin()
        code = await proc.wait_exit(EOF_EXIT_S)
        if code is None:
            self.report.add(name, FAIL, f"still running {EOF_EXIT_S:g} s after its stdin closed")
        else:
            self.report.add(name, PASS, f"exit code {code} after {time.monotonic() - closed:.2f} s")


def run_check(program: AgentProgram) -> Report:
    """Run the suite on a loop of its own; the programs under test never outlive it."""
    return asyncio.run(AgentCheck(program).run())
