"""Content hashing: a function's spec hash changes exactly when its behaviour can change.

The hash covers every task file (path, bytes and executable bit; which files count is the
one ignore rule of :mod:`fusionizer.ignore`, applied by the fuser), the merged function
config, the fusion manifest and the runtime's own files. Revision and applied-at
annotations are excluded, so a new git commit that touches nothing of a function does not
redeploy it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from typing import Any, Dict, Mapping, Sequence, Tuple

from fusionizer import __version__

# (path, size, mtime_ns) -> sha256: the watch loop rehashes the same files many times.
_file_digests: Dict[Tuple[str, int, int], str] = {}


def file_digest(path: str) -> str:
    """sha256 of the bytes, marked ``+x`` for an executable file (a build copies the bit)."""
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    digest = _file_digests.get(key)
    if digest is None:
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        _file_digests[key] = digest
    return digest + ("+x" if st.st_mode & stat.S_IXUSR else "")


def spec_hash(config: Mapping[str, Any], files: Sequence[Tuple[str, str]], manifest: Mapping[str, object]) -> str:
    h = hashlib.sha256()
    h.update(f"fusionizer {__version__}\n".encode())
    h.update(json.dumps(config, sort_keys=True, separators=(",", ":")).encode())
    h.update(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode())
    for dest, source in files:
        h.update(f"\n{dest}\0{file_digest(source)}".encode())
    return h.hexdigest()
