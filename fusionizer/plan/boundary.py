"""Reading only what is the plan's: files inside its tree, regular files only, sizes bounded.

The *boundary* is the directory nothing may be read outside of: the plan file's directory,
or for a git source the whole checkout. Every path the plan names (the plan file itself,
task paths, ``taskDirs`` entries) and every symbolic link among the files a task's build
takes (by the one ignore rule, :mod:`fusionizer.ignore`) is resolved and refused when it
leaves the boundary; FIFOs, sockets and devices are refused by name without being opened (a
FIFO would block, ``/dev/zero`` never ends). Refusals name the file, never its content or
where a link points, so that no output (e.g. a post-receive hook's, shown to whoever pushed)
can reveal anything of the host.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Mapping, Set, Tuple, Union

from fusionizer import ignore

MAX_YAML_BYTES = 1 << 20  # a plan or function.yaml; the largest plans measured are a few hundred KiB
ENV_MAX_TASK_BYTES = "FUSIONIZER_MAX_TASK_BYTES"
ENV_MAX_TASK_FILES = "FUSIONIZER_MAX_TASK_FILES"
DEFAULT_MAX_TASK_BYTES = 64 << 20
DEFAULT_MAX_TASK_FILES = 10_000
MAX_PROBLEMS = 5  # per task directory: enough to act on, never a flood

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory"),
)


class BoundaryError(Exception):
    """A path the plan may not read; the message names it and says what to do."""


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
        raise BoundaryError(f"{name}={raw!r} is not a positive whole number; set it to a count, e.g. {default}")
    return int(raw)


@dataclass(frozen=True)
class Boundary:
    """The directory a plan may read from."""

    root: Path  # real path (symbolic links resolved)

    @classmethod
    def at(cls, directory: Path) -> "Boundary":
        return cls(Path(os.path.realpath(directory)))

    def contains(self, path: "os.PathLike[str] | str") -> bool:
        """Does ``path``, with every symbolic link resolved, stay inside the tree?"""
        real = os.path.realpath(path)
        return real == str(self.root) or real.startswith(str(self.root).rstrip(os.sep) + os.sep)

    def read_text(self, path: Path, shown: str, limit: int = MAX_YAML_BYTES, checked: bool = False) -> str:
        """The UTF-8 text of a regular file inside the tree, at most ``limit`` bytes.

        ``checked``: its directory passed :meth:`check_dir`, so where it leads is known.
        Raises :class:`BoundaryError` (leaves the tree, not a regular file, too large),
        FileNotFoundError, or another OSError / UnicodeDecodeError for the caller to word.
        """
        if checked:
            real = str(path)
        elif self.contains(path):
            real = os.path.realpath(path)
            _check_regular(os.stat(real).st_mode, shown)  # a socket cannot even be opened
        else:
            raise BoundaryError(leads_outside(shown))
        # Non-blocking: should a FIFO replace the file meanwhile, opening it does not hang.
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            _check_regular(st.st_mode, shown)
            data = _read_at_most(fd, limit + 1, st.st_size)
        finally:
            os.close(fd)
        if len(data) > limit:
            raise BoundaryError(f"{shown} is larger than {_size(limit)}; a plan or function.yaml is never that big")
        return data.decode("utf-8")

    def check_dir(self, rules: ignore.Tree, directory: Path, shown: str, limits: Limits) -> List[str]:
        """Problems of a task directory as messages: among what its build takes by ``rules``
        (the plan's ignore rule), links out of the boundary, special files, broken links,
        more than ``limits`` allow. Nothing is opened."""
        problems: List[str] = []
        total = files = 0
        for rel, entry in _walk(self, rules, directory):
            size = self._size(entry)
            if isinstance(size, str):
                problems.append(size.format(f"{shown}/{rel}"))
                if len(problems) >= MAX_PROBLEMS:
                    break
                continue
            total, files = total + size, files + 1
            if total > limits.max_bytes or files > limits.max_files:
                problems.append(_too_big(shown, limits, files > limits.max_files))
                break
        return problems

    def _size(self, entry: "os.DirEntry[str]") -> Union[int, str]:
        """The size of a regular file the build takes, else the problem (``{}`` stands for
        the file's name)."""
        link = entry.is_symlink()
        if link and not self.contains(Path(entry.path)):
            return leads_outside("{}")
        try:
            st = os.stat(entry.path) if link else entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            return "{} is a broken symbolic link; remove it or point it at a file inside the plan's directory"
        except OSError as e:
            return _unreadable("{}", e)
        kind = _special(st.st_mode)
        return _not_regular("{}", kind) if kind else st.st_size


def _walk(boundary: Boundary, rules: ignore.Tree, directory: Path) -> Iterator[Tuple[str, "os.DirEntry[str]"]]:
    """``(path from directory, entry)`` of everything a build of ``directory`` takes by
    ``rules`` (as :meth:`fusionizer.ignore.Tree.files` walks: same rule, links to directories
    followed), special files and broken links included so that they can be refused. A link
    to a directory is entered when it stays inside ``boundary``, else yielded (and refused).
    Iterative, and each directory is entered once: any depth, no cycle."""
    tree, start = rules.locate(directory)
    pending = [(str(directory), start, "", tree.rules(start))]
    seen: Set[Tuple[int, int]] = set()  # directories entered through a link: only links make cycles
    while pending:
        path, rel_tree, rel, in_force = pending.pop()
        with os.scandir(path) as listing:
            entries = sorted(listing, key=lambda e: e.name)
        for entry in entries:
            sub_tree = f"{rel_tree}/{entry.name}" if rel_tree else entry.name
            sub = f"{rel}/{entry.name}" if rel else entry.name
            is_dir = _is_dir(entry)
            if in_force.excludes(sub_tree, is_dir) or (not is_dir and ignore.is_ignore_file(entry.name)):
                continue
            if is_dir and entry.is_symlink() and boundary.contains(Path(entry.path)):
                st = os.stat(entry.path)
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    pending.append((entry.path, sub_tree, sub, in_force.enter(entry.path, sub_tree)))
            elif is_dir and not entry.is_symlink():
                pending.append((entry.path, sub_tree, sub, in_force.enter(entry.path, sub_tree)))
            else:
                yield sub, entry


def _is_dir(entry: "os.DirEntry[str]") -> bool:
    try:
        return entry.is_dir()  # follows a link
    except OSError:  # a link loop
        return False


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
        raise BoundaryError(_not_regular(shown, kind))


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
