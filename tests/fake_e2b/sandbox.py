"""One fake sandbox: its filesystem root on the host, its lifetime and the commands it runs."""

from __future__ import annotations

import asyncio
import os
import posixpath
import re
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from .connect import RpcError
from .processes import FakeProcess

DEFAULT_USER = "user"
SANDBOX_DIRS = ("home/user", "root", "tmp")
"""Directories every sandbox root starts with."""

_SHELLS = {"/bin/bash", "/usr/bin/bash", "bash", "/bin/sh", "/usr/bin/sh", "sh"}
_LOGIN_FLAGS = {"-l", "--login"}
# An absolute path at the start of a shell word (or after `=`, `:` or `(`), e.g. /home/user/app.py in
# `cd /home/user && python3 /home/user/app.py` or `PYTHONPATH=/home/user/lib`.
_ABSOLUTE_PATH = re.compile(r"(?<![^\s'\"=:(])/(?P<top>[A-Za-z0-9._-]+)")
MIB = 1024 * 1024


def home_of(user: str) -> str:
    """Home directory of a sandbox user, as the sandbox sees it."""
    return "/root" if user == "root" else f"/home/{user}"


@dataclass
class MetricSample:
    """One point of ``GET /sandboxes/{id}/metrics``."""

    timestamp: datetime
    cpu_count: int
    cpu_used_pct: float
    mem_used: int
    mem_total: int
    mem_cache: int
    disk_used: int
    disk_total: int

    def to_wire(self) -> dict[str, Any]:
        """The ``SandboxMetric`` JSON object of the control-plane API."""
        return {
            "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
            "timestampUnix": int(self.timestamp.timestamp()),
            "cpuCount": self.cpu_count,
            "cpuUsedPct": self.cpu_used_pct,
            "memUsed": self.mem_used,
            "memTotal": self.mem_total,
            "memCache": self.mem_cache,
            "diskUsed": self.disk_used,
            "diskTotal": self.disk_total,
        }


@dataclass
class FakeSandbox:
    """State of one sandbox, for the fake's handlers and for test assertions."""

    sandbox_id: str
    template: str
    metadata: dict[str, str]
    env_vars: dict[str, str]
    root: Path
    """Host directory standing for the sandbox's ``/``."""
    access_token: str
    created_at: datetime
    expires_at: datetime
    cpu_count: int = 2
    memory_mb: int = 512
    disk_size_mb: int = 1024
    alive: bool = True
    ended_at: datetime | None = None
    end_reason: str | None = None
    """``"killed"`` (DELETE), ``"expired"``, ``"killed_from_outside"`` or ``"fake_stopped"`` once dead."""
    processes: dict[int, FakeProcess] = field(default_factory=dict)
    """Commands currently running, by PID (envd forgets a command once it has finished)."""
    process_history: list[FakeProcess] = field(default_factory=list)
    """Every command ever started in this sandbox, finished or not."""
    metrics_history: list[MetricSample] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict, repr=False)
    """Variables the fake adds to every command (PATH shim, instance marker)."""
    _expiry: asyncio.TimerHandle | None = field(default=None, repr=False)
    _cpu_probes: dict[int, psutil.Process] = field(default_factory=dict, repr=False)

    # ----------------------------------------------------------------------------------------------- paths

    def resolve(self, path: str, user: str = DEFAULT_USER) -> tuple[str, Path]:
        """Map a path given to envd to ``(sandbox path, host path)``.

        ``~`` and relative paths resolve against the user's home, as envd does. ``..`` cannot climb above the
        sandbox root.
        """
        home = home_of(user)
        if path == "~" or path.startswith("~/"):
            path = home + path[1:]
        if not path.startswith("/"):
            path = posixpath.join(home, path) if path else home
        sandbox_path = posixpath.normpath(path)
        if sandbox_path.startswith("//"):
            sandbox_path = "/" + sandbox_path.lstrip("/")
        return sandbox_path, self.root / sandbox_path.lstrip("/")

    def sandbox_path_of(self, host_path: Path) -> str:
        """The sandbox path of a host path under the root."""
        relative = host_path.relative_to(self.root).as_posix()
        return "/" if relative == "." else f"/{relative}"

    def host_path(self, path: str, user: str = DEFAULT_USER) -> Path:
        """Host location of a sandbox path (handy in tests)."""
        return self.resolve(path, user)[1]

    def rewrite_paths(self, text: str) -> str:
        """Point absolute paths under the sandbox's top-level directories (``/home``, ``/tmp``, ...) to the host.

        Only paths whose first component exists in the sandbox root are touched, so ``/bin/echo`` or
        ``/dev/null`` keep meaning the host's.
        """
        tops = {entry.name for entry in self.root.iterdir()}

        def replace(match: re.Match[str]) -> str:
            return f"{self.root}{match.group(0)}" if match.group("top") in tops else match.group(0)

        return _ABSOLUTE_PATH.sub(replace, text)

    # ---------------------------------------------------------------------------------------------- commands

    def command_argv(self, cmd: str, args: list[str]) -> list[str]:
        """The host argv for a command envd was asked to run.

        The SDK runs ``/bin/bash -l -c <cmd>``. The login flag is dropped: the host's ``/etc/profile`` would
        reset ``PATH`` and lose the ``python3`` shim. The script and other arguments get their sandbox paths
        rewritten (see :meth:`rewrite_paths`).
        """
        if cmd in _SHELLS:
            args = [arg for arg in args if arg not in _LOGIN_FLAGS]
        return [cmd, *(self.rewrite_paths(arg) for arg in args)]

    def command_env(self, user: str, envs: dict[str, str]) -> dict[str, str]:
        """Environment of a command: envd's base variables, the sandbox's, then the command's own."""
        home = self.host_path(home_of(user), user)
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": str(home),
            "USER": user,
            "LOGNAME": user,
            "TMPDIR": str(self.root / "tmp"),
            "E2B_SANDBOX": "true",
            "E2B_SANDBOX_ID": self.sandbox_id,
            "E2B_TEMPLATE_ID": self.template,
        }
        for key, value in self.extra_env.items():
            env[key] = f"{value}:{env[key]}" if key == "PATH" else value
        env.update({key: self.rewrite_paths(value) for key, value in self.env_vars.items()})
        env.update({key: self.rewrite_paths(value) for key, value in envs.items()})
        return env

    def find_process(self, selector: dict[str, Any]) -> FakeProcess:
        """The running process a ``ProcessSelector`` (``{"pid": n}`` or ``{"tag": s}``) points at."""
        if "pid" in selector:
            pid = int(selector["pid"])
            if pid in self.processes:
                return self.processes[pid]
            raise RpcError("not_found", f"process with pid {pid} not found")
        if "tag" in selector:
            for process in self.processes.values():
                if process.tag == selector["tag"]:
                    return process
            raise RpcError("not_found", f"process with tag {selector['tag']} not found")
        raise RpcError("unimplemented", "invalid input type <nil>")

    async def forget_when_done(self, process: FakeProcess) -> None:
        """Drop a finished process from :attr:`processes`, as envd does once it reaped it."""
        await process.wait_finished()
        if self.processes.get(process.pid) is process:
            del self.processes[process.pid]

    # --------------------------------------------------------------------------------------------- lifetime

    def schedule_expiry(self, loop: asyncio.AbstractEventLoop, on_expire: Any) -> None:
        """(Re)arm the timer killing the sandbox at :attr:`expires_at`."""
        if self._expiry is not None:
            self._expiry.cancel()
        delay = max(0.0, (self.expires_at - datetime.now(UTC)).total_seconds())
        self._expiry = loop.call_later(delay, on_expire, self)

    def set_timeout(self, seconds: float, loop: asyncio.AbstractEventLoop, on_expire: Any) -> None:
        """Make the sandbox expire ``seconds`` from now."""
        self.expires_at = datetime.now(UTC) + timedelta(seconds=seconds)
        self.schedule_expiry(loop, on_expire)

    async def shut_down(self, reason: str) -> bool:
        """Kill the sandbox: its streams end with an error, its processes die. False if it was already dead."""
        if not self.alive:
            return False
        self.alive = False
        self.ended_at = datetime.now(UTC)
        self.end_reason = reason
        if self._expiry is not None:
            self._expiry.cancel()
        message = f"the connection to sandbox {self.sandbox_id} ended before the stream completed"
        # As with a real sandbox, its processes are gone by the time a client sees its streams
        # end: silenced, killed and reaped first, then the streams end with the error.
        running = [process for process in self.process_history if process.running]
        for process in running:
            process.mute()
        for process in self.process_history:
            process.send_signal(signal.SIGKILL, even_if_finished=True)
        try:
            if running:
                await asyncio.wait_for(asyncio.gather(*(p.wait_finished() for p in running)), timeout=10)
        finally:
            for process in running:
                process.sandbox_gone(message)
            self.processes.clear()
        return True

    # ---------------------------------------------------------------------------------------------- metrics

    def sample_metrics(self) -> MetricSample:
        """Measure the sandbox's processes now (CPU relative to the sandbox's CPUs, RSS) and record it."""
        cpu = 0.0
        rss = 0
        seen: set[int] = set()
        for process in list(self.processes.values()):
            try:
                leader = psutil.Process(process.pid)
                members = [leader, *leader.children(recursive=True)]
            except psutil.Error:
                continue
            for member in members:
                if member.pid in seen:
                    continue
                seen.add(member.pid)
                try:
                    cpu += self._cpu_percent(member)
                    rss += member.memory_info().rss
                except psutil.Error:
                    continue
        disk = sum(path.stat().st_size for path in self.root.rglob("*") if path.is_file() and not path.is_symlink())
        sample = MetricSample(
            timestamp=datetime.now(UTC),
            cpu_count=self.cpu_count,
            cpu_used_pct=round(min(100.0, cpu / self.cpu_count), 2),
            mem_used=rss,
            mem_total=max(self.memory_mb * MIB, rss),
            mem_cache=0,
            disk_used=disk,
            disk_total=max(self.disk_size_mb * MIB, disk),
        )
        self.metrics_history.append(sample)
        return sample

    def _cpu_percent(self, member: psutil.Process) -> float:
        """CPU % of one host process since the previous sample (since it started, on the first one)."""
        probe = self._cpu_probes.get(member.pid)
        if probe is not None and probe.create_time() == member.create_time():
            return probe.cpu_percent(interval=None)
        self._cpu_probes[member.pid] = member
        member.cpu_percent(interval=None)  # arm the probe for the next sample
        times = member.cpu_times()
        age = max(time.time() - member.create_time(), 1e-3)
        return 100.0 * (times.user + times.system) / age

    # -------------------------------------------------------------------------------------------- wire shapes

    def to_detail(self, envd_version: str) -> dict[str, Any]:
        """``SandboxDetail`` / ``ListedSandbox`` JSON of the control-plane API."""
        return {
            "templateID": self.template,
            "alias": self.template,
            "sandboxID": self.sandbox_id,
            "clientID": "fake-e2b",
            "startedAt": _iso(self.created_at),
            "endAt": _iso(self.expires_at),
            "envdVersion": envd_version,
            "envdAccessToken": self.access_token,
            "cpuCount": self.cpu_count,
            "memoryMB": self.memory_mb,
            "diskSizeMB": self.disk_size_mb,
            "state": "running",
            "metadata": dict(self.metadata),
            "domain": None,
        }

    def to_created(self, envd_version: str) -> dict[str, Any]:
        """``Sandbox`` JSON answered by create and connect."""
        return {
            "templateID": self.template,
            "alias": self.template,
            "sandboxID": self.sandbox_id,
            "clientID": "fake-e2b",
            "envdVersion": envd_version,
            "envdAccessToken": self.access_token,
            "trafficAccessToken": None,
            "domain": None,
        }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
