"""Starting, probing and stopping the local platform's processes (functions, gateway).

Processes run in their own session so they outlive the CLI call that started them. A pid
alone is not an identity (pids are reused, and an exited child of a long-lived parent
lingers as a zombie), so liveness checks compare the start time read from /proc.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional


@dataclass(frozen=True)
class ProcessRef:
    pid: int
    start_time: str  # from /proc/<pid>/stat; "" where /proc is missing

    def to_json(self) -> Dict[str, Any]:
        return {"pid": self.pid, "startTime": self.start_time}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ProcessRef":
        return cls(int(data.get("pid") or 0), str(data.get("startTime") or ""))


@dataclass(frozen=True)
class ServingProcess:
    """A process serving on a port, as the store keeps it: a function's (``procs/<name>.json``,
    with the staged code it imports from and the server URL it was started with) or the
    namespace's gateway (``run/gateway.json``)."""

    ref: ProcessRef
    port: int
    code: str = ""  # functions only: the staged copy of the build dir
    server_url: Optional[str] = None  # functions only; None: not known (started before it was kept)

    def to_json(self) -> Dict[str, Any]:
        function = {"code": self.code, "serverUrl": self.server_url} if self.code else {}
        return {**self.ref.to_json(), "port": self.port, **function}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ServingProcess":
        url = data.get("serverUrl")
        return cls(ProcessRef.from_json(data), int(data.get("port") or 0), str(data.get("code") or ""),
                   str(url) if url is not None else None)


@dataclass(frozen=True)
class PendingStart:
    """A process a deploy is starting (``pending/<name>.json``), written before the spawn:
    who deploys, the unique argument that finds the process before its pid is known, and
    the process once it is."""

    deployer: ProcessRef
    marker: str
    process: Optional[ProcessRef] = None

    def to_json(self) -> Dict[str, Any]:
        data: Dict[str, Any] = {"deployer": self.deployer.to_json(), "marker": self.marker}
        return {**data, "process": self.process.to_json()} if self.process else data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "PendingStart":
        process = data.get("process")
        return cls(ProcessRef.from_json(data.get("deployer") or {}), str(data.get("marker") or ""),
                   ProcessRef.from_json(process) if isinstance(process, Mapping) else None)


@dataclass(frozen=True)
class Started:
    ref: ProcessRef
    ready: Dict[str, Any]  # what the process wrote to its ready file


# Detached children started by this process, by pid: kept so they are reaped (and their
# Popen objects not garbage-collected while the process still runs, which warns).
_children: Dict[int, "subprocess.Popen[bytes]"] = {}


class StartFailed(Exception):
    def __init__(self, reason: str, ref: Optional[ProcessRef]) -> None:
        super().__init__(reason)
        self.ref = ref


def _stat_fields(pid: int) -> Optional[List[str]]:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def identify(pid: int) -> ProcessRef:
    fields = _stat_fields(pid)
    return ProcessRef(pid, fields[19] if fields else "")


def alive(ref: ProcessRef) -> bool:
    if ref.pid <= 0:
        return False
    _reap(ref.pid)
    fields = _stat_fields(ref.pid)
    if fields is None:
        if Path("/proc/self/stat").exists():
            return False
        try:
            os.kill(ref.pid, 0)
        except OSError:
            return False
        return True
    return fields[0] not in ("Z", "X") and (not ref.start_time or fields[19] == ref.start_time)


def find_by_argument(argument: str) -> List[ProcessRef]:
    """Live processes with ``argument`` among their command-line arguments (Linux /proc)."""
    if not argument:
        return []
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argument.encode() in args:
            ref = identify(int(entry.name))
            if alive(ref):
                found.append(ref)
    return found


def start(
    argv: List[str],
    env: Mapping[str, str],
    cwd: Path,
    log_file: Path,
    ready_file: Path,
    timeout: float,
    on_spawn: Optional[Callable[[ProcessRef], None]] = None,
) -> Started:
    """Start ``argv`` detached and wait until it writes ``ready_file`` or exits.

    ``on_spawn`` learns the process before the wait, so a caller that dies mid-wait has
    left a trace of what to clean up.
    """
    ready_file.unlink(missing_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _reap_all()
    _children[proc.pid] = proc
    ref = identify(proc.pid)
    if on_spawn is not None:
        on_spawn(ref)
    deadline = time.monotonic() + timeout
    while True:
        if ready_file.is_file():
            ready: Dict[str, Any] = json.loads(ready_file.read_text())
            ready_file.unlink(missing_ok=True)
            return Started(ref, ready)
        code = proc.poll()
        if code is not None:
            _children.pop(proc.pid, None)
            raise StartFailed(f"the process exited with code {code} before it was ready", None)
        if time.monotonic() > deadline:
            stop(ref)
            raise StartFailed(f"the function was not ready within {timeout:g}s", None)
        time.sleep(0.005)


def stop(ref: ProcessRef, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; a no-op for a process already gone."""
    if not alive(ref):
        return
    if not _signal(ref.pid, signal.SIGTERM):
        return
    child = _children.pop(ref.pid, None)
    if child is not None:
        # Our own child: wait on it directly, which also reaps it.
        try:
            child.wait(grace)
        except subprocess.TimeoutExpired:
            _signal(ref.pid, signal.SIGKILL)
            child.wait()
        return
    deadline = time.monotonic() + grace
    while alive(ref) and time.monotonic() < deadline:
        time.sleep(0.005)
    if alive(ref):
        _signal(ref.pid, signal.SIGKILL)


def _signal(pid: int, sig: int) -> bool:
    try:
        os.killpg(pid, sig)
    except OSError:
        return False
    return True


def _reap(pid: int) -> None:
    # Our own children linger as zombies until waited for; others are reaped by init.
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        _children.pop(pid, None)


@atexit.register
def _reap_all() -> None:
    """Reap children that another process stopped (e.g. a later apply replaced them)."""
    for pid in list(_children):
        _reap(pid)


def python_argv(module: str, *args: str) -> List[str]:
    return [sys.executable, "-m", module, *args]
