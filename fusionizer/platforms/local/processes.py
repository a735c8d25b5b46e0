"""Starting, probing and stopping the local platform's processes (functions, gateway, build
commands).

Processes run in their own session so they outlive the CLI call that started them. A pid
alone is not an identity (pids are reused, and an exited child of a long-lived parent
lingers as a zombie), so liveness checks compare the start time read from /proc. Every
process a deploy starts carries the deploy's marker (:data:`ATTEMPT_ENV` in its environment,
inherited by whatever it starts in turn), so a deploy killed before it could record a pid
still leaves a way to find everything it started (:func:`find_by_marker`).
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional

from fusionizer import paths
from fusionizer.platforms.local import capture
from fusionizer.platforms.local.logsize import LogLimits, RotatingLog, pump

# Names the deploy attempt that started a process: the attempt's marker (its ready file).
ATTEMPT_ENV = "FUSIONIZER_ATTEMPT"


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
    """A deploy under way (``pending/<name>.json``; the gateway's: ``run/gateway-pending.json``),
    written before it stages or starts anything: who deploys, its marker (the unique ready-file
    path, found among the arguments and in the environment of what it starts), the staged code
    it made, the process it runs now (a build command, then the function's process) and, once
    it switches to the new process, the record it writes and the process it replaces: what the
    next deploy needs to finish the switch, or to undo everything, should this one be killed."""

    deployer: ProcessRef
    marker: str
    process: Optional[ProcessRef] = None
    code: str = ""
    record: Optional[Mapping[str, Any]] = None
    retiring: Optional[ServingProcess] = None

    def to_json(self) -> Dict[str, Any]:
        data: Dict[str, Any] = {"deployer": self.deployer.to_json(), "marker": self.marker}
        if self.process:
            data["process"] = self.process.to_json()
        if self.code:
            data["code"] = self.code
        if self.record is not None:
            data["record"] = dict(self.record)
        if self.retiring:
            data["retiring"] = self.retiring.to_json()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "PendingStart":
        process, record, retiring = data.get("process"), data.get("record"), data.get("retiring")
        return cls(ProcessRef.from_json(data.get("deployer") or {}), str(data.get("marker") or ""),
                   ProcessRef.from_json(process) if isinstance(process, Mapping) else None,
                   str(data.get("code") or ""), record if isinstance(record, Mapping) else None,
                   ServingProcess.from_json(retiring) if isinstance(retiring, Mapping) else None)

    def abandoned(self) -> bool:
        """Its deployer is gone (killed): nobody will finish or undo it but the next deploy."""
        return self.deployer.pid != os.getpid() and not alive(self.deployer)


@dataclass(frozen=True)
class Started:
    ref: ProcessRef
    ready: Dict[str, Any]  # what the process wrote to its ready file


_DRAIN_SECONDS = 2.0  # how long a finished build command's last output is waited for

_ME: Dict[int, ProcessRef] = {}  # this process, by pid (see me())

# Detached children started by this process, by pid: kept so they are reaped (and their
# Popen objects not garbage-collected while the process still runs, which warns).
_children: Dict[int, "subprocess.Popen[bytes]"] = {}


class StartFailed(Exception):
    def __init__(self, reason: str, ref: Optional[ProcessRef]) -> None:
        super().__init__(reason)
        self.ref = ref


def _stat_fields(pid: int) -> Optional[List[str]]:
    try:
        # The kernel cuts the command name at 15 bytes, maybe inside a UTF-8 character.
        raw = paths.read_bytes(f"/proc/{pid}/stat").decode(errors="replace")
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def identify(pid: int) -> ProcessRef:
    fields = _stat_fields(pid)
    return ProcessRef(pid, fields[19] if fields else "")


def me() -> ProcessRef:
    """This process, as :func:`identify` tells it: read once (every deploy records its
    deployer), unless the read failed."""
    ref = _ME.get(os.getpid())  # by pid: a forked child is another process
    if ref is None:
        ref = identify(os.getpid())
        if ref.start_time:
            _ME[ref.pid] = ref
    return ref


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
    return _find(argument.encode(), b"") if argument else []


def find_by_marker(marker: str) -> List[ProcessRef]:
    """Live processes a deploy with this marker started: with the marker among their
    arguments, or in their environment (build commands and what they started, even in
    sessions of their own)."""
    return _find(marker.encode(), f"{ATTEMPT_ENV}={marker}".encode()) if marker else []


def _find(argument: bytes, variable: bytes) -> List[ProcessRef]:
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            hit = argument in (entry / "cmdline").read_bytes().split(b"\0")
            hit = hit or bool(variable) and variable in (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if hit:
            ref = identify(int(entry.name))
            if alive(ref):
                found.append(ref)
    return found


def start(
    module: List[str],
    env: Mapping[str, str],
    cwd: Path,
    log_file: Path,
    limits: LogLimits,
    ready_file: Path,
    timeout: float,
    on_spawn: Optional[Callable[[ProcessRef], None]] = None,
) -> Started:
    """Start ``python -m MODULE ARGS`` (``module``) detached, its output in ``log_file`` within
    ``limits`` (:mod:`.capture`), and wait until it writes ``ready_file`` or exits.

    ``on_spawn`` learns the process before the wait, so a caller that dies mid-wait has
    left a trace of what to clean up.
    """
    ready_file.unlink(missing_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    argv = capture.argv(log_file, limits, *module)
    with open(log_file, "ab") as log:  # what the capture prints before it captures (it cannot start)
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


def run_command(
    command: str, cwd: Path, env: Mapping[str, str], log: RotatingLog,
    on_spawn: Optional[Callable[[ProcessRef], None]] = None,
) -> int:
    """Run ``command`` with ``sh`` in a session of its own, its output into ``log``; returns
    its exit status. What it leaves running in its process group is stopped when it exits, as
    a Docker build step's would be; the whole group when the caller is interrupted."""
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen(command, shell=True, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                                stdout=write_end, stderr=write_end, start_new_session=True)
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    copier = threading.Thread(target=pump, args=(read_end, log), name="build-log", daemon=True)
    copier.start()
    try:
        if on_spawn is not None:
            on_spawn(identify(proc.pid))
        # Wait without reaping: the group's id stays the leader's until it is reaped.
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    finally:
        _signal_group(proc.pid, signal.SIGKILL)
        code = proc.wait()
    copier.join(_DRAIN_SECONDS)  # a program that left the group may hold the pipe: not waited for
    return code


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
    """Signal the process group ``pid`` leads, or the process alone when it leads none (one
    found by its marker inside another's group)."""
    if _signal_group(pid, sig):
        return True
    try:
        os.kill(pid, sig)
    except OSError:
        return False
    return True


def _signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
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


