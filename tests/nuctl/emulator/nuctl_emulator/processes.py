"""Function processes: identity (pid + /proc start time, against pid reuse) and stopping
them with a deadline (a pidfd says when a process is gone: no polling)."""

from __future__ import annotations

import contextlib
import os
import select
import signal
from pathlib import Path
from typing import Optional

STOP_GRACE = 5.0


def proc_start_time(pid: int) -> Optional[int]:
    """Start time of a live (non-zombie) process, from /proc/PID/stat; None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else int(fields[19])


def is_running(pid: int, start: Optional[int]) -> bool:
    current = proc_start_time(pid)
    return current is not None and (start is None or current == start)


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait for ``pid`` to exit: a pidfd becomes readable when it does (no polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)


def stop_process(pid: int, start: Optional[int], grace: float = STOP_GRACE) -> None:
    """SIGTERM the process group, SIGKILL it if it is still there after ``grace`` s."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        if not is_running(pid, start):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)  # functions run in their own session: pgid == pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if wait_gone(pid, wait):
            return
