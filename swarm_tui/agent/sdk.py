"""A small helper for writing swarm-tui agents in Python: the agent protocol, version 1, done.

Standard library only, one file with no imports of its own package: copy it next to your agent,
or import it as ``swarm_tui.agent.sdk`` (swarm-tui puts it on ``PYTHONPATH`` for the programs it
runs, locally and in E2B sandboxes). The protocol is docs/agent-protocol.md; this module does
the plumbing so an agent is its operations::

    from swarm_tui.agent import sdk

    class MyAgent(sdk.Agent):
        program = "my-agent/1.0"
        strategies = ("momentum",)

        def op_signal(self, data):
            prices = data.get("prices") or self.prices(data.get("symbol"))
            return {"action": "buy" if prices[-1] > prices[0] else "hold", "strength": 0.5}

    if __name__ == "__main__":
        sys.exit(sdk.main(MyAgent))

What it does: reads the configuration (``$SWARM_AGENT_CONFIG``, or ``--config JSON`` or
``--config-file PATH``), picks the protocol version, says hello (with the operations you define
as ``op_<name>`` methods, your ``strategies`` and the ``faults`` you opt into), beats its heart
at the configured interval, answers pings, keeps the price history of ticks, runs tasks on a
pool of threads (waiting or computing their ``cost``), answers malformed input with an error
line, exits when stdin closes, and on Linux dies with its parent. The faults it can perform for
you (list them in ``faults``): ``cpu-spike``, ``memory-leak``, ``error-rate``, ``slow``,
``byzantine`` and ``crash``; the engine performs the others from outside.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

PROTOCOL_VERSIONS = (1,)  # the versions this helper speaks
MAX_LINE = 1 << 20  # a longer input line is refused, not read into memory
OOM_EXIT = 137  # what an agent killed at its memory limit exits with
ACTIONS = ("buy", "sell", "hold")
HISTORY = 200  # prices kept per symbol from ticks
STANDARD_FAULTS = ("cpu-spike", "memory-leak", "error-rate", "slow", "byzantine", "crash")


class TaskError(Exception):
    """Raise it in an operation to answer the task with an error (``ok: false``)."""


def read_config(argv: list[str] | None = None) -> dict[str, Any]:
    """The agent's configuration: ``--config JSON``, ``--config-file PATH`` or ``$SWARM_AGENT_CONFIG``."""
    parser = argparse.ArgumentParser(description="A swarm-tui agent (JSON lines on stdin/stdout).")
    parser.add_argument("--config", help="the configuration as JSON")
    parser.add_argument("--config-file", help="a file holding the configuration as JSON")
    parser.add_argument("--marker", default="", help="a tag for finding agents left behind (ignored)")
    args, _rest = parser.parse_known_args(argv)
    if args.config_file:
        with open(args.config_file, encoding="utf-8") as handle:
            config = json.load(handle)
    else:
        config = json.loads(args.config or os.environ.get("SWARM_AGENT_CONFIG") or "{}")
    if not isinstance(config, dict):
        raise ValueError("not a JSON object")
    return config


def die_with_parent() -> None:
    """Linux: the kernel kills this process when its parent dies (belt and braces with stdin EOF)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before we asked
        os._exit(1)


def resident_mb() -> float:
    """This process's resident memory (MB), from /proc (0 where there is none)."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
    except (OSError, ValueError, IndexError):
        return 0.0


class Agent:
    """One agent: subclass it, define ``op_<name>(self, data)`` methods, call :func:`main`.

    Override :meth:`answer` instead to handle every task yourself, :meth:`on_tick` to use ticks
    differently, :meth:`hello` to say more.
    """

    program = "python-agent"  # name/version of your implementation (in the hello)
    strategies: tuple[str, ...] = ()  # strategies your op_signal computes
    faults: tuple[str, ...] = ()  # fault commands this helper performs for you (STANDARD_FAULTS)
    capabilities: tuple[str, ...] = ()  # default: the configuration's
    slots = 8  # tasks worked on at once

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.agent_id = str(config.get("agent_id", "agent"))
        self.kind = str(config.get("kind", "worker"))
        self.version = str(config.get("version", "v1"))
        self.params: dict[str, Any] = dict(config.get("params") or {})
        self.symbols = [str(s) for s in config.get("symbols") or []]
        self.heartbeat_s = max(0.05, float(config.get("heartbeat_s", 1.0)))
        self.memory_limit_mb = float(config.get("memory_limit_mb", 512.0))
        offered = config.get("protocols") or [1]
        common = [v for v in PROTOCOL_VERSIONS if v in offered]
        self.protocol = max(common) if common else None
        defect = config.get("defect") or {}
        self._defect_error_rate = float(defect.get("error_rate", 0.0))
        self._defect_latency = float(defect.get("latency_factor", 1.0))
        self.rng = random.Random(f"{config.get('seed', 0)}{self.agent_id}")
        self.history: dict[str, deque[float]] = {}
        self._active: dict[str, tuple[float | None, dict[str, Any]]] = {}  # fault -> (until, command)
        self._out = sys.stdout.buffer
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=int(config.get("slots", self.slots)), thread_name_prefix="task")
        self._stop = threading.Event()
        self._leaked: list[bytearray] = []
        self._ops: dict[str, Callable[[dict[str, Any]], Any]] | None = None  # operations(), found once

    # -- what it says ----------------------------------------------------------------------------------
    def operations(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        """The operations it answers: every ``op_<name>`` method."""
        return {name[3:]: getattr(self, name) for name in dir(self) if name.startswith("op_")}

    def hello(self) -> dict[str, Any]:
        caps = self.config.get("capabilities") or list(self.capabilities)
        return {
            "type": "hello",
            "agent": self.agent_id,
            "kind": self.kind,
            "version": self.version,
            "protocol": self.protocol,
            "capabilities": [str(c) for c in caps],
            "pid": os.getpid(),
            "program": self.program,
            "ops": sorted(self.operations()),
            "strategies": list(self.strategies),
            "faults": list(self.faults),
        }

    def emit(self, msg: dict[str, Any]) -> None:
        """Write one message (thread safe)."""
        data = (json.dumps(msg, separators=(",", ":")) + "\n").encode()
        with self._lock:
            try:
                self._out.write(data)
                self._out.flush()
            except (BrokenPipeError, ValueError, OSError):
                os._exit(0)  # nobody is listening any more

    def error(self, text: str) -> None:
        self.emit({"type": "error", "error": text[:4000]})

    def _heartbeats(self) -> None:
        seq = 0
        while not self._stop.wait(self.heartbeat_s):
            seq += 1
            self.emit({"type": "heartbeat", "seq": seq, "leaked_mb": len(self._leaked)})

    # -- what it hears ---------------------------------------------------------------------------------
    def handle_line(self, raw: bytes) -> None:
        """One input line: a message handled, or an error line saying what was wrong with it."""
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            self.error("input line is not UTF-8")
            return
        if not text:
            return
        try:
            msg = json.loads(text)
        except ValueError as exc:
            self.error(f"input line is not JSON: {getattr(exc, 'msg', exc)}")
            return
        if not isinstance(msg, dict):
            self.error(f"input line is not a JSON object but {type(msg).__name__}")
            return
        mtype = msg.get("type")
        if mtype == "task":
            if not isinstance(msg.get("id"), int) or not isinstance(msg.get("op"), str):
                self.error("bad task: it needs an integer id and a string op")
                return
            self._pool.submit(self._task, msg)
        elif mtype == "ping":
            self.emit({"type": "pong", "id": msg.get("id")})
        elif mtype == "tick":
            prices = msg.get("prices")
            if not isinstance(prices, dict):
                self.error("bad tick: prices must be an object")
                return
            self.on_tick(prices)
        elif mtype == "fault":
            self.handle_fault(msg)
        elif mtype in ("exit", "crash"):
            os._exit(int(msg.get("code", OOM_EXIT)))
        else:
            self.error(f"unknown message type {mtype!r}")

    def on_tick(self, prices: dict[str, Any]) -> None:
        """Keep the last prices of each symbol (see :meth:`prices`)."""
        for symbol, price in prices.items():
            try:
                value = float(price)
            except (TypeError, ValueError):
                continue
            hist = self.history.get(symbol)
            if hist is None:
                hist = self.history[symbol] = deque(maxlen=HISTORY)
            hist.append(value)

    def prices(self, symbol: str | None = None) -> list[float]:
        """The price history of a symbol (default: the first configured one) from ticks."""
        symbol = symbol or (self.symbols[0] if self.symbols else None)
        return list(self.history.get(str(symbol), ()))

    # -- tasks -----------------------------------------------------------------------------------------
    def answer(self, msg: dict[str, Any]) -> dict[str, Any]:
        """A task's result: its operation's value, or an error (injected, unknown op, bad data)."""
        task_id = msg.get("id")
        try:
            cap = msg.get("cap")
            caps = self.config.get("capabilities") or list(self.capabilities)
            if cap and caps and cap not in caps:
                raise TaskError(f"capability {cap} not supported by {self.kind}")
            rate = self.error_rate()
            if rate > 0 and self.rng.random() < rate:
                raise TaskError("injected error" if self._fault("error-rate") else "defect: error")
            if self._ops is None:
                self._ops = self.operations()
            handler = self._ops.get(str(msg.get("op")))
            if handler is None:
                raise TaskError(f"unknown op {msg.get('op')!r}")
            value = handler(msg.get("data") or {})
            if self._fault("byzantine") and isinstance(value, dict):
                value = self.scramble(value)
        except TaskError as exc:
            return {"type": "result", "id": task_id, "ok": False, "error": str(exc)}
        except Exception as exc:  # an answer, never a dead agent
            return {"type": "result", "id": task_id, "ok": False, "error": f"bad task: {exc!r}"[:4000]}
        return {"type": "result", "id": task_id, "ok": True, "value": value}

    def scramble(self, value: dict[str, Any]) -> dict[str, Any]:
        """A byzantine answer: the decision drawn at random."""
        if "action" in value:
            return {**value, "action": self.rng.choice(ACTIONS)}
        if "vote" in value:
            return {**value, "vote": self.rng.choice(ACTIONS), "confidence": round(self.rng.random(), 4)}
        return value

    def _task(self, msg: dict[str, Any]) -> None:
        started = time.monotonic()
        reply = self.answer(msg)
        self.spend(msg, started)
        self.emit(reply)

    def spend(self, msg: dict[str, Any], started: float) -> None:
        """Spend the task's ``cost``: compute that long if ``cpu`` says so, else wait (a broker call)."""
        try:
            cost = max(0.0, float(msg.get("cost") or 0.0))
        except (TypeError, ValueError):
            cost = 0.0
        factor = self.latency_factor()
        if msg.get("cpu") and cost > 0:
            # A fixed amount of computation that takes ``cost`` s on an idle agent, and longer when
            # something else burns this agent's CPU.
            self.compute(cost * factor)
            return
        wait = cost * factor + (factor - 1.0) * 0.02 - (time.monotonic() - started)
        if wait > 0:
            time.sleep(wait)

    _rate: float = 0.0  # loop iterations per second of CPU, measured once

    def compute(self, seconds: float) -> None:
        """Burn about ``seconds`` of CPU (measured once, then counted in loop iterations).

        Measured on this thread's CPU time, not the wall clock: on a busy machine the wall clock
        also counts the time the process waited for a core, and the agent would then do less
        work for the same ``cost`` (a slow fault made answers only 1.2x slower, not 4x)."""
        if not Agent._rate:
            t0, n = time.thread_time(), 0
            while time.thread_time() - t0 < 0.02:
                _spin(2000)
                n += 2000
            Agent._rate = n / (time.thread_time() - t0)
        _spin(int(seconds * Agent._rate))

    # -- faults ----------------------------------------------------------------------------------------
    def handle_fault(self, msg: dict[str, Any]) -> None:
        """Perform a fault command (only those in ``faults`` are sent; others get an error line)."""
        kind = str(msg.get("fault", ""))
        if kind == "clear":
            self._active.clear()
            return
        if kind not in self.faults:
            self.error(f"fault {kind!r} is not one this agent performs")
            return
        if kind == "crash":
            os._exit(OOM_EXIT)
        if kind == "cpu-spike":
            duration = float(msg.get("duration") or 10.0)
            # ``factor`` - 1 threads burn CPU, leaving this agent's work about 1/factor of it.
            for _ in range(max(1, round(float(msg.get("factor") or 2.0)) - 1)):
                threading.Thread(target=_burn, args=(duration,), daemon=True, name="cpu-spike").start()
        elif kind == "memory-leak":
            rate = float(msg.get("rate_mb_s") or 40.0)
            limit = float(msg.get("limit_mb") or self.memory_limit_mb)
            threading.Thread(target=self._leak, args=(rate, limit), daemon=True, name="memory-leak").start()
        else:  # error-rate, slow, byzantine: they change the answers while they last
            lasts = msg.get("duration")
            until = time.monotonic() + float(lasts) if lasts is not None else None
            self._active[kind] = (until, dict(msg))

    def _fault(self, name: str) -> dict[str, Any] | None:
        entry = self._active.get(name)
        if entry is None:
            return None
        until, params = entry
        if until is not None and time.monotonic() >= until:
            self._active.pop(name, None)
            return None
        return params

    def error_rate(self) -> float:
        """The share of answers that are errors now (an error-rate fault, or a configured defect)."""
        fault = self._fault("error-rate")
        injected = float(fault.get("rate", 1.0)) if fault else 0.0
        return max(injected, self._defect_error_rate)

    def latency_factor(self) -> float:
        """How many times slower answers are now (a slow fault, times a configured defect)."""
        fault = self._fault("slow")
        injected = float(fault.get("factor", 3.0)) if fault else 1.0
        return injected * self._defect_latency

    def _leak(self, rate_mb_s: float, limit_mb: float) -> None:
        step = 0.05
        started = time.monotonic()
        while not self._stop.is_set():
            # Paced by the clock, not by counting sleeps: on a busy machine the loop wakes late and
            # catches up, so the leak keeps its rate (and its time to the limit).
            due = max(1, round(rate_mb_s * (time.monotonic() - started + step)))
            while len(self._leaked) < min(due, limit_mb):
                block = bytearray(1 << 20)
                block[::4096] = b"x" * len(block[::4096])  # touch every page: real resident memory
                self._leaked.append(block)
            if resident_mb() >= limit_mb or len(self._leaked) >= limit_mb:
                self.emit({"type": "error", "error": f"out of memory at {resident_mb():.0f} MB"})
                os._exit(OOM_EXIT)  # what the kernel's OOM killer would do
            time.sleep(step)

    # -- the loop --------------------------------------------------------------------------------------
    def run(self) -> int:
        """Say hello, then read stdin until it closes. Returns the exit code (it never returns normally)."""
        die_with_parent()
        if self.protocol is None:
            offered = self.config.get("protocols")
            self.error(f"no common protocol version: offered {offered}, this agent speaks {PROTOCOL_VERSIONS}")
            return 2
        self.emit(self.hello())
        threading.Thread(target=self._heartbeats, daemon=True, name="heartbeat").start()
        stdin = sys.stdin.buffer
        while True:
            raw = stdin.readline(MAX_LINE + 1)
            if not raw:
                break  # stdin closed: the engine is gone or done with us
            if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):
                    raw = stdin.readline(MAX_LINE + 1)  # skip the rest of the oversized line
                self.error(f"input line longer than {MAX_LINE} bytes ignored")
                continue
            self.handle_line(raw)
        self._stop.set()
        os._exit(0)  # do not wait for task threads: nobody will read their answers


def _spin(n: int) -> float:
    x = 1.0001
    for _ in range(n):
        x = x * 1.0000001 + 1e-9
    return x


def _burn(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        _spin(20_000)  # real CPU work, in the agent's own process


def main(agent_class: type[Agent], argv: list[str] | None = None) -> int:
    """Read the configuration and run an agent of ``agent_class``; the process's exit code."""
    try:
        config = read_config(argv)
    except (OSError, ValueError) as exc:
        print(json.dumps({"type": "error", "error": f"bad configuration: {exc}"}), flush=True)
        return 2
    try:
        return agent_class(config).run()
    except KeyboardInterrupt:
        return 130
