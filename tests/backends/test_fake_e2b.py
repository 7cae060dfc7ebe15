"""The loopback E2B fake, exercised through the real ``e2b`` SDK (``AsyncSandbox``), unmodified.

The SDK is pointed at the fake only through its own environment variables. Every test must leave no sandbox
alive and no process running; the ``fake`` fixture checks it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Iterator

import httpx
import psutil
import pytest
from e2b import (
    AsyncSandbox,
    AuthenticationException,
    CommandExitException,
    FileNotFoundException,
    InvalidArgumentException,
    RateLimitException,
    SandboxNotFoundException,
    SandboxNotRunningException,
    SandboxQuery,
    SandboxState,
    SandboxUnreachableException,
    ServiceBusyException,
    TimeoutException,
)
from e2b.envd.process import process_pb
from fake_e2b import FakeE2B
from protobuf import Oneof

from swarm_tui.session.agent_process import tree_cpu_seconds

APP = {"app": "swarm-tui"}
CREATE = "POST", "/v2/sandboxes"

# A long-running agent talking line-delimited JSON over stdin/stdout.
ECHO_PROGRAM = """\
import json, os, sys
print(json.dumps({"event": "ready", "role": os.environ.get("AGENT_ROLE")}), flush=True)
for line in sys.stdin:
    print(json.dumps({"echo": json.loads(line)}), flush=True)
print(json.dumps({"event": "bye"}), flush=True)
"""

GRACEFUL_PROGRAM = """\
import signal, time
stopping = []
signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
print("ready", flush=True)
deadline = time.time() + 30
while not stopping and time.time() < deadline:
    time.sleep(0.01)
print("got SIGTERM" if stopping else "timed out", flush=True)
"""


# ------------------------------------------------------------------------------------------------ helpers


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeE2B]:
    """A running fake with the SDK's environment pointing at it; checks that the test cleaned up."""
    server = FakeE2B().start()
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    try:
        yield server
        deadline = time.monotonic() + 3
        while (server.alive_count() or server.live_processes()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.alive_count() == 0, "test left sandboxes alive"
        assert server.live_processes() == [], "test left processes running"
    finally:
        server.stop()
        assert server.live_processes() == []


async def eventually(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    """Wait until ``predicate()`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def listed_ids(query: SandboxQuery | None = None, limit: int | None = None) -> list[str]:
    """IDs of every sandbox the SDK's paginator returns."""
    paginator = AsyncSandbox.list(query=query, limit=limit)
    ids: list[str] = []
    while paginator.has_next:
        ids += [info.sandbox_id for info in await paginator.next_items()]
    return ids


def pid_running(pid: int) -> bool:
    """Whether a host process runs (zombies count as dead)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def start_echo(sandbox: AsyncSandbox, lines: asyncio.Queue[str], **envs: str):
    """Upload and start the echo agent in the background; returns its handle once it said it is ready."""
    await sandbox.files.write("/home/user/agent/echo.py", ECHO_PROGRAM)
    handle = await sandbox.commands.run(
        "python3 echo.py",
        background=True,
        timeout=0,
        stdin=True,
        cwd="/home/user/agent",
        envs=envs,
        on_stdout=lines.put_nowait,
    )
    ready = json.loads(await asyncio.wait_for(lines.get(), 5))
    assert ready["event"] == "ready"
    return handle, ready


# ----------------------------------------------------------------------------------------- control plane


async def test_create_info_connect_list_and_kill(fake: FakeE2B) -> None:
    sandbox = await AsyncSandbox.create(
        template="base", timeout=60, metadata={**APP, "run": "r1"}, envs={"SWARM_MODE": "test"}
    )
    other = await AsyncSandbox.create(template="base", timeout=60, metadata={"app": "something-else"})

    state = fake.sandboxes[sandbox.sandbox_id]
    assert state.alive and state.template == "base" and state.metadata == {**APP, "run": "r1"}
    assert 59 <= (state.expires_at - state.created_at).total_seconds() <= 60
    assert fake.created_total == 2 and fake.alive_count() == 2

    info = await sandbox.get_info()
    assert info.sandbox_id == sandbox.sandbox_id and info.template_id == "base"
    assert info.metadata == {**APP, "run": "r1"} and info.state == SandboxState.RUNNING
    assert info.end_at == state.expires_at

    again = await AsyncSandbox.connect(sandbox.sandbox_id)
    assert (await again.commands.run("echo $SWARM_MODE")).stdout == "test\n"

    assert await listed_ids(SandboxQuery(metadata=APP)) == [sandbox.sandbox_id]
    assert sorted(await listed_ids(limit=1)) == sorted([sandbox.sandbox_id, other.sandbox_id])

    assert await sandbox.kill() is True
    assert await AsyncSandbox.kill(other.sandbox_id) is True
    assert await AsyncSandbox.kill(other.sandbox_id) is False
    assert await listed_ids(SandboxQuery(metadata=APP)) == []
    with pytest.raises(SandboxNotFoundException):
        await sandbox.get_info()
    assert not state.alive and state.end_reason == "killed"
    assert ("DELETE", f"/sandboxes/{other.sandbox_id}", 404) in fake.request_log


async def test_sandbox_expires_when_its_timeout_passes(fake: FakeE2B) -> None:
    sandbox = await AsyncSandbox.create(timeout=1, metadata=APP)
    handle = await sandbox.commands.run("sleep 30", background=True, timeout=0)

    with pytest.raises(SandboxNotRunningException):
        await asyncio.wait_for(handle.wait(), 5)
    state = fake.sandboxes[sandbox.sandbox_id]
    assert not state.alive and state.end_reason == "expired"
    assert not pid_running(handle.pid)
    assert await sandbox.is_running() is False
    with pytest.raises(SandboxNotFoundException):
        await sandbox.get_info()
    with pytest.raises(SandboxNotRunningException):
        await sandbox.commands.run("echo too late")
    assert await listed_ids(SandboxQuery(metadata=APP)) == []


async def test_set_timeout_extends_the_lifetime(fake: FakeE2B) -> None:
    sandbox = await AsyncSandbox.create(timeout=1)
    await sandbox.set_timeout(5)
    info = await sandbox.get_info()
    assert 4 <= (info.end_at - info.started_at).total_seconds() <= 6

    await asyncio.sleep(1.3)  # past the original timeout
    assert fake.sandboxes[sandbox.sandbox_id].alive
    assert (await sandbox.commands.run("echo still here")).stdout == "still here\n"

    await AsyncSandbox.connect(sandbox.sandbox_id, timeout=1)  # connect never shortens a running sandbox
    assert (await sandbox.get_info()).end_at == info.end_at
    await sandbox.kill()


async def test_get_metrics_reports_the_sandbox_processes(fake: FakeE2B) -> None:
    """The CPU figure follows the sandbox's processes: near nothing while one sleeps, clearly more
    once one spins. Judged against the rest figure, not a fixed share of a core: a loaded machine
    gave a spinning process 6 % of two cores in a CI run (and a late start gives it less)."""
    sandbox = await AsyncSandbox.create()
    try:
        await sandbox.commands.run("sleep 30", background=True, timeout=0)
        first = await sandbox.get_metrics()
        await asyncio.sleep(0.3)
        rest = (await sandbox.get_metrics())[-1]
        busy = await sandbox.commands.run(
            "python3 -c 'import time\nend = time.time() + 30\nwhile time.time() < end: pass'",
            background=True,
            timeout=0,
        )
        deadline = time.monotonic() + 20
        while tree_cpu_seconds(busy.pid) < 0.1 and time.monotonic() < deadline:  # it has started spinning
            await asyncio.sleep(0.05)
        await sandbox.get_metrics()
        await asyncio.sleep(0.3)
        history = await sandbox.get_metrics()

        assert len(first) == 1 and len(history) == 4
        spinning = history[-1]
        assert spinning.cpu_count == 2
        assert rest.cpu_used_pct < 1.0, rest  # a sleeping process
        assert max(2 * rest.cpu_used_pct, rest.cpu_used_pct + 1.0) < spinning.cpu_used_pct <= 100, (rest, spinning)
        assert 1024 * 1024 < spinning.mem_used <= spinning.mem_total
        assert spinning.disk_used <= spinning.disk_total
        assert await busy.kill() is True
    finally:
        await sandbox.kill()


# ------------------------------------------------------------------------------------------------ files


async def test_files_write_read_list_and_what_commands_see(fake: FakeE2B) -> None:
    sandbox = await AsyncSandbox.create()
    root = fake.sandboxes[sandbox.sandbox_id].root

    info = await sandbox.files.write("/home/user/notes.txt", "hello")
    assert info.path == "/home/user/notes.txt" and info.name == "notes.txt"
    relative = await sandbox.files.write("data/blob.bin", b"\x00\x01\xff")
    assert relative.path == "/home/user/data/blob.bin"
    many = await sandbox.files.write_files(
        [{"path": "/tmp/a.txt", "data": "A"}, {"path": "b.txt", "data": b"B"}]  # type: ignore[list-item]
    )
    assert [entry.path for entry in many] == ["/tmp/a.txt", "/home/user/b.txt"]

    assert await sandbox.files.read("notes.txt") == "hello"
    assert await sandbox.files.read("/home/user/data/blob.bin", format="bytes") == bytearray(b"\x00\x01\xff")
    assert (root / "home/user/notes.txt").read_text() == "hello"
    assert (root / "tmp/a.txt").read_text() == "A"
    with pytest.raises(FileNotFoundException):
        await sandbox.files.read("missing.txt")

    assert await sandbox.files.make_dir("/home/user/work/deep") is True
    assert await sandbox.files.make_dir("work/deep") is False
    assert await sandbox.files.exists("work/deep") is True
    assert await sandbox.files.exists("/home/user/nope") is False
    entries = {entry.name: entry for entry in await sandbox.files.list("/home/user")}
    assert {"notes.txt", "data", "b.txt", "work"} <= entries.keys()
    assert entries["work"].type is not None and entries["work"].type.value == "dir"

    result = await sandbox.commands.run("cat /home/user/notes.txt /tmp/a.txt b.txt && wc -c < data/blob.bin")
    assert result.stdout == "helloAB3\n"
    await sandbox.kill()


# --------------------------------------------------------------------------------------------- commands


async def test_foreground_commands(fake: FakeE2B) -> None:
    sandbox = await AsyncSandbox.create(envs={"LEVEL": "sandbox"})

    result = await sandbox.commands.run("echo hi")
    assert (result.stdout, result.stderr, result.exit_code) == ("hi\n", "", 0)

    result = await sandbox.commands.run('echo "$LEVEL $EXTRA"; echo oops >&2', envs={"EXTRA": "command"})
    assert (result.stdout, result.stderr) == ("sandbox command\n", "oops\n")

    await sandbox.files.make_dir("/home/user/project")
    result = await sandbox.commands.run("pwd; echo $HOME", cwd="/home/user/project")
    state = fake.sandboxes[sandbox.sandbox_id]
    assert result.stdout.split() == [str(state.host_path("/home/user/project")), str(state.host_path("/home/user"))]

    result = await sandbox.commands.run("python3 -c 'import sys; print(sys.executable)'")
    assert result.stdout.strip() == sys.executable

    with pytest.raises(CommandExitException) as failed:
        await sandbox.commands.run("echo partial; exit 3")
    assert (failed.value.exit_code, failed.value.stdout, failed.value.error) == (3, "partial\n", "exit status 3")
    with pytest.raises(InvalidArgumentException, match="does not exist"):
        await sandbox.commands.run("true", cwd="/home/user/missing")
    await sandbox.kill()


async def test_background_program_talks_json_lines_over_stdin_stdout(fake: FakeE2B) -> None:
    sandbox = await AsyncSandbox.create(metadata=APP)
    lines: asyncio.Queue[str] = asyncio.Queue()
    handle, ready = await start_echo(sandbox, lines, AGENT_ROLE="trader")
    assert ready["role"] == "trader"

    latencies = []
    for seq in range(5):
        sent = time.monotonic()
        await sandbox.commands.send_stdin(handle.pid, json.dumps({"seq": seq}) + "\n")
        reply = await asyncio.wait_for(lines.get(), 2)
        latencies.append(time.monotonic() - sent)
        assert json.loads(reply) == {"echo": {"seq": seq}}  # one callback per line, while the program runs
    assert max(latencies) < 1.0
    await handle.send_stdin(json.dumps({"via": "handle"}) + "\n")
    assert json.loads(await asyncio.wait_for(lines.get(), 2)) == {"echo": {"via": "handle"}}

    await handle.close_stdin()  # EOF: the program says bye and exits
    result = await asyncio.wait_for(handle.wait(), 5)
    assert result.exit_code == 0
    assert json.loads(result.stdout.splitlines()[-1]) == {"event": "bye"}
    await sandbox.kill()


async def test_kill_with_sigkill_and_sigterm(fake: FakeE2B) -> None:
    sandbox = await AsyncSandbox.create()

    sleeper = await sandbox.commands.run("sleep 30", background=True, timeout=0)
    assert await sandbox.commands.kill(sleeper.pid) is True
    with pytest.raises(CommandExitException) as killed:
        await asyncio.wait_for(sleeper.wait(), 5)
    assert (killed.value.exit_code, killed.value.error) == (-1, "signal: killed")
    assert await sandbox.commands.kill(sleeper.pid) is False  # envd forgets finished processes
    assert not pid_running(sleeper.pid)

    # SIGTERM goes through the same process service; the SDK's own generated client sends it.
    await sandbox.files.write("graceful.py", GRACEFUL_PROGRAM)
    lines: asyncio.Queue[str] = asyncio.Queue()
    graceful = await sandbox.commands.run("python3 graceful.py", background=True, timeout=0, on_stdout=lines.put_nowait)
    assert await asyncio.wait_for(lines.get(), 5) == "ready\n"
    await sandbox.commands._rpc.send_signal(
        process_pb.SendSignalRequest(
            process=process_pb.ProcessSelector(selector=Oneof("pid", graceful.pid)),
            signal=process_pb.Signal.SIGTERM,
        )
    )
    result = await asyncio.wait_for(graceful.wait(), 5)
    assert (result.exit_code, result.stdout) == (0, "ready\ngot SIGTERM\n")

    other = await sandbox.commands.run("sleep 30", background=True, timeout=0)
    assert await other.kill() is True
    with pytest.raises(CommandExitException):
        await other.wait()
    assert ("POST", "/process.Process/SendSignal", 200) in fake.request_log
    await sandbox.kill()


async def test_command_timeout_kills_the_command(fake: FakeE2B) -> None:
    sandbox = await AsyncSandbox.create()
    # envd kills the command when the call's deadline passes; the client's own deadline may fire first.
    with pytest.raises((CommandExitException, TimeoutException)):
        await sandbox.commands.run("sleep 10", timeout=0.5)
    state = fake.sandboxes[sandbox.sandbox_id]
    await eventually(lambda: not state.processes)
    assert state.process_history[-1].end is not None
    await sandbox.kill()


# ------------------------------------------------------------------------------------------------ faults


async def test_wrong_or_rejected_key_raises_authentication_error(fake: FakeE2B) -> None:
    with pytest.raises(AuthenticationException):
        await AsyncSandbox.create(api_key="e2b_wrong_key")
    assert fake.created_total == 0 and ("POST", "/v2/sandboxes", 401) in fake.request_log

    sandbox = await AsyncSandbox.create()
    fake.reject_key()
    with pytest.raises(AuthenticationException):
        await listed_ids()
    with pytest.raises(AuthenticationException):
        await sandbox.commands.run("echo hi")
    with pytest.raises(AuthenticationException):
        await sandbox.files.read("anything")
    with pytest.raises(AuthenticationException):
        await sandbox.kill()
    fake.accept_key()
    assert await sandbox.kill() is True


async def test_rate_limited_creates_are_retried_by_the_sdk(fake: FakeE2B) -> None:
    fake.fail_creates(3, status=429)
    sandbox = await AsyncSandbox.create(metadata=APP)  # the SDK retries 3 times by default
    assert [status for *call, status in fake.request_log if tuple(call) == CREATE] == [429, 429, 429, 201]
    await sandbox.kill()

    fake.fail_creates(4, status=429)
    with pytest.raises(RateLimitException):
        await AsyncSandbox.create()

    fake.fail_creates(1, status=429, retry_after=1)
    started = time.monotonic()
    await (await AsyncSandbox.create()).kill()
    assert time.monotonic() - started >= 0.9  # Retry-After was honoured

    fake.fail_creates(1, status=429, should_retry=False)
    with pytest.raises(RateLimitException):
        await AsyncSandbox.create()
    assert fake.created_total == 2 and fake.alive_count() == 0


async def test_service_busy_creates(fake: FakeE2B) -> None:
    fake.fail_creates(2, status=503)
    await (await AsyncSandbox.create()).kill()
    assert [status for *call, status in fake.request_log if tuple(call) == CREATE] == [503, 503, 201]

    fake.fail_creates(1, status=503)
    with pytest.raises(ServiceBusyException):
        await AsyncSandbox.create(retries=0)


async def test_slow_create_times_out_but_the_sandbox_still_appears(fake: FakeE2B) -> None:
    fake.slow_create(1.0)
    with pytest.raises(httpx.TimeoutException):  # the SDK does not wrap this one
        await AsyncSandbox.create(metadata=APP, request_timeout=0.3)
    fake.slow_create(0)
    await eventually(lambda: fake.alive_count() == 1)
    for orphan in await listed_ids(SandboxQuery(metadata=APP)):  # how an app finds and reaps it
        assert await AsyncSandbox.kill(orphan) is True


async def test_kill_from_outside(fake: FakeE2B) -> None:
    sandbox = await AsyncSandbox.create(metadata=APP)
    lines: asyncio.Queue[str] = asyncio.Queue()
    handle, _ = await start_echo(sandbox, lines)

    assert fake.kill_from_outside(sandbox.sandbox_id) is True
    with pytest.raises(SandboxNotRunningException):
        await asyncio.wait_for(handle.wait(), 5)  # the output stream ends with an error
    assert not pid_running(handle.pid)
    assert fake.sandboxes[sandbox.sandbox_id].end_reason == "killed_from_outside"

    with pytest.raises(SandboxNotRunningException):
        await sandbox.commands.send_stdin(handle.pid, "{}\n")
    with pytest.raises(SandboxNotRunningException):
        await sandbox.files.write("x.txt", "x")
    with pytest.raises(SandboxNotFoundException):
        await sandbox.get_info()
    with pytest.raises(SandboxNotFoundException):
        await AsyncSandbox.connect(sandbox.sandbox_id)
    assert await sandbox.is_running() is False
    assert await sandbox.kill() is False
    assert await listed_ids(SandboxQuery(metadata=APP)) == []


async def test_dropped_stream_ends_while_the_process_lives_on(fake: FakeE2B) -> None:
    sandbox = await AsyncSandbox.create()
    lines: asyncio.Queue[str] = asyncio.Queue()
    handle, _ = await start_echo(sandbox, lines)
    process = fake.sandboxes[sandbox.sandbox_id].processes[handle.pid]

    assert fake.drop_streams(sandbox.sandbox_id) == 1
    with pytest.raises(SandboxUnreachableException):
        await asyncio.wait_for(handle.wait(), 5)
    assert process.running and pid_running(handle.pid)

    # Reconnect to the same process and carry on.
    relines: asyncio.Queue[str] = asyncio.Queue()
    again = await sandbox.commands.connect(handle.pid, timeout=0, on_stdout=relines.put_nowait)
    await sandbox.commands.send_stdin(handle.pid, '{"after": "drop"}\n')
    assert json.loads(await asyncio.wait_for(relines.get(), 2)) == {"echo": {"after": "drop"}}
    assert lines.empty()  # the dropped stream got nothing more

    # A stream cut without Connect's end-of-stream message surfaces differently.
    assert fake.drop_streams(sandbox.sandbox_id, mode="eof") == 1
    with pytest.raises(Exception, match="without an end event"):
        await asyncio.wait_for(again.wait(), 5)
    assert process.running

    assert await sandbox.commands.kill(handle.pid) is True
    await eventually(lambda: not process.running)
    await sandbox.kill()
