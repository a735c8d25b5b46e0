"""Content hashing: a function's spec hash changes exactly when its behaviour can change.

The hash covers every task file (path and bytes), the merged function config, the fusion
manifest and the runtime's own files. Revision and applied-at annotations are excluded, so
a new git commit that touches nothing of a function does not redeploy it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Tuple

from fusionizer import __version__

_SKIP_DIRS = frozenset({"__pycache__", ".git", ".hg", ".svn", ".fusionizer", ".venv", ".mypy_cache", ".pytest_cache"})
_SKIP_SUFFIXES = (".pyc", ".pyo", ".swp", ".swx", "~")
_SKIP_NAMES = frozenset({".DS_Store", "4913"})

# (path, size, mtime_ns) -> sha256: the watch loop rehashes the same files many times.
_file_digests: Dict[Tuple[str, int, int], str] = {}


def skipped(name: str) -> bool:
    return name in _SKIP_NAMES or name.endswith(_SKIP_SUFFIXES) or name.startswith(".#")


def list_files(root: Path) -> List[str]:
    """Relative POSIX paths of the files under ``root`` that belong in a build, sorted."""
    found: List[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        rel_dir = os.path.relpath(dirpath, root)
        for name in filenames:
            if not skipped(name):
                found.append(name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/"))
    return sorted(found)


def file_digest(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    digest = _file_digests.get(key)
    if digest is None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        _file_digests[key] = digest
    return digest


def spec_hash(config: Mapping[str, Any], files: Sequence[Tuple[str, Path]], manifest: Mapping[str, Any]) -> str:
    h = hashlib.sha256()
    h.update(f"fusionizer {__version__}\n".encode())
    h.update(json.dumps(config, sort_keys=True, separators=(",", ":")).encode())
    h.update(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode())
    for dest, source in files:
        h.update(f"\n{dest}\0{file_digest(source)}".encode())
    return h.hexdigest()
