"""Reading a local function's log file: what ``fusionizer logs`` shows on the local platform,
and the tail a failed deploy reports.

Every process of a function appends to one file (``logs/<name>.log``, rotated into
``<name>.log.1``, ``.2``, ... by :mod:`.logsize`): the processor's log lines
(``Python> 2026-11-28 18:07:40,580 [info] ...``, local time), whatever the tasks print, and
the output of build commands. A line without a timestamp belongs to the timestamped line
before it (a traceback, a print), so ``since`` keeps or drops it with that one.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Iterator, List, Optional

from fusionizer.platforms.local.logsize import rotated

POLL_SECONDS = 0.2  # how often a followed file is checked for new lines
TAIL_BYTES = 64 * 1024  # the most a failed deploy reads of its log
_STAMP = re.compile(r"^Python> (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ")


def read_log(path: Path, since: Optional[datetime] = None, follow: bool = False) -> Iterator[str]:
    """The lines of ``path`` and of its rotated files, oldest first (see the module
    docstring); with ``follow``, then the lines appended later, until the caller stops
    iterating. A missing file is an empty log."""
    keep = since is None
    pending = ""
    for chunk in _chunks(path, follow):
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


@dataclass(frozen=True)
class Mark:
    """A place in a log: the file then at its path, and its size."""

    inode: int
    offset: int


def mark(path: Path) -> Mark:
    """Where the next line written to ``path`` will start."""
    try:
        st = path.stat()
    except OSError:
        return Mark(0, 0)
    return Mark(st.st_ino, st.st_size)


def tail(path: Path, since: Mark, lines: int, limit: int = TAIL_BYTES) -> str:
    """The last ``lines`` lines written to ``path`` after ``since``, reading at most ``limit``
    bytes from the end: of the current file, then of the newest rotated one should the
    current hold less (it was rotated meanwhile)."""
    parts: List[bytes] = []
    for index in (0, 1):
        try:
            with open(rotated(path, index), "rb") as handle:
                st = os.fstat(handle.fileno())
                start = since.offset if st.st_ino == since.inode else 0
                begin = max(start, st.st_size - limit)
                handle.seek(begin)
                data = handle.read(st.st_size - begin)
        except OSError:
            break
        if begin > start:
            data = data.split(b"\n", 1)[-1]  # no half line, unless it is all there is
        parts.insert(0, data)
        limit -= len(data)
        if st.st_ino == since.inode or limit <= 0:
            break
    text = b"".join(parts).decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _chunks(path: Path, follow: bool) -> Iterator[str]:
    """The text of the rotated files, oldest first, then of ``path``, a line (or the end of
    a file) at a time; followed across rotations."""
    index = 1
    while rotated(path, index).exists():
        index += 1
    for older in range(index - 1, 0, -1):
        handle = _open(rotated(path, older), False)
        if handle is not None:
            with handle:
                yield from iter(handle.readline, "")
    handle = _open(path, follow)
    while handle is not None:
        with handle:
            while True:
                chunk = handle.readline()
                if chunk:
                    yield chunk
                    continue
                if not follow:
                    return
                if _replaced(handle, path):
                    yield from iter(handle.readline, "")  # what was written before it was rotated
                    break
                time.sleep(POLL_SECONDS)
        handle = _open(path, follow)


def _replaced(handle: IO[str], path: Path) -> bool:
    try:
        return path.stat().st_ino != os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return True


def _open(path: Path, follow: bool) -> Optional[IO[str]]:
    while True:
        try:
            return open(path, encoding="utf-8", errors="replace")
        except FileNotFoundError:
            if not follow:
                return None
            time.sleep(POLL_SECONDS)
