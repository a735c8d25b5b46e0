"""Where things are: the plan file's default name, and the fusionizer's state under
``$FUSIONIZER_HOME`` (default ``~/.fusionizer``), and how it writes there.

Tests isolate themselves by pointing FUSIONIZER_HOME at a temporary directory.

What the fusionizer keeps can hold env values (function records, build dirs, git checkouts),
function logs and tracebacks: its directories are made 0700 and its files 0600 explicitly,
whatever the umask (:func:`private_dir`, :func:`write_atomically`, :func:`private_file`).
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import List, Optional, Union

# The plan file a command reads when none is named (-f, --plan-path), in a directory or a repository.
DEFAULT_PLAN_FILE = "fusionizer.yaml"

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_READ_CHUNK = 1 << 16


def home() -> Path:
    raw = os.environ.get("FUSIONIZER_HOME")
    return _resolved(raw) if raw else Path.home() / ".fusionizer"


@functools.lru_cache(maxsize=8)
def _resolved(raw: str) -> Path:
    # Resolved once per value: a deploy asks for the home several times, each resolve a
    # system call per component of the path.
    return Path(raw).expanduser().resolve()


def plan_lock_dir(namespace: str, plan: str) -> Path:
    """Where a plan's apply lock lives: one per plan and namespace, whichever platform
    applies it, as its build directory is (:func:`builds_dir`)."""
    return home() / "plans" / namespace / plan


def plan_state_dir(kind: str, namespace: str, plan: str) -> Path:
    """Per-plan bookkeeping of one deployment (platform kind + namespace): run history,
    schedule anchor, the builds last deployed. A local and a nuctl run of one plan never mix."""
    return home() / "state" / kind / namespace / plan


def builds_dir(plan: str) -> Path:
    return home() / "builds" / plan


def private_dir(path: Path) -> Path:
    """``path`` as a directory only its owner may enter: created 0700 with any missing parent,
    or, when it exists below the home, tightened to 0700 (never the home itself, which may
    be a directory the user shares)."""
    missing = []
    parent = path
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, PRIVATE_DIR)
        except FileExistsError:  # made meanwhile by another process, the same way
            continue
        os.chmod(directory, PRIVATE_DIR)  # mkdir's mode is masked by the umask
    if not missing and home() in path.parents:
        os.chmod(path, PRIVATE_DIR)  # made by an older version, or by hand
    return path


def private_file(path: Path) -> Path:
    """``path`` as a file only its owner may read, created empty if missing (e.g. a log that
    other processes then append to)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
    return path


def write_atomically(path: Path, text: Union[str, bytes], mode: int = PRIVATE_FILE) -> None:
    """Replace ``path`` in one step, as a file of ``mode`` (0600 unless asked): a reader never
    sees half a file, and a failed write leaves the old one. The file is closed before it
    is shown: a watcher of its directory sees it appear once, complete."""
    _replace(path, text, mode, keep_open=False)


def replace_open(path: Path, text: Union[str, bytes], mode: int = PRIVATE_FILE) -> int:
    """:func:`write_atomically`, and a descriptor of the new file, still open for writing:
    what is written through it lands in that file, whatever has replaced it at ``path``."""
    fd = _replace(path, text, mode, keep_open=True)
    assert fd is not None
    return fd


def _replace(path: Path, text: Union[str, bytes], mode: int, keep_open: bool) -> Optional[int]:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)  # created 0600, closed on exec
    except FileNotFoundError:  # made only when missing: the usual directory costs no look
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    opened: Optional[int] = fd
    try:
        write_all(fd, text.encode() if isinstance(text, str) else text)
        if mode != PRIVATE_FILE:
            os.fchmod(fd, mode)
        if not keep_open:
            opened = None
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        if opened is not None:
            os.close(opened)
        Path(tmp).unlink(missing_ok=True)
        raise
    return opened


def write_new(path: Union[str, "os.PathLike[str]"], data: bytes, mode: int = PRIVATE_FILE) -> None:
    """A new file of ``data`` (``mode`` as the umask leaves it), in a directory no reader sees
    before its rename: the three system calls a new file needs, where Python's file objects
    make seven."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)


def read_bytes(path: Union[str, "os.PathLike[str]"]) -> bytes:
    """The bytes of the file at ``path``, read through a plain descriptor: four system calls,
    where ``open(path, "rb").read()`` makes eight (a deploy reads records by the dozen)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks: List[bytes] = []
        while True:
            chunk = os.read(fd, _READ_CHUNK)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """All of ``data`` through ``fd`` (a write may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
