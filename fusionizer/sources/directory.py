"""A plan in a plain directory, identified by a digest of exactly what it builds from.

The revision is ``"dir:" + sha256`` over the relative path, the executable bit and the
content of every file in the plan's scope (:mod:`~fusionizer.sources.scope`): the plan file,
its task directories and optimizer module, and the ignore files, minus what the ignore rule
leaves out (:mod:`fusionizer.ignore`, the rule the build applies too). It changes exactly
when something the plan builds from is added, removed, renamed or edited; a file written
beside the plan (a log, notes) changes nothing, so the watch loop asks
:meth:`DirectorySource.ignored` which events can matter and :meth:`DirectorySource.resolve`
whether anything did.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

from fusionizer import filecache
from fusionizer.filecache import Listed, Listing
from fusionizer.paths import DEFAULT_PLAN_FILE
from fusionizer.sources.base import DIR_REVISION_PREFIX, Snapshot, SourceError
from fusionizer.sources.scope import Scope

def tree_digest(plan_file: Path) -> str:
    """``"dir:" + sha256`` of what the plan at ``plan_file`` builds from (see module doc)."""
    return tree_listing(plan_file)[0]


def tree_listing(plan_file: Path) -> Tuple[str, Listing]:
    """:func:`tree_digest`, and the files of each directory the plan builds from with their
    digests, so that loading and building the plan need not walk and read them again."""
    h = hashlib.sha256()
    digests: Dict[str, str] = {}
    try:
        scope = Scope.of(plan_file)
        walk = scope.walk()
        for item in walk.files:
            try:
                digest = digests[item.path] = filecache.digest(item.path, item.stat)
            except FileNotFoundError:
                continue  # removed between the walk and the read: as if never there
            h.update(b"%s\0%s%s" % (os.fsencode(item.rel), b"x" if item.executable else b"f", bytes.fromhex(digest)))
    except OSError as e:
        raise SourceError(f"cannot read {e.filename or plan_file.parent}: {e.strerror or e}") from e
    listing = Listing({
        directory: tuple(Listed.walked(f.rel[cut:], f, digests[f.path]) for f in files if f.path in digests)
        for directory, (cut, files) in walk.directories.items()
    }, walk.irregular, scope.layout)
    return DIR_REVISION_PREFIX + h.hexdigest(), listing


class DirectorySource:
    """The plan file and its directory on disk, as they are."""

    def __init__(self, plan_file: Union[str, "os.PathLike[str]"] = DEFAULT_PLAN_FILE) -> None:
        path = Path(os.fspath(plan_file)).expanduser()
        if path.is_dir():
            path = path / DEFAULT_PLAN_FILE
        self.plan_file = Path(os.path.abspath(path))
        self.root = self.plan_file.parent
        self._cached: Optional[Tuple[Optional[Tuple[int, int, int]], Scope]] = None

    def describe(self) -> str:
        return str(self.root)

    def ignored(self, rel: str, is_dir: bool = False) -> Optional[str]:
        """None when a change at ``rel`` (POSIX, relative to :attr:`root`) can change the
        revision; otherwise the part of it the plan does not build from (``notes/``,
        ``watch.log``, ``tasks/a/.mypy_cache/``), for the watch loop's debug line."""
        return self._scope().ignored(rel, is_dir)

    def _scope(self) -> Scope:
        """The scope, read again only when the plan file changed: the watch loop asks for
        every event, and the scope's own rules cover tasks that appear meanwhile."""
        try:
            st = self.plan_file.stat()
            key: Optional[Tuple[int, int, int]] = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            key = None
        if self._cached is None or self._cached[0] != key:
            self._cached = (key, Scope.of(self.plan_file))
        return self._cached[1]

    def _check(self) -> None:
        if not self.plan_file.is_file():
            if not self.root.is_dir():
                raise SourceError(f"plan directory {self.root} does not exist")
            if os.path.lexists(self.plan_file) and not self.plan_file.is_dir():  # never opened: a FIFO would block
                raise SourceError(
                    f"plan file {self.plan_file} is not a regular file (a FIFO, a device, a socket or a broken "
                    f"link); refusing to read it: make it a plain file"
                )
            raise SourceError(
                f"plan file {self.plan_file} not found; use -f PATH to name it, or --git URL for a git repo"
            )

    def resolve(self) -> str:
        """The revision a snapshot would record now: the digest of the directory."""
        self._check()
        return tree_digest(self.plan_file)

    def snapshot(self) -> Snapshot:
        self._check()
        revision, listing = tree_listing(self.plan_file)
        return Snapshot(root=self.root, plan_file=self.plan_file, revision=revision, description=self.describe(),
                        listing=listing)

    def __repr__(self) -> str:
        return f"DirectorySource({str(self.plan_file)!r})"
