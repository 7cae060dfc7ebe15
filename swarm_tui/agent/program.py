"""The agent program that runs in a real sandbox (a local process or an E2B sandbox).

Standard library only, so the ``agent`` folder can be uploaded to any sandbox as is and run
with ``python3 -m <folder> --config '<json>'``.

It speaks line-delimited JSON over stdin/stdout:

* out: a ``hello`` (version, capabilities, pid), then ``heartbeat`` lines at the interval it is
  given, ``result`` lines answering tasks, ``pong`` answering pings, ``error`` lines for input
  it could not read;
* in: ``task``, ``tick``, ``ping``, ``fault`` and ``exit`` messages.

Faults it performs itself: ``cpu-spike`` (burns CPU for ``duration`` s), ``memory-leak``
(allocates ``rate_mb_s`` until ``limit_mb``, then dies as an OOM kill would, exit 137),
``error-rate``/``bad-version`` (answers with errors), ``slow`` (answers late), ``byzantine``
(answers at random), ``exit``/``crash`` (dies at once). A task's ``cost`` is time it spends
waiting, as on a call to a broker; its answer is always computed.

It never outlives the engine: it exits when its stdin closes, and on Linux it asks the kernel to
kill it when its parent dies.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .core import AgentCore

MAX_LINE = 1 << 20  # 1 MiB: a longer input line is refused, not read into memory
OOM_EXIT = 137


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent dies (belt and braces with stdin EOF)."""
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


class Program:
    """One agent: reads stdin, answers on stdout, beats its heart, performs faults."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        seed = str(config.get("seed", 0)) + str(config.get("agent_id", ""))
        self.core = AgentCore(config, time.monotonic, random.Random(seed))
        self.heartbeat_s = max(0.05, float(config.get("heartbeat_s", 1.0)))
        self.memory_limit_mb = float(config.get("memory_limit_mb", 512.0))
        self._out = sys.stdout.buffer
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=int(config.get("slots", 8)), thread_name_prefix="task")
        self._stop = threading.Event()
        self._leaked: list[bytearray] = []

    # -- output ---------------------------------------------------------------------------------
    def emit(self, msg: dict[str, Any]) -> None:
        data = (json.dumps(msg, separators=(",", ":")) + "\n").encode()
        with self._lock:
            try:
                self._out.write(data)
                self._out.flush()
            except (BrokenPipeError, ValueError, OSError):
                os._exit(0)  # nobody is listening any more

    def error(self, text: str) -> None:
        self.emit({"type": "error", "error": text})

    # -- heartbeats ---------------------------------------------------------------------------------
    def _heartbeats(self) -> None:
        seq = 0
        while not self._stop.wait(self.heartbeat_s):
            seq += 1
            self.emit({"type": "heartbeat", "seq": seq, "leaked_mb": len(self._leaked)})

    # -- input --------------------------------------------------------------------------------------
    def handle_line(self, raw: bytes) -> None:
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
            self._pool.submit(self._task, msg)
        elif mtype == "fault":
            self._fault(msg)
        elif mtype in ("exit", "crash"):
            os._exit(int(msg.get("code", OOM_EXIT)))
        elif mtype in ("tick", "ping"):
            try:
                reply = self.core.handle(msg)
            except (TypeError, ValueError) as exc:
                self.error(f"bad {mtype}: {exc}")
                return
            if reply is not None:
                self.emit(reply)
        else:
            self.error(f"unknown message type {mtype!r}")

    def _task(self, msg: dict[str, Any]) -> None:
        started = time.monotonic()
        try:
            reply = self.core.handle(msg)
        except Exception as exc:  # an answer, never a dead agent
            reply = {"type": "result", "id": msg.get("id"), "ok": False, "error": f"agent error: {exc!r}"}
        try:
            cost = max(0.0, float(msg.get("cost") or 0.0))
        except (TypeError, ValueError):
            cost = 0.0
        factor = self.core.latency_factor()
        if msg.get("cpu") and cost > 0:
            # CPU-bound work: a fixed amount of computation that takes ``cost`` seconds on an idle
            # agent, and longer when something else burns this agent's CPU.
            self._compute(cost * factor)
        else:
            # The cost is waiting time (a broker or exchange call); slowness stretches all of it.
            wait = cost * factor + (factor - 1.0) * 0.02 - (time.monotonic() - started)
            if wait > 0:
                time.sleep(wait)
        if reply is not None:
            self.emit(reply)

    _rate: float = 0.0  # loop iterations per second of CPU, measured once

    def _compute(self, seconds: float) -> None:
        if not Program._rate:
            t0, n = time.perf_counter(), 0
            while time.perf_counter() - t0 < 0.02:
                self._spin(2000)
                n += 2000
            Program._rate = n / (time.perf_counter() - t0)
        self._spin(int(seconds * Program._rate))

    @staticmethod
    def _spin(n: int) -> float:
        x = 1.0001
        for _ in range(n):
            x = x * 1.0000001 + 1e-9
        return x

    # -- faults -------------------------------------------------------------------------------------
    def _fault(self, msg: dict[str, Any]) -> None:
        kind = msg.get("fault")
        if kind == "cpu-spike":
            duration = float(msg.get("duration") or 10.0)
            # ``factor`` - 1 threads burn CPU, leaving this agent's work about 1/factor of it.
            for _ in range(max(1, round(float(msg.get("factor") or 2.0)) - 1)):
                threading.Thread(target=self._burn, args=(duration,), daemon=True, name="cpu-spike").start()
        elif kind == "memory-leak":
            rate = float(msg.get("rate_mb_s") or 40.0)
            limit = float(msg.get("limit_mb") or self.memory_limit_mb)
            threading.Thread(target=self._leak, args=(rate, limit), daemon=True, name="memory-leak").start()
        elif kind in ("crash", "exit"):
            os._exit(OOM_EXIT)
        else:
            self.core.apply_fault(msg)

    def _burn(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        x = 1.0001
        while time.monotonic() < end:
            for _ in range(20_000):
                x = x * 1.0000001 + 1e-9  # real CPU work, in the agent's own process

    def _leak(self, rate_mb_s: float, limit_mb: float) -> None:
        step = 0.05
        while not self._stop.is_set():
            for _ in range(max(1, round(rate_mb_s * step))):
                block = bytearray(1 << 20)
                block[::4096] = b"x" * len(block[::4096])  # touch every page: real resident memory
                self._leaked.append(block)
            if self.resident_mb() >= limit_mb or len(self._leaked) >= limit_mb:
                self.emit({"type": "error", "error": f"out of memory at {self.resident_mb():.0f} MB"})
                os._exit(OOM_EXIT)  # what the kernel's OOM killer would do
            time.sleep(step)

    @staticmethod
    def resident_mb() -> float:
        try:
            with open("/proc/self/statm") as handle:
                pages = int(handle.read().split()[1])
            return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
        except (OSError, ValueError, IndexError):
            return 0.0

    # -- main loop ----------------------------------------------------------------------------------
    def run(self) -> int:
        _die_with_parent()
        hello = self.core.hello()
        hello["pid"] = os.getpid()
        self.emit(hello)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agent", description="A swarm-tui trading agent (JSON lines on stdio).")
    parser.add_argument("--config", help="the agent's configuration as JSON")
    parser.add_argument("--config-file", help="a file holding the configuration as JSON")
    parser.add_argument("--marker", default="", help="a tag for finding agents left behind (ignored)")
    args = parser.parse_args(argv)
    try:
        if args.config_file:
            with open(args.config_file, encoding="utf-8") as handle:
                config = json.load(handle)
        else:
            config = json.loads(args.config or "{}")
    except (OSError, ValueError) as exc:
        print(json.dumps({"type": "error", "error": f"bad configuration: {exc}"}), flush=True)
        return 2
    if not isinstance(config, dict):
        print(json.dumps({"type": "error", "error": "bad configuration: not a JSON object"}), flush=True)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        return Program(config).run()
    return 130
