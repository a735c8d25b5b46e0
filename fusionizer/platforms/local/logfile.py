"""Reading a local function's log file: what ``fusionizer logs`` shows on the local platform.

Every process of a function appends to one file (``logs/<name>.log``): the processor's
log lines (``Python> 2026-11-28 18:07:40,580 [info] ...``, local time), whatever the
tasks print, and the output of build commands. A line without a timestamp belongs to the
timestamped line before it (a traceback, a print), so ``since`` keeps or drops it with that one.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Iterator, Optional

POLL_SECONDS = 0.2  # how often a followed file is checked for new lines
_STAMP = re.compile(r"^Python> (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ")


def read_log(path: Path, since: Optional[datetime] = None, follow: bool = False) -> Iterator[str]:
    """The lines of ``path`` (see the module docstring); with ``follow``, then the lines
    appended later, until the caller stops iterating. A missing file is an empty log."""
    handle = _open(path, follow)
    if handle is None:
        return
    with handle:
        keep = since is None
        pending = ""
        while True:
            chunk = handle.readline()
            if not chunk:
                if not follow:
                    break
                time.sleep(POLL_SECONDS)
                continue
            pending += chunk
            if not pending.endswith("\n"):
                continue  # a line being written: wait for its end
            line, pending = pending.rstrip("\n"), ""
            stamp = line_time(line)
            if stamp is not None and since is not None:
                keep = stamp >= since
            if keep:
                yield line


def line_time(line: str) -> Optional[datetime]:
    """When a processor log line was written (aware), None for other lines."""
    match = _STAMP.match(line)
    if match is None:
        return None
    naive = datetime.strptime(f"{match.group(1)}.{match.group(2)}", "%Y-%m-%d %H:%M:%S.%f")
    return naive.astimezone(timezone.utc)  # the processor writes local time


def _open(path: Path, follow: bool) -> Optional[IO[str]]:
    while True:
        try:
            return open(path, encoding="utf-8", errors="replace")
        except FileNotFoundError:
            if not follow:
                return None
            time.sleep(POLL_SECONDS)
