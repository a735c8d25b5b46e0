"""A plan in a plain directory: the tree as it is, identified by a digest of its content.

The revision is ``"dir:" + sha256`` over the relative path, the executable bit and the
content of every file under the plan file's directory, skipping what never affects a build
(VCS metadata, caches, virtualenvs, editor temp files; see :func:`is_ignored`). The digest
changes exactly when a relevant file is added, removed, renamed or edited, so the watch loop
can reuse :func:`is_ignored` for its events and :meth:`DirectorySource.resolve` to skip work.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path, PurePath
from typing import List, Set, Tuple, Union

from fusionizer.sources.base import DEFAULT_PLAN_FILE, DIR_REVISION_PREFIX, Snapshot, SourceError

# Any path with one of these components is ignored (at any depth).
IGNORED_DIRS = frozenset({".git", ".fusionizer", "__pycache__", ".venv"})
# File names ending like this are ignored: bytecode, vim swap files, backup files.
IGNORED_SUFFIXES = (".pyc", ".swp", ".swo", ".swx", "~")
# File names starting like this: emacs lock files.
IGNORED_PREFIXES = (".#",)
# Exact file names: vim's write test file.
IGNORED_NAMES = frozenset({"4913"})

_CHUNK = 1 << 16


def _ignored_name(name: str, is_dir: bool) -> bool:
    if name in IGNORED_DIRS:
        return True
    if is_dir:
        return False
    return name in IGNORED_NAMES or name.endswith(IGNORED_SUFFIXES) or name.startswith(IGNORED_PREFIXES)


def is_ignored(rel_path: Union[str, "os.PathLike[str]"]) -> bool:
    """True when a path (relative to the plan directory) never affects the digest.

    A path is ignored when any of its components is ``.git``, ``.fusionizer``,
    ``__pycache__`` or ``.venv``, or when its file name is bytecode (``*.pyc``) or an editor
    temp file (``*.swp``, ``*.swo``, ``*.swx``, ``*~``, ``.#*``, ``4913``). The watch loop
    uses this to drop file-system events that cannot change the plan's revision.
    """
    parts = PurePath(os.fspath(rel_path)).parts
    if not parts:
        return False
    if any(p in IGNORED_DIRS for p in parts):
        return True
    return _ignored_name(parts[-1], is_dir=False)


def _file_digest(path: str) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        buf = bytearray(_CHUNK)
        view = memoryview(buf)
        while True:
            n = fh.readinto(buf)
            if not n:
                break
            h.update(view[:n])
    return h.digest()


def _collect(top: str) -> List[Tuple[str, str, str]]:
    """Every relevant entry under ``top`` as (rel posix path, kind, absolute path).

    kind: "f" regular file, "x" executable file, "l" dangling symlink. Symlinks to files are
    hashed as the file they point to; symlinked directories are followed once (a cycle is
    not walked twice).
    """
    out: List[Tuple[str, str, str]] = []
    seen: Set[Tuple[int, int]] = set()

    def walk(abs_dir: str, rel_dir: str) -> None:
        try:
            st = os.stat(abs_dir)
        except OSError:
            return
        key = (st.st_dev, st.st_ino)
        if key in seen:
            return
        seen.add(key)
        try:
            it = os.scandir(abs_dir)
        except FileNotFoundError:
            return  # removed while walking; the next event reports it
        except OSError as e:
            raise SourceError(f"cannot read directory {abs_dir}: {e.strerror or e}") from e
        with it:
            entries = list(it)
        for entry in entries:
            name = entry.name
            rel = f"{rel_dir}/{name}" if rel_dir else name
            try:
                if entry.is_dir():  # follows symlinks
                    if name not in IGNORED_DIRS:
                        walk(entry.path, rel)
                    continue
                if _ignored_name(name, is_dir=False):
                    continue
                if entry.is_file():
                    mode = entry.stat().st_mode
                    out.append((rel, "x" if mode & stat.S_IXUSR else "f", entry.path))
                elif entry.is_symlink():
                    out.append((rel, "l", entry.path))
                # sockets, fifos, devices: not content
            except FileNotFoundError:
                continue  # removed while walking
            except OSError as e:
                raise SourceError(f"cannot read {entry.path}: {e.strerror or e}") from e

    walk(top, "")
    return out


def tree_digest(directory: Path) -> str:
    """``"dir:" + sha256`` of the relevant content under ``directory`` (see module doc)."""
    top = os.fspath(directory)
    entries = _collect(top)
    entries.sort(key=lambda e: e[0])
    h = hashlib.sha256()
    for rel, kind, abs_path in entries:
        try:
            if kind == "l":
                content = os.fsencode(os.readlink(abs_path))
                fd = hashlib.sha256(content).digest()
            else:
                fd = _file_digest(abs_path)
        except FileNotFoundError:
            continue  # removed between the walk and the read: as if never there
        except OSError as e:
            raise SourceError(f"cannot read {abs_path}: {e.strerror or e}") from e
        h.update(os.fsencode(rel))
        h.update(b"\0")
        h.update(kind.encode())
        h.update(fd)
    return DIR_REVISION_PREFIX + h.hexdigest()


class DirectorySource:
    """The plan file and its directory on disk, as they are."""

    def __init__(self, plan_file: Union[str, "os.PathLike[str]"] = DEFAULT_PLAN_FILE) -> None:
        path = Path(os.fspath(plan_file)).expanduser()
        if path.is_dir():
            path = path / DEFAULT_PLAN_FILE
        self.plan_file = Path(os.path.abspath(path))
        self.root = self.plan_file.parent

    def describe(self) -> str:
        return str(self.root)

    def is_ignored(self, path: Union[str, "os.PathLike[str]"]) -> bool:
        """:func:`is_ignored` for a path relative to :attr:`root` or absolute (under it).
        Paths outside the root are ignored: they cannot change the digest."""
        p = Path(os.fspath(path))
        if p.is_absolute():
            try:
                p = p.relative_to(self.root)
            except ValueError:
                return True
        return is_ignored(p)

    def _check(self) -> None:
        if not self.plan_file.is_file():
            if not self.root.is_dir():
                raise SourceError(f"plan directory {self.root} does not exist")
            raise SourceError(
                f"plan file {self.plan_file} not found; use -f PATH to name it, or --git URL for a git repo"
            )

    def resolve(self) -> str:
        """The revision a snapshot would record now: the digest of the directory."""
        self._check()
        return tree_digest(self.root)

    def snapshot(self) -> Snapshot:
        revision = self.resolve()
        return Snapshot(root=self.root, plan_file=self.plan_file, revision=revision, description=self.describe())

    def __repr__(self) -> str:
        return f"DirectorySource({str(self.plan_file)!r})"
