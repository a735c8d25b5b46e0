"""Push notifications from the post-receive hook to a running ``fusionizer watch --git``.

The hook writes the pushed sha to ``$FUSIONIZER_HOME/triggers/<key>``, where ``<key>`` is
a hash of the repository's canonical location; every watch loop of that repository watches
the file (see :mod:`fusionizer.loop.watching`) and reconciles at once instead of waiting
for its next poll. A file (not a socket) lets any number of watchers listen, needs no
server, and survives a watcher that is not running (it simply finds nothing to do).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional

from fusionizer import paths

TRIGGERS_DIR = "triggers"


def canonical_location(url: str) -> str:
    """The same repository named differently (``./repo.git``, ``/abs/repo.git/``,
    ``file:///abs/repo.git``) gets the same location; remote URLs are kept as written."""
    location = url.strip()
    if location.startswith("file://"):
        location = location[len("file://"):]
    if "://" not in location:
        expanded = os.path.expanduser(location)
        if os.path.exists(expanded):
            location = os.path.realpath(expanded)
    return location.rstrip("/") or location


def repo_key(url: str) -> str:
    return hashlib.sha256(canonical_location(url).encode("utf-8")).hexdigest()[:16]


def trigger_file(url: str, home: Optional[Path] = None) -> Path:
    return (home if home is not None else paths.home()) / TRIGGERS_DIR / repo_key(url)


def notify(url: str, revision: str, home: Optional[Path] = None) -> Path:
    """Tell the watchers of ``url`` that ``revision`` was pushed."""
    target = trigger_file(url, home)
    paths.write_atomically(target, revision.strip() + "\n")
    return target


def read_revision(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
