"""What files hold, remembered across runs under ``$FUSIONIZER_HOME/cache``: the sha256 of a
file by its stat (:func:`digest`), and values computed from content alone, such as a parsed
``function.yaml``, by that sha256 (:class:`Table`). A no-op reconcile of a large plan then
stats its files instead of reading, hashing and parsing them.

A digest is trusted while the file's size, mtime, ctime, inode and device are those it was
read with, as git's index trusts them. Every write or chmod sets ctime to the current time
(no one can set it back), so an edit that keeps the size and restores the mtime is still
seen. A second edit within the timestamp granularity of the first could keep all five; as
git's "racy git" rule, a digest is remembered only for a file whose mtime and ctime were
:data:`RACY_SECONDS` old when it was read: a younger file is read again every time.

Also :func:`copy_new` and :func:`link_or_copy`, for the files a build writes.

Everything here is a cache: a missing, damaged or unwritable one only costs time, and two
processes saving at once lose at most what one of them learnt.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import marshal
import os
import pickle
import shutil
import stat
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, Mapping, Optional, Set, Tuple

from fusionizer import __version__, paths
from fusionizer.ignore import TreeFile

# Timestamps are as coarse as 2 s on some filesystems, and a network filesystem's clock may
# lag ours: a file changed less than this before it was read is not remembered.
RACY_SECONDS = 3.0
_FORMAT = 1  # bump when a table's keys or values change meaning
_KEEP = 200_000  # entries a table keeps at most; beyond, those unused since the last save go
_CHUNK = 1 << 16

Clock = Callable[[], int]  # nanoseconds since the epoch, as time.time_ns


class Table:
    """One persistent mapping from str to a value :mod:`marshal` can store (plain data),
    loaded on first use; :func:`save` writes every table that changed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._entries: Optional[Dict[str, Any]] = None
        self._used: Set[str] = set()
        self._dirty = False
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        entries = self._load()
        value = entries.get(key)
        if value is not None:
            self._used.add(key)
        return value

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._load()[key] = value
            self._used.add(key)
            self._dirty = True

    def save(self) -> None:
        with self._lock:
            if not self._dirty or self._entries is None:
                return
            if len(self._entries) > _KEEP:
                self._entries = {k: v for k, v in self._entries.items() if k in self._used}
            self._used = set()
            self._dirty = False
            _write(self._file(), marshal.dumps((_FORMAT, __version__, self._entries)))

    def forget(self) -> None:
        """Drop what is in memory: the next use reads the file, as a new process would."""
        with self._lock:
            self._entries, self._used, self._dirty = None, set(), False

    def _load(self) -> Dict[str, Any]:
        if self._entries is None:
            self._entries = _read(self._file())
        return self._entries

    def _file(self) -> str:
        return os.path.join(paths.home(), "cache", f"{self.name}.marshal")


_TABLES: Dict[str, Table] = {}


def table(name: str) -> Table:
    """The table called ``name`` (one per process)."""
    found = _TABLES.get(name)
    if found is None:
        found = _TABLES.setdefault(name, Table(name))
    return found


def save() -> None:
    """Write every table that changed since it was loaded or last saved."""
    for each in list(_TABLES.values()):
        each.save()


def forget() -> None:
    """Forget every table in memory (benchmarks measure a fresh process this way)."""
    for each in list(_TABLES.values()):
        each.forget()


class Shelf:
    """Values too rich for a :class:`Table` (this package's own objects, a whole checked
    plan), by a key that digests everything they were computed from: one pickle file each
    under ``cache/<name>/``, the ``keep`` used last kept. Whoever can write there can
    already change what gets deployed (the state beside it is as private)."""

    def __init__(self, name: str, keep: int) -> None:
        self.name = name
        self.keep = keep

    def get(self, key: str) -> Any:
        """The value kept under ``key``; None when there is none (or it cannot be read)."""
        file = os.path.join(self._directory(), key + _PICKLE)
        try:
            with open(file, "rb") as fh:
                value = pickle.load(fh)
            os.utime(file)  # the ones used last are kept
        except Exception:  # missing, damaged, or made by other code: computed again, as if never kept
            return None
        return value

    def put(self, key: str, value: Any) -> None:
        directory = Path(self._directory())
        try:
            paths.private_dir(directory)
            paths.write_atomically(directory / (key + _PICKLE), pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
            kept = sorted((e for e in os.scandir(directory) if e.name.endswith(_PICKLE)),
                          key=lambda e: e.stat().st_mtime_ns, reverse=True)
            for entry in kept[self.keep:]:
                os.unlink(entry.path)
        except OSError:
            pass  # unwritable, or another run trimmed it first: only costs time

    def _directory(self) -> str:
        return os.path.join(paths.home(), "cache", self.name)


_PICKLE = ".pickle"


@functools.lru_cache(maxsize=None)
def code_stamp() -> str:
    """The size and mtime of every file of this package: what was computed by other code
    (an edited checkout keeps its version) is never taken for this code's result."""
    stamps = []
    for directory, subdirs, files in os.walk(os.path.dirname(os.path.abspath(__file__))):
        subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
        for name in sorted(files):
            st = os.stat(os.path.join(directory, name))
            stamps.append(f"{directory}/{name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join([__version__, *stamps]).encode("utf-8", "surrogateescape")).hexdigest()


# path -> the stat it was read with (size, mtime_ns, ctime_ns, inode, device) packed, then
# the 32 bytes of its sha256: one bytes object per file loads fast.
_DIGESTS = table("digests")
_STAMP = struct.Struct("<QqqQQ")


def digest(path: str, st: Optional[os.stat_result] = None, clock: Clock = time.time_ns) -> str:
    """sha256 (hex) of the bytes at ``path``; ``st`` is its stat when the caller has it.

    Raises OSError as ``open`` does.
    """
    if st is None:
        st = os.stat(path)
    stamp = _STAMP.pack(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
    known: Optional[bytes] = _DIGESTS.get(path)
    if known is not None and known[: _STAMP.size] == stamp:
        return known[_STAMP.size :].hex()
    read_at = clock()
    value = _sha256(path)
    if read_at - max(st.st_mtime_ns, st.st_ctime_ns) >= RACY_SECONDS * 1e9:
        _DIGESTS.put(path, stamp + value)
    return value.hex()


def _sha256(path: str) -> bytes:
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)  # a plain descriptor: half the system calls of a file object
    try:
        while True:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                return h.digest()
            h.update(chunk)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)  # made by the ten thousand: slots make that cheaper
class Listed:
    """A file that counts (by the ignore rule) in a directory a plan builds from."""

    rel: str  # POSIX, from the directory it was listed in
    path: str
    executable: bool
    digest: str  # sha256 hex of its bytes
    size: int

    @classmethod
    def walked(cls, rel: str, item: TreeFile, digest: str) -> "Listed":
        """The file a walk found (its stat, when the walk kept it, is not taken again)."""
        size = item.stat.st_size if item.stat is not None else os.stat(item.path).st_size
        return cls(rel, item.path, item.executable, digest, size)


@dataclass(frozen=True)
class Listing:
    """The content files of a snapshot's directories, walked and hashed once when the
    snapshot was taken: the build reads these instead of walking the disk again.

    It answers for the directories it lists only; for any other, callers walk the disk.
    """

    directories: Mapping[str, Tuple[Listed, ...]]  # normalised absolute directory -> its files, by rel
    # Directories whose walk met a symbolic link, socket, FIFO, device or broken link: what
    # the plan's own checks must look at on the disk.
    irregular: FrozenSet[str] = frozenset()
    # What else the plan's checks read, as the snapshot saw it (a source's own words, e.g.
    # the taskDirs' subdirectories); with the revision, what a remembered check depends on.
    layout: Tuple[str, ...] = ()

    @functools.cached_property
    def files(self) -> Mapping[str, Listed]:
        """Normalised absolute path -> the file: made when first asked (a remembered check of
        the plan never asks)."""
        files: Dict[str, Listed] = {}
        for directory, listed in self.directories.items():
            inside = os.path.join(directory, "")
            files.update((inside + f.rel, f) for f in listed)
        return files

    def plain(self, path: "os.PathLike[str] | str") -> Optional[Tuple[Listed, ...]]:
        """The files of a directory it holds whose walk met only plain files and directories."""
        key = os.fspath(path)
        return None if key in self.irregular else self.directories.get(key)

    # Both take a normalised absolute path (as the plan resolves them), not normalised again:
    # a reconcile asks about every task.
    def directory(self, path: "os.PathLike[str] | str") -> Optional[Tuple[Listed, ...]]:
        return self.directories.get(os.fspath(path))

    def file(self, path: "os.PathLike[str] | str") -> Optional[Listed]:
        return self.files.get(os.fspath(path))


def copy_new(source: str, dest: str, times: bool = False) -> None:
    """Copy ``source`` to ``dest``, a new file, with its mode for its owner only (an executable
    stays executable; the fusionizer's files can hold env values) and, with ``times``, its
    access and modification times: what ``shutil.copy``/``copy2`` and a chmod do, in a third
    of the system calls (plain descriptors, the bytes copied by the kernel)."""
    src = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        st = os.fstat(src)
        mode = stat.S_IMODE(st.st_mode) & 0o700
        out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        try:
            _copy_bytes(src, out, st.st_size)
            os.fchmod(out, mode)  # as asked, whatever the umask
            if times:
                os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(out)
    finally:
        os.close(src)


def _copy_bytes(src: int, out: int, size: int) -> None:
    """``src`` into ``out``: its ``size`` bytes (its size when opened), without asking again
    for an end it is known to have; to its end, wherever that is now, when it has not that size."""
    try:
        copied = 0
        while True:
            sent = os.sendfile(out, src, None, max(size - copied, 1 << 30))
            copied += sent
            if not sent or copied == size:
                return
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOSYS):  # a file system sendfile cannot write to
            raise
        while True:
            chunk = os.read(src, _CHUNK)
            if not chunk:
                break
            paths.write_all(out, chunk)


def link_or_copy(source: str, dest: str) -> None:
    """A hard link to ``source``, a file its owner never writes to again (a copy would cost a
    new file, the slow part on most filesystems); a copy where links fail (another
    filesystem, too many links)."""
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)


def _read(file: str) -> Dict[str, Any]:
    try:
        with open(file, "rb") as fh:
            fmt, version, entries = marshal.load(fh)
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if fmt != _FORMAT or version != __version__ or not isinstance(entries, dict):
        return {}
    return entries


def _write(file: str, data: bytes) -> None:
    """Replace ``file`` in one step, private (a parsed function.yaml holds its env values)."""
    try:
        paths.private_dir(Path(file).parent)
        paths.write_atomically(Path(file), data)
    except OSError:
        pass
