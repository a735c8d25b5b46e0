"""One apply per plan at a time: an advisory file lock that names its holder.

The kernel releases a flock when its holder dies, so a crashed apply (even ``kill -9``)
never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import IO, Optional, Type

from fusionizer import paths
from fusionizer.errors import LockedError


class PlanLock:
    def __init__(self, path: Path, plan: str, timeout: float = 0.0) -> None:
        self.path = path
        self.plan = plan
        self.timeout = timeout
        self._file: Optional[IO[str]] = None

    def __enter__(self) -> "PlanLock":
        paths.private_dir(self.path.parent)
        handle = open(paths.private_file(self.path), "a+")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _holder(self.path)
                    handle.close()
                    raise LockedError(
                        f"another apply of plan '{self.plan}' is running ({holder}); "
                        f"wait for it to finish, or pass --lock-timeout SECONDS to wait"
                    ) from None
                time.sleep(0.05)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }))
        handle.flush()
        self._file = handle
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "holder unknown"
    return f"pid {info.get('pid')} on {info.get('host')}, since {info.get('since')}: {info.get('command')}"
