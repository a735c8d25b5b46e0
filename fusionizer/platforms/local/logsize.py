"""Bounded logs on the local platform: a size-capped, rotating log file and the pump that fills it.

A function's log (``logs/<name>.log``) is written by several processes at once: the serving
process, the one replacing it during a redeploy, and the build commands of a deploy. Each
writes through a :class:`RotatingLog`: when the file reaches ``max_bytes`` it becomes
``<name>.log.1`` (``.1`` becomes ``.2`` and so on up to ``backups``; the oldest is dropped),
under an flock on the logs directory so two writers never rotate the same file twice, and a
writer whose file was rotated away by another reopens the new one. Files end at a line's
end where they can. A line longer than ``line_bytes`` is cut there, with a note of how much
was left out: a request that prints hundreds of megabytes on one line costs the log
``line_bytes``, not its history. So a log never holds more than about
``(backups + 1) * max_bytes`` on disk (a file may exceed ``max_bytes`` by the end of one
line), whatever its writers print.

The limits are read from the environment of the process that starts functions and the
gateway (``apply``, ``watch``, ``serve``): :data:`ENV_MAX_BYTES`, :data:`ENV_BACKUPS`,
:data:`ENV_LINE_BYTES`.
"""

from __future__ import annotations

import fcntl
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Mapping

from fusionizer.errors import PlatformError

KIB = 1024
MIB = 1024 * KIB
ENV_MAX_BYTES = "FUSIONIZER_LOG_MAX_BYTES"
ENV_BACKUPS = "FUSIONIZER_LOG_BACKUPS"
ENV_LINE_BYTES = "FUSIONIZER_LOG_LINE_BYTES"
CHUNK = 64 * KIB  # what a pump reads at once: a pipe's capacity
_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]?)(?:i?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": KIB, "M": MIB, "G": 1024 * MIB}


@dataclass(frozen=True)
class LogLimits:
    max_bytes: int = 10 * MIB  # one file's size before it is rotated
    backups: int = 3  # rotated files kept besides the current one
    line_bytes: int = 64 * KIB  # longer lines are cut

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "LogLimits":
        """The limits set in ``env``; the defaults where a variable is unset."""
        default = cls()
        return cls(
            _size(env, ENV_MAX_BYTES, default.max_bytes, 1),
            _size(env, ENV_BACKUPS, default.backups, 0, units=False),
            _size(env, ENV_LINE_BYTES, default.line_bytes, 1),
        )

    def args(self) -> List[str]:
        """The command-line options of :mod:`fusionizer.platforms.local.capture` for these limits."""
        return ["--max-bytes", str(self.max_bytes), "--backups", str(self.backups),
                "--line-bytes", str(self.line_bytes)]


def _size(env: Mapping[str, str], name: str, default: int, least: int, units: bool = True) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    match = _SIZE.match(raw)
    if match is None or (match.group(2) and not units) or int(match.group(1)) * _UNITS[match.group(2).upper()] < least:
        what = "a size in bytes, optionally with K, M or G (e.g. 10M)" if units else "a whole number"
        raise PlatformError(f"{name}={raw!r} is not valid: expected {what}, at least {least}",
                            f"unset {name} to use the default, {default}")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def rotated(path: Path, index: int) -> Path:
    """The ``index``-th rotated file of ``path`` (1 is the newest); 0 is ``path`` itself."""
    return path if index == 0 else path.with_name(f"{path.name}.{index}")


class RotatingLog:
    """Appends to ``path`` within :class:`LogLimits` (see the module docstring). One per
    stream of output: it remembers where its current line stands, to cut it."""

    def __init__(self, path: Path, limits: LogLimits) -> None:
        self._path = path
        self._limits = limits
        self._fd = -1
        self._line = 0  # bytes of the current line written
        self._dropped = 0  # bytes of the current line left out
        self._open_line = False  # the last write ended inside a line

    def write(self, data: bytes) -> None:
        self._append(self._cut(data))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _cut(self, data: bytes) -> bytes:
        cap = self._limits.line_bytes
        out = bytearray()
        start = 0
        while start < len(data):
            newline = data.find(b"\n", start)
            end = len(data) if newline < 0 else newline
            keep = max(0, min(end - start, cap - self._line))
            out += data[start:start + keep]
            self._line += keep
            self._dropped += end - start - keep
            if newline < 0:
                break
            if self._dropped:
                out += f" [... {self._dropped} more bytes of this line not logged]".encode()
            out += b"\n"
            self._line = self._dropped = 0
            start = newline + 1
        return bytes(out)

    def _append(self, data: bytes) -> None:
        rotated_last = False
        while data:
            fd = self._current()
            size = os.fstat(fd).st_size
            room = self._limits.max_bytes - size
            cut = len(data) if len(data) <= room else data.rfind(b"\n", 0, max(room, 0)) + 1  # whole lines
            if cut == 0 and self._open_line:
                cut = data.find(b"\n") + 1 or len(data)  # the end of a line begun here stays here
            elif cut == 0 and (size == 0 or rotated_last):
                cut = max(room, 0) or len(data)  # longer than a file, or others keep it full: split
            if cut:
                written = os.write(fd, data[:cut])
                self._open_line = not data[:written].endswith(b"\n")
                data = data[written:]
                rotated_last = False
            if data and not rotated_last:
                self._rotate()
                rotated_last = True

    def _current(self) -> int:
        """The descriptor of the file now at ``path`` (reopened if another writer rotated it)."""
        if self._fd >= 0:
            try:
                if os.stat(self._path).st_ino == os.fstat(self._fd).st_ino:
                    return self._fd
            except FileNotFoundError:
                pass
            self.close()
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return self._fd

    def _rotate(self) -> None:
        directory = os.open(self._path.parent, os.O_RDONLY)
        try:
            fcntl.flock(directory, fcntl.LOCK_EX)
            try:
                if os.stat(self._path).st_ino != os.fstat(self._fd).st_ino:
                    return  # another writer rotated it while this one waited for the lock
            except FileNotFoundError:
                return
            backups = self._limits.backups
            for index in range(backups, 0, -1):
                try:
                    os.replace(rotated(self._path, index - 1), rotated(self._path, index))
                except FileNotFoundError:
                    pass
            if backups == 0:
                self._path.unlink(missing_ok=True)
        finally:
            os.close(directory)  # releases the lock


def pump(fd: int, log: RotatingLog) -> None:
    """Copy what arrives on ``fd`` into ``log`` until the last writer closes it. A log that
    cannot be written (disk full) loses the output, never blocks the writers."""
    while True:
        try:
            chunk = os.read(fd, CHUNK)
        except InterruptedError:
            continue
        if not chunk:
            break
        try:
            log.write(chunk)
        except OSError:
            log.close()
    os.close(fd)
    log.close()
