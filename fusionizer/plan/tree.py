"""Reading only what is the plan's: files inside its tree, regular files only, sizes bounded.

The *tree* is the directory nothing may be read outside of: the plan file's directory, or
for a git source the whole checkout. Every path the plan names (the plan file itself, task
paths, ``taskDirs`` entries) and every symbolic link inside a task directory is resolved and
refused when it leaves the tree; FIFOs, sockets and devices are refused by name without
being opened (a FIFO would block, ``/dev/zero`` never ends). Refusals name the file, never
its content or where a link points, so that no output (e.g. a post-receive hook's, shown to
whoever pushed) can reveal anything of the host.

This module is also the one rule for which files of a task directory a build takes
(:func:`list_files`): what is checked here is exactly what is built.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Mapping, Tuple, Union

MAX_YAML_BYTES = 1 << 20  # a plan or function.yaml; the largest plans measured are a few hundred KiB
ENV_MAX_TASK_BYTES = "FUSIONIZER_MAX_TASK_BYTES"
ENV_MAX_TASK_FILES = "FUSIONIZER_MAX_TASK_FILES"
DEFAULT_MAX_TASK_BYTES = 64 << 20
DEFAULT_MAX_TASK_FILES = 10_000
MAX_PROBLEMS = 5  # per task directory: enough to act on, never a flood

_SKIP_DIRS = frozenset({"__pycache__", ".git", ".hg", ".svn", ".fusionizer", ".venv", ".mypy_cache", ".pytest_cache"})
_SKIP_SUFFIXES = (".pyc", ".pyo", ".swp", ".swx", "~")
_SKIP_NAMES = frozenset({".DS_Store", "4913"})
_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory"),
)


class TreeError(Exception):
    """A path the plan may not read; the message names it and says what to do."""


def _skipped(name: str) -> bool:
    """Files a build leaves out: bytecode, editor temp files, Finder metadata."""
    return name in _SKIP_NAMES or name.endswith(_SKIP_SUFFIXES) or name.startswith(".#")


def list_files(root: Path) -> List[str]:
    """Relative POSIX paths of the files under ``root`` that belong in a build, sorted."""
    return sorted(rel for rel, entry in _walk(root) if not (entry.is_symlink() and entry.is_dir()))


def _walk(root: Path) -> Iterator[Tuple[str, "os.DirEntry[str]"]]:
    """``(relative POSIX path, entry)`` of every file a build takes from ``root`` (whatever
    its kind: the checks decide), and of every symbolic link to a directory (not followed:
    its content is not built, but where it leads is checked). Iterative: any depth."""
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        with os.scandir(os.path.join(root, rel_dir)) as listing:
            entries = sorted(listing, key=lambda e: e.name)
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in _SKIP_DIRS:
                    pending.append(rel)
            elif _is_dir(entry):  # a link to a directory
                if entry.name not in _SKIP_DIRS:
                    yield rel, entry
            elif not _skipped(entry.name):
                yield rel, entry


def _is_dir(entry: "os.DirEntry[str]") -> bool:
    try:
        return entry.is_dir()  # follows a link
    except OSError:  # a link loop
        return False


@dataclass(frozen=True)
class Limits:
    """How much one task directory may hold (files a build takes, after the skip rules)."""

    max_bytes: int = DEFAULT_MAX_TASK_BYTES
    max_files: int = DEFAULT_MAX_TASK_FILES

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "Limits":
        return cls(_env_int(environ, ENV_MAX_TASK_BYTES, DEFAULT_MAX_TASK_BYTES),
                   _env_int(environ, ENV_MAX_TASK_FILES, DEFAULT_MAX_TASK_FILES))


def _env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) == 0:
        raise TreeError(f"{name}={raw!r} is not a positive whole number; set it to a count, e.g. {default}")
    return int(raw)


@dataclass(frozen=True)
class Tree:
    """The directory a plan may read from; ``shown`` names files the way the user sees them."""

    root: Path  # real path (symbolic links resolved)

    @classmethod
    def at(cls, directory: Path) -> "Tree":
        return cls(Path(os.path.realpath(directory)))

    def contains(self, path: Path) -> bool:
        """Does ``path``, with every symbolic link resolved, stay inside the tree?"""
        real = os.path.realpath(path)
        return real == str(self.root) or real.startswith(str(self.root).rstrip(os.sep) + os.sep)

    def read_text(self, path: Path, shown: str, limit: int = MAX_YAML_BYTES, checked: bool = False) -> str:
        """The UTF-8 text of a regular file inside the tree, at most ``limit`` bytes.

        ``checked``: its directory passed :meth:`check_dir`, so where it leads is known.
        Raises :class:`TreeError` (leaves the tree, not a regular file, too large),
        FileNotFoundError, or another OSError / UnicodeDecodeError for the caller to word.
        """
        if checked:
            real = str(path)
        elif self.contains(path):
            real = os.path.realpath(path)
            _check_regular(os.stat(real).st_mode, shown)  # a socket cannot even be opened
        else:
            raise TreeError(leads_outside(shown))
        # Non-blocking: should a FIFO replace the file meanwhile, opening it does not hang.
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            _check_regular(st.st_mode, shown)
            data = _read_at_most(fd, limit + 1, st.st_size)
        finally:
            os.close(fd)
        if len(data) > limit:
            raise TreeError(f"{shown} is larger than {_size(limit)}; a plan or function.yaml is never that big")
        return data.decode("utf-8")

    def check_dir(self, directory: Path, shown: str, limits: Limits) -> List[str]:
        """Problems of a task directory as messages: links out of the tree, special files,
        broken links, more than ``limits`` allow. Nothing is opened."""
        problems: List[str] = []
        total = files = 0
        for rel, entry in _walk(directory):
            size = self._size(entry)
            if isinstance(size, str):
                problems.append(size.format(f"{shown}/{rel}"))
                if len(problems) >= MAX_PROBLEMS:
                    break
                continue
            if size is None:
                continue  # a link to a directory inside the tree: not built
            total, files = total + size, files + 1
            if total > limits.max_bytes or files > limits.max_files:
                problems.append(_too_big(shown, limits, files > limits.max_files))
                break
        return problems

    def _size(self, entry: "os.DirEntry[str]") -> Union[int, str, None]:
        """The size of a regular file a build takes; None for a link to a directory inside
        the tree; else the problem, with ``{}`` for the file's name."""
        link = entry.is_symlink()
        if link and not self.contains(Path(entry.path)):
            return leads_outside("{}")
        try:
            st = os.stat(entry.path) if link else entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            return "{} is a broken symbolic link; remove it or point it at a file inside the plan's directory"
        except OSError as e:
            return _unreadable("{}", e)
        if link and stat.S_ISDIR(st.st_mode):
            return None
        kind = _special(st.st_mode)
        return _not_regular("{}", kind) if kind else st.st_size


def _read_at_most(fd: int, limit: int, expected: int) -> bytes:
    """Up to ``limit`` bytes; reads sized by the file's ``expected`` size (a buffer of the
    whole limit per read would cost a megabyte for every small function.yaml)."""
    chunks: List[bytes] = []
    size = 0
    while size < limit:
        want = expected - size + 1 if size < expected else 1 << 16  # past the size: it grows
        chunk = os.read(fd, min(want, limit - size, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _special(mode: int) -> str:
    for test, word in _KINDS:
        if test(mode):
            return word
    return ""


def _check_regular(mode: int, shown: str) -> None:
    kind = _special(mode)
    if kind:
        raise TreeError(_not_regular(shown, kind))


def leads_outside(shown: str) -> str:
    """The refusal of a path that leaves the tree (it names the path, not where it leads)."""
    return (f"{shown} leads outside the plan's directory (a symbolic link or a path out of it); "
            f"refusing to read it: keep the plan's files inside its directory")


def _not_regular(shown: str, kind: str) -> str:
    return f"{shown} is {kind}, not a regular file; refusing to read it: remove it or replace it with a file"


def _unreadable(shown: str, error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return f"{shown} is a symbolic link loop; remove it"
    return f"cannot read {shown}: {error.strerror or error}"


def _too_big(shown: str, limits: Limits, by_count: bool) -> str:
    if by_count:
        return (f"task directory {shown} holds more than {limits.max_files} files (the limit, "
                f"{ENV_MAX_TASK_FILES}); remove what the task does not need, or raise the limit")
    return (f"task directory {shown} holds more than {_size(limits.max_bytes)} (the limit, "
            f"{ENV_MAX_TASK_BYTES}={limits.max_bytes}); remove what the task does not need (install "
            f"dependencies with spec.build.commands), or raise the limit")


def _size(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"
