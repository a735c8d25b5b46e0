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
from typing import Any, Mapping, Sequence, Tuple

from fusionizer import __version__


def mark(digest: str, executable: bool) -> str:
    """What the hash covers of one file: the sha256 of its bytes, marked ``+x`` for an
    executable file (a build copies the bit)."""
    return digest + ("+x" if executable else "")


def digest_of(file_mark: str) -> str:
    """The sha256 in a :func:`mark`."""
    return file_mark[:64]


def spec_hash(config: Mapping[str, Any], files: Sequence[Tuple[str, str]], manifest: Mapping[str, object]) -> str:
    """The hash of a function: ``files`` are ``(path in the build dir, mark)``."""
    h = hashlib.sha256()
    h.update(f"fusionizer {__version__}\n".encode())
    h.update(json.dumps(config, sort_keys=True, separators=(",", ":")).encode())
    h.update(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode())
    for dest, file_mark in files:
        h.update(f"\n{dest}\0{file_mark}".encode())
    return h.hexdigest()
