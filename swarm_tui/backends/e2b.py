"""The E2B backend: each agent in its own E2B cloud sandbox (``e2b.AsyncSandbox``).

The agent program (standard library only) is uploaded with ``files.write`` and started with
``commands.run(..., background=True, timeout=0, stdin=True, on_stdout=...)``; the engine feeds it
with ``send_stdin`` (one writer per sandbox; up to four calls in flight, so a message never waits a
whole round trip behind another; what queues beyond that goes out batched in one call; every call
carries whole lines, and messages are independent, so their order across calls does not matter),
reads its line-delimited JSON from ``on_stdout``, takes CPU and memory from ``get_metrics``, keeps
the sandbox alive with ``set_timeout`` while the run lasts (so a killed engine leaves sandboxes
that expire on their own shortly after), and kills it on teardown. Every sandbox carries metadata
(app=swarm-tui, run id, agent id, pattern) so ``swarm-tui cleanup`` can find strays.

Creation is limited by a token bucket (creations per second) and a cap on live sandboxes; the
defaults fit E2B's free tier and can be raised with ``SWARM_TUI_E2B_RATE`` and
``SWARM_TUI_E2B_MAX`` (or the CLI flags). A 429 slows the bucket down and retries; a 503, a
timeout or a dropped connection retries with jittered backoff. A sandbox that dies or whose
stream drops mid-run is reported as the agent's exit, which the engine handles like any crash.

A user's agent program (:class:`~swarm_tui.engine.sandbox.AgentProgram`) runs instead of the
built-in agent in the same way: its workdir is uploaded to ``/home/user/agent``, its ``setup``
command runs there once per sandbox (installing requirements, say), it starts from its own
template if it names one, and it gets its configuration in ``$SWARM_AGENT_CONFIG`` and the
Python helper module (``swarm_tui.agent.sdk``) on ``PYTHONPATH``. Faults it does not claim in
its hello are done from outside (:mod:`swarm_tui.backends.outside`), the CPU and memory ones by
a helper script in the sandbox (it needs ``python3`` there, as the ``base`` template has).

The SDK reads ``E2B_API_KEY``, ``E2B_API_URL``, ``E2B_SANDBOX_URL`` and ``E2B_DOMAIN`` itself,
so the same code runs against E2B or any E2B-compatible endpoint. The key never appears in a
message of ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import random
import shlex
import time
from collections import deque
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from swarm_tui.backends.outside import (
    ANSWER_FAULTS,
    ANSWERS,
    LEAK_SCRIPT,
    LIMIT_LINE,
    SELF,
    AnswerFaults,
    how_to_do,
    screen,
)
from swarm_tui.backends.programs import MARKER, MARKER_VARIABLE, helper_module_sources, read_workdir
from swarm_tui.engine.faults import AGENT_FAULTS, Fault
from swarm_tui.engine.messages import CONFIG_VARIABLE, HELLO_DEADLINE_S
from swarm_tui.engine.protocol import INVALID, LINE_LIMIT, FloodGate, LineBuffer, decode_line, invalid
from swarm_tui.engine.redact import scrub
from swarm_tui.engine.sandbox import (
    AgentProgram,
    Backend,
    BackendCapabilities,
    BackendError,
    Leftovers,
    OwnedSandbox,
    SandboxHandle,
    SandboxMetrics,
    SandboxSpec,
)

APP_TAG = "swarm-tui"
REMOTE_DIR = "/home/user/swarm"
AGENT_PACKAGE = "swarm_agent"
AGENT_FILES = ("__init__.py", "__main__.py", "core.py", "kinds.py", "strategies.py", "program.py", "sdk.py")
REMOTE_WORKDIR = "/home/user/agent"  # where a user's program is uploaded and runs
REMOTE_LIB = "/home/user/swarm/lib"  # the Python helper module, on the program's PYTHONPATH
SETUP_TIMEOUT_S = 600.0
DEFAULT_RATE = 1.0  # creations per second (E2B free tier)
DEFAULT_MAX = 20  # sandboxes alive at once (E2B free tier)


SENDS_IN_FLIGHT = 4  # send_stdin calls in flight per sandbox
ABANDONED_WAIT_S = 30.0  # how long close() waits for an abandoned create request's answer
_ASKS = frozenset({"task", "ping"})  # messages to an agent that it answers


class TokenBucket:
    """Creations per second, with a burst of one; a 429 halves the rate for a while."""

    def __init__(self, rate: float, clock: Any = time.monotonic) -> None:
        self.base_rate = rate
        self.rate = rate
        self._clock = clock
        self._next = 0.0
        self._lock = asyncio.Lock()
        self.slowdowns = 0

    async def acquire(self) -> None:
        async with self._lock:
            now = self._clock()
            wait = self._next - now
            if wait > 0:
                await asyncio.sleep(wait)
                now = self._clock()
            self._next = max(now, self._next) + 1.0 / self.rate
            # Recover towards the configured rate after a slowdown.
            self.rate = min(self.base_rate, self.rate * 1.1)

    def slow_down(self, retry_after: float | None = None) -> None:
        self.slowdowns += 1
        self.rate = max(self.base_rate / 16, self.rate / 2)
        if retry_after:
            self._next = max(self._next, self._clock() + retry_after)


def _accepts(function: Any, name: str) -> bool:
    """Whether ``function`` takes a keyword argument ``name`` (older SDKs lack some)."""
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def backoff(attempt: int, rng: random.Random, base: float = 0.25, cap: float = 8.0) -> float:
    """Full-jitter exponential backoff."""
    return rng.uniform(0, min(cap, base * 2**attempt))


@dataclass
class _Sandbox:
    handle: SandboxHandle
    spec: SandboxSpec
    sbx: Any
    pid: int | None = None
    command: Any = None
    lines: LineBuffer = field(default_factory=LineBuffer)
    gate: FloodGate = field(default_factory=FloodGate)
    faulty: bool = False  # its output broke the protocol: the rest is ignored
    outbox: deque[str] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    killed: bool = False
    kill_task: asyncio.Task[None] | None = None
    exited: bool = False
    created: float = field(default_factory=time.monotonic)
    program: AgentProgram | None = None  # a user's program (None: the built-in agent)
    hello: bool = False
    claims: frozenset[str] | None = None  # fault commands its hello claims
    answers: AnswerFaults | None = None  # faults applied to its answers from outside
    stderr: deque[str] = field(default_factory=lambda: deque(maxlen=32))
    stderr_lines: LineBuffer = field(default_factory=lambda: LineBuffer(limit=4096))
    at_limit: bool = False  # a leak helper killed it at its memory limit
    leaking: asyncio.Task[None] | None = None  # a leak helper running beside it


class E2BBackend(Backend):
    """Agents in E2B cloud sandboxes."""

    name = "e2b"
    capabilities = BackendCapabilities(
        name="e2b",
        real=True,
        latency_budget_ms=1500.0,
        recovery_budget_s=20.0,
        heartbeat_s=1.0,
        faults=frozenset(AGENT_FAULTS),
        metrics_every_s=5.0,  # one API call per sandbox: read them less often
    )

    def __init__(
        self,
        seed: int = 0,
        *,
        template: str | None = None,
        sandbox_timeout_s: int | None = None,
        rate_per_s: float | None = None,
        max_sandboxes: int | None = None,
        create_retries: int = 6,
        program: str | None = None,
        agent_program: AgentProgram | None = None,
    ) -> None:
        super().__init__()
        self.default_program = agent_program  # `--agent-command`: every agent without a program of its own
        self._workdirs: dict[str, dict[str, bytes]] = {}
        # Python source uploaded as the agent package's ``__main__.py`` instead of the real one
        # (same command, same arguments): to try the engine against agents that misbehave.
        self.program = program
        env = os.environ
        self.template = template or env.get("SWARM_TUI_E2B_TEMPLATE", "base")
        self.sandbox_timeout_s = int(sandbox_timeout_s or env.get("SWARM_TUI_E2B_TIMEOUT") or 30)
        rate = rate_per_s if rate_per_s is not None else float(env.get("SWARM_TUI_E2B_RATE", DEFAULT_RATE))
        cap = max_sandboxes if max_sandboxes is not None else int(env.get("SWARM_TUI_E2B_MAX", DEFAULT_MAX))
        if rate <= 0 or cap <= 0:
            raise ValueError("E2B creation rate and sandbox cap must be positive")
        self.rate_per_s = rate
        self.max_sandboxes = cap
        self.create_retries = create_retries
        self.bucket = TokenBucket(rate)
        self._slots = asyncio.Semaphore(cap)
        self._rng = random.Random(f"e2b:{seed}")
        self._sandboxes: dict[str, _Sandbox] = {}
        # Create requests whose caller gave up (a shutdown) while E2B was answering: the sandbox
        # may exist all the same, so close() waits for each answer and kills what it got.
        self._abandoned: list[asyncio.Task[Any]] = []
        self._requesting: set[asyncio.Task[Any]] = set()
        self._reaping: list[asyncio.Task[None]] = []
        self._keepalive: asyncio.Task[None] | None = None
        self._sources: dict[str, str] | None = None
        self.retries = 0

    # -- credentials -----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Check the API key before anything starts: missing or rejected is one clear error."""
        from e2b import AsyncSandbox
        from e2b.exceptions import AuthenticationException

        if not os.environ.get("E2B_API_KEY"):
            raise BackendError("E2B_API_KEY is not set: export your E2B API key (https://e2b.dev/dashboard)")
        try:
            paginator = AsyncSandbox.list(limit=1)
            await paginator.next_items()
        except AuthenticationException:
            raise BackendError("E2B rejected the API key (401): check E2B_API_KEY") from None
        except Exception as exc:  # any other failure to reach the API
            where = os.environ.get("E2B_API_URL") or f"api.{os.environ.get('E2B_DOMAIN', 'e2b.app')}"
            raise BackendError(scrub(f"cannot reach E2B at {where}: {type(exc).__name__}: {exc}")) from None

    # -- creation ---------------------------------------------------------------------------------------
    def _agent_sources(self) -> dict[str, str]:
        if self._sources is None:
            package = resources.files("swarm_tui.agent")
            self._sources = {name: package.joinpath(name).read_text(encoding="utf-8") for name in AGENT_FILES}
        return self._sources

    async def _create_sandbox(self, spec: SandboxSpec) -> Any:
        from e2b import AsyncSandbox
        from e2b.exceptions import (
            AuthenticationException,
            RateLimitException,
            SandboxException,
            ServiceBusyException,
            TimeoutException,
        )

        metadata = {"app": APP_TAG, "run_id": spec.run_id, "agent_id": spec.agent_id, "pattern": spec.pattern}
        attempt = 0
        while True:
            await self.bucket.acquire()
            current = asyncio.current_task()
            try:
                if current is not None:
                    self._requesting.add(current)
                return await AsyncSandbox.create(
                    template=self.template_for(spec), timeout=self.sandbox_timeout_s, metadata=metadata
                )
            except AuthenticationException:
                raise BackendError("E2B rejected the API key (401): check E2B_API_KEY") from None
            except RateLimitException:
                self.bucket.slow_down()
                reason = "429 rate limited"
            except (TimeoutException, ServiceBusyException, SandboxException, OSError) as exc:
                # 503 (service busy), timeouts, dropped connections: retried with backoff.
                reason = scrub(f"{type(exc).__name__}: {exc}")
            finally:
                self._requesting.discard(current)
            attempt += 1
            self.retries += 1
            if attempt > self.create_retries:
                raise BackendError(f"cannot create an E2B sandbox after {attempt} tries: {reason}")
            await asyncio.sleep(backoff(attempt, self._rng))

    def template_for(self, spec: SandboxSpec) -> str:
        """The template a sandbox of ``spec`` starts from (its program's own, or the backend's)."""
        program = self.program_for(spec)
        return program.template if program is not None and program.template else self.template

    async def create(self, spec: SandboxSpec) -> SandboxHandle:
        program = self.program_for(spec)
        if program is not None:
            self._workdir_files(program)  # a workdir that cannot be uploaded fails before a sandbox exists
        await self._slots.acquire()
        creating = asyncio.get_running_loop().create_task(self._create_sandbox(spec), name=f"create {spec.agent_id}")
        try:
            sbx = await asyncio.shield(creating)
        except asyncio.CancelledError:
            if creating in self._requesting:
                self._abandoned.append(creating)  # E2B may be creating it right now: close() kills it
            else:
                creating.cancel()  # still waiting for its turn or backing off: nothing was asked yet
                self._slots.release()
            raise
        except BaseException:
            self._slots.release()
            raise
        handle = SandboxHandle(
            id=sbx.sandbox_id,
            agent_id=spec.agent_id,
            backend=self.name,
            created_at=self.clock.now(),
            info={"template": self.template_for(spec)},
        )
        box = _Sandbox(handle, spec, sbx, program=program)
        self._sandboxes[handle.id] = box
        try:
            await self._start_agent(box)
        except BaseException as exc:
            await self._kill(box)
            if isinstance(exc, BackendError | asyncio.CancelledError):
                raise
            raise BackendError(
                scrub(f"cannot start the agent in sandbox {handle.id}: {type(exc).__name__}: {exc}")
            ) from None
        if self._keepalive is None:
            self._keepalive = asyncio.get_running_loop().create_task(self._keep_alive(), name="e2b keep-alive")
        return handle

    async def _start_agent(self, box: _Sandbox) -> None:
        sbx, spec = box.sbx, box.spec
        config = {**spec.agent_config(), "run_id": spec.run_id}
        if box.program is None:
            sources = self._agent_sources()
            if self.program is not None:
                sources = {**sources, "__main__.py": self.program}
            for name, text in sources.items():
                await sbx.files.write(f"{REMOTE_DIR}/{AGENT_PACKAGE}/{name}", text)
            await sbx.files.write(f"{REMOTE_DIR}/agent.json", json.dumps(config))
            cmd = f"python3 -u -m {AGENT_PACKAGE} --config-file agent.json --marker {MARKER}:{spec.run_id}"
            cwd, envs = REMOTE_DIR, dict[str, str]()
        else:
            cmd, cwd, envs = await self._upload_program(box, box.program, config)

        def on_stdout(chunk: Any) -> None:
            self._lines(box, str(chunk))

        def on_stderr(chunk: Any) -> None:
            if box.program is not None:  # chunks cut lines anywhere: whole lines only
                box.stderr.extend(line for line in box.stderr_lines.feed(str(chunk)) if line.strip())

        run = sbx.commands.run
        # The SDK keeps all of a command's output in memory for its result unless told not to:
        # for an agent that runs all along (and may write 10 MB lines or a flood), it must not.
        keep = {"retain_output": False} if _accepts(run, "retain_output") else {}
        command = await run(
            cmd,
            background=True,
            timeout=0,
            stdin=True,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
            cwd=cwd,
            **({"envs": envs} if envs else {}),
            **keep,
        )
        box.command, box.pid = command, command.pid
        loop = asyncio.get_running_loop()
        box.tasks.append(loop.create_task(self._writer(box), name=f"stdin {box.handle.id}"))
        box.tasks.append(loop.create_task(self._waiter(box), name=f"wait {box.handle.id}"))
        if box.program is not None:
            loop.call_later(HELLO_DEADLINE_S, self._hello_deadline, box)

    def _workdir_files(self, program: AgentProgram) -> dict[str, bytes]:
        workdir = str(Path(program.workdir or os.getcwd()).resolve())
        if workdir not in self._workdirs:
            self._workdirs[workdir] = read_workdir(workdir)
        return self._workdirs[workdir]

    async def _upload_program(
        self, box: _Sandbox, program: AgentProgram, config: dict[str, Any]
    ) -> tuple[str, str, dict[str, str]]:
        """Upload a user's program and the helper module, run its setup; (command, cwd, env)."""
        sbx = box.sbx
        uploads: dict[str, str | bytes] = {f"{REMOTE_WORKDIR}/{k}": v for k, v in self._workdir_files(program).items()}
        uploads.update({f"{REMOTE_LIB}/{name}": text for name, text in helper_module_sources().items()})
        for path, data in uploads.items():
            await sbx.files.write(path, data)
        if program.setup:
            await self._setup(box, program.setup)
        envs = {
            **program.environment,
            CONFIG_VARIABLE: json.dumps(config, separators=(",", ":")),
            MARKER_VARIABLE: f"{MARKER}:{box.spec.run_id}",
            "PYTHONPATH": REMOTE_LIB,
            "PYTHONUNBUFFERED": "1",
        }
        return shlex.join(program.command), REMOTE_WORKDIR, envs

    async def _setup(self, box: _Sandbox, setup: str) -> None:
        """Run the program's setup command once in the sandbox; a failure is one line."""
        errors: deque[str] = deque(maxlen=8)
        try:
            await box.sbx.commands.run(
                setup,
                cwd=REMOTE_WORKDIR,
                timeout=SETUP_TIMEOUT_S,
                on_stderr=lambda chunk: errors.extend(str(chunk).splitlines()),
            )
        except Exception as exc:  # CommandExitException, timeouts, a dropped stream
            code = getattr(exc, "exit_code", None)
            said = next((line for line in reversed(errors) if line.strip()), "")
            why = f"exit code {code}" if code is not None else type(exc).__name__
            raise BackendError(
                scrub(f"setup {setup!r} failed in sandbox {box.handle.id}: {why}" + (f": {said[:200]}" if said else ""))
            ) from None

    def _hello_deadline(self, box: _Sandbox) -> None:
        """A user's program that has not said hello in time broke the protocol."""
        if not box.hello and not box.exited and not box.killed and not box.faulty:
            self._faulty(box, invalid(f"no hello within {HELLO_DEADLINE_S:g} s of the start"))

    # -- traffic ------------------------------------------------------------------------------------------
    def _lines(self, box: _Sandbox, chunk: str) -> None:
        """Output arrives in chunks; the agent speaks in lines.

        A line that is not a message (see :func:`~swarm_tui.engine.protocol.decode_line`), one
        over the length limit or one too many (a flood) is reported as an ``invalid`` message;
        from then on the agent is faulty and its output is ignored.
        """
        if box.killed or box.faulty:
            return
        overflows = box.lines.overflows
        lines = box.lines.feed(chunk)
        gate = box.gate
        for line in lines:
            if not gate.allow(len(line)):
                self._faulty(box, invalid(gate.reason))
                return
            msg = decode_line(line)
            if msg is None:
                continue
            mtype = msg.get("type")
            if mtype == INVALID:
                self._faulty(box, msg)
                return
            msg, delay = screen(box, msg, time.monotonic())
            if delay > 0:
                asyncio.get_running_loop().call_later(delay, self._deliver_late, box, msg)
                continue
            self._on_message(box.handle, msg)
        if box.lines.overflows != overflows:
            self._faulty(box, invalid(f"output line longer than {LINE_LIMIT} characters"))

    def _deliver_late(self, box: _Sandbox, msg: dict[str, Any]) -> None:
        if not box.killed and not box.exited and not box.faulty:
            self._on_message(box.handle, msg)

    def _faulty(self, box: _Sandbox, msg: dict[str, Any]) -> None:
        box.faulty = True
        box.lines = LineBuffer()  # let go of what it held
        self._on_message(box.handle, msg)

    def send(self, handle: SandboxHandle, message: dict[str, Any]) -> None:
        box = self._sandboxes.get(handle.id)
        if box is None or box.killed or box.exited:
            return
        if message.get("type") in _ASKS:
            box.gate.expect()  # its answer is not a flood
            if box.answers is not None:
                box.answers.note_sent(message, time.monotonic())
        box.outbox.append(json.dumps(message, separators=(",", ":")) + "\n")
        box.wake.set()

    async def _writer(self, box: _Sandbox) -> None:
        """One writer per sandbox: up to SENDS_IN_FLIGHT calls at once, whole lines in each.

        A serial writer makes a message that arrives during a call wait out that call's round
        trip; with several in flight it goes at once, and under a burst the queue is batched.
        """
        slots = asyncio.Semaphore(SENDS_IN_FLIGHT)
        lost: list[BaseException] = []

        async def send(data: str) -> None:
            try:
                await box.sbx.commands.send_stdin(box.pid, data)
            except Exception as exc:  # the stream or the sandbox is gone
                lost.append(exc)
                box.wake.set()
            finally:
                slots.release()

        calls: set[asyncio.Task[None]] = set()
        try:
            while not box.killed and not lost:
                await box.wake.wait()
                box.wake.clear()
                while box.outbox and not box.killed and not lost:
                    await slots.acquire()
                    data = "".join(box.outbox)
                    box.outbox.clear()
                    call = asyncio.get_running_loop().create_task(send(data))
                    calls.add(call)
                    call.add_done_callback(calls.discard)
            if lost:
                self._exit(box, scrub(f"stdin lost: {type(lost[0]).__name__}"))
        finally:
            for call in calls:
                call.cancel()

    async def _waiter(self, box: _Sandbox) -> None:
        try:
            result = await box.command.wait()
            reason = f"exit code {getattr(result, 'exit_code', '?')}"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # exit codes, dropped streams, dead sandboxes
            code = getattr(exc, "exit_code", None)
            reason = f"exit code {code}" if code is not None else scrub(f"stream lost: {type(exc).__name__}")
            if code == 137:
                reason = "killed at its memory limit (exit 137)"
        if box.program is not None:
            reason = await self._program_exit_reason(box, reason)
        self._exit(box, reason)

    async def _program_exit_reason(self, box: _Sandbox, reason: str) -> str:
        """A user's program ended: at its memory limit (a leak helper says so), before its hello,
        and what it last said on stderr."""
        if box.leaking is not None:
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(box.leaking), 1.0)
        if box.at_limit:
            return "killed at its memory limit (exit 137)"
        if not box.hello:
            reason += " before its hello"
        said = next((line for line in reversed(box.stderr) if line.strip()), "")
        said = "".join(c if c.isprintable() else " " for c in said.strip())
        return scrub(f"{reason}: {said[:200]}" if said else reason)

    def _exit(self, box: _Sandbox, reason: str) -> None:
        if box.killed or box.exited:
            return
        box.exited = True
        self._on_exit(box.handle, reason)

    async def _keep_alive(self) -> None:
        """While the run lasts, keep every sandbox's timeout a few refreshes ahead."""
        period = max(1.0, self.sandbox_timeout_s / 3)
        while True:
            await asyncio.sleep(period)
            boxes = [b for b in self._sandboxes.values() if not b.killed and not b.exited]
            await asyncio.gather(*(b.sbx.set_timeout(self.sandbox_timeout_s) for b in boxes), return_exceptions=True)

    async def metrics(self, handle: SandboxHandle) -> SandboxMetrics:
        box = self._sandboxes.get(handle.id)
        if box is None or box.exited or box.killed:
            return SandboxMetrics(alive=False)
        try:
            entries = await box.sbx.get_metrics()
        except Exception:  # metrics are best effort
            return SandboxMetrics(alive=True, mem_limit_mb=box.spec.memory_limit_mb)
        if not entries:
            return SandboxMetrics(alive=True, mem_limit_mb=box.spec.memory_limit_mb)
        last = entries[-1]
        return SandboxMetrics(
            cpu_pct=round(float(last.cpu_used_pct), 1),
            mem_mb=round(float(last.mem_used) / (1 << 20), 1),
            mem_limit_mb=box.spec.memory_limit_mb,
            alive=True,
        )

    async def inject(self, handle: SandboxHandle, fault: Fault) -> None:
        box = self._sandboxes.get(handle.id)
        if box is None or box.exited or box.killed:
            return
        if fault.kind == "crash":
            # The whole sandbox dies, as when a machine goes away.
            with contextlib.suppress(Exception):
                await box.sbx.kill()
            return
        how = how_to_do(fault, box.program is not None, box.claims, box.spec.memory_limit_mb)
        if how == SELF:
            self.send(handle, fault.command())  # the agent performs it itself
        elif how == ANSWERS:
            if box.answers is None:
                box.answers = AnswerFaults(f"{handle.agent_id}:{handle.id}")
            box.answers.apply(fault, time.monotonic())
        elif isinstance(how, tuple):  # a helper beside the agent
            script, args = how
            task = await self._helper(box, script, *args)
            if script == LEAK_SCRIPT:
                box.leaking = task

    async def _helper(self, box: _Sandbox, script: str, *args: float) -> asyncio.Task[None] | None:
        """Start a helper script beside the agent in its sandbox; a task that ends with it."""
        if box.pid is None:
            return None
        await box.sbx.files.write(f"{REMOTE_DIR}/helper-{len(box.tasks)}.py", script)
        words = " ".join(f"{a:g}" for a in args)
        command = f"python3 {REMOTE_DIR}/helper-{len(box.tasks)}.py {box.pid} {words}"
        said: list[str] = []
        try:
            handle = await box.sbx.commands.run(
                command, background=True, timeout=0, on_stdout=lambda chunk: said.append(str(chunk))
            )
        except Exception as exc:  # no python3 in the sandbox, a dropped stream
            raise BackendError(scrub(f"cannot start a fault helper in sandbox {box.handle.id}: {exc}")) from None

        async def watch() -> None:
            with contextlib.suppress(Exception):
                await handle.wait()
            if LIMIT_LINE in "".join(said):
                box.at_limit = True

        task = asyncio.get_running_loop().create_task(watch(), name=f"helper {box.handle.id}")
        box.tasks.append(task)
        return task

    def fault_methods(self, claims: frozenset[str] | None) -> dict[str, str]:
        out = super().fault_methods(claims)
        for kind, how in out.items():
            if not how.startswith("not possible"):
                continue
            if kind in ANSWER_FAULTS:
                out[kind] = "from outside: the backend changes its answers on their way"
            elif kind == "cpu-spike":
                out[kind] = "from outside: a helper in the sandbox freezes it 1-1/factor of every 100 ms"
            elif kind == "memory-leak":
                out[kind] = "from outside: a helper in the sandbox allocates; killed at the limit"
        return out

    # -- teardown -------------------------------------------------------------------------------------------
    async def kill(self, handle: SandboxHandle, reason: str = "") -> None:
        box = self._sandboxes.pop(handle.id, None)
        if box is not None:
            await self._kill(box)

    async def _kill(self, box: _Sandbox) -> None:
        """Kill a sandbox. The kill runs as a task of its own: a caller that gives up (a hurried
        teardown) does not stop it, and a second caller waits for the same kill to finish."""
        if box.kill_task is None:
            box.killed = True
            box.wake.set()
            box.kill_task = asyncio.get_running_loop().create_task(self._do_kill(box), name=f"kill {box.handle.id}")
        await asyncio.shield(box.kill_task)

    async def _do_kill(self, box: _Sandbox) -> None:
        for task in box.tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(box.sbx.kill(), 15.0)
        for task in box.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._sandboxes.pop(box.handle.id, None)
        self._slots.release()

    async def close(self) -> None:
        boxes = list(self._sandboxes.values())
        await asyncio.gather(*(self._kill(b) for b in boxes), return_exceptions=True)
        await self._kill_abandoned()
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._keepalive
            self._keepalive = None

    async def _kill_abandoned(self) -> None:
        """Wait for the answers to abandoned create requests and kill the sandboxes they made
        (in a task of its own, like a kill: a hurried second close() waits for the same one)."""
        if self._abandoned:
            abandoned, self._abandoned = self._abandoned, []
            self._reaping.append(asyncio.get_running_loop().create_task(self._reap(abandoned), name="e2b reap"))
        if self._reaping:
            await asyncio.shield(asyncio.gather(*self._reaping, return_exceptions=True))

    async def _reap(self, abandoned: list[asyncio.Task[Any]]) -> None:
        done, pending = await asyncio.wait(abandoned, timeout=ABANDONED_WAIT_S)
        for task in pending:
            task.cancel()  # no answer in time: the sandbox expires on its own short timeout

        async def kill(task: asyncio.Task[Any]) -> None:
            if not task.cancelled() and task.exception() is None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task.result().kill(), 15.0)

        await asyncio.gather(*(kill(t) for t in done), return_exceptions=True)
        for _ in abandoned:
            self._slots.release()

    def alive_count(self) -> int:
        return sum(1 for b in self._sandboxes.values() if not b.killed and not b.exited)

    async def list_owned(self) -> list[OwnedSandbox]:
        return await list_tagged_sandboxes()

    @classmethod
    async def leftovers(cls) -> Leftovers:
        if not os.environ.get("E2B_API_KEY"):
            return Leftovers(notes=["E2B: skipped (E2B_API_KEY is not set)"])
        from e2b.exceptions import AuthenticationException

        try:
            return Leftovers(items=await list_tagged_sandboxes())
        except AuthenticationException:
            raise BackendError("E2B rejected the API key (401): check E2B_API_KEY") from None
        except Exception as exc:
            raise BackendError(scrub(f"cannot list E2B sandboxes: {type(exc).__name__}: {exc}")) from None

    @classmethod
    async def kill_leftover(cls, item: OwnedSandbox) -> bool:
        return item.backend == "e2b" and await kill_sandbox(item.id)


async def list_tagged_sandboxes() -> list[OwnedSandbox]:
    """Every running sandbox tagged app=swarm-tui (for `swarm-tui cleanup`)."""
    from datetime import UTC, datetime

    from e2b import AsyncSandbox
    from e2b.sandbox.sandbox_api import SandboxQuery

    out: list[OwnedSandbox] = []
    paginator = AsyncSandbox.list(query=SandboxQuery(metadata={"app": APP_TAG}))
    now = datetime.now(UTC)
    while paginator.has_next:
        for info in await paginator.next_items():
            started = info.started_at if info.started_at.tzinfo else info.started_at.replace(tzinfo=UTC)
            meta = info.metadata or {}
            out.append(
                OwnedSandbox(
                    id=info.sandbox_id,
                    backend="e2b",
                    agent_id=meta.get("agent_id", ""),
                    run_id=meta.get("run_id", ""),
                    age_s=(now - started).total_seconds(),
                    detail=f"template {info.template_id}",
                )
            )
    return out


async def kill_sandbox(sandbox_id: str) -> bool:
    from e2b import AsyncSandbox

    return bool(await AsyncSandbox.kill(sandbox_id))
