"""The local platform's store: one directory per namespace under ``$FUSIONIZER_HOME/local``.

Like Nuclio's own local platform it is shared by every plan (labels tell them apart).
Layout::

    functions/<name>.json   the record, shaped like one ``nuctl get function -o json`` object
    procs/<name>.json       the process serving it (pid + start time, port, code dir)
    pending/<name>.json     a deploy under way (or killed half-way): what it started, see attempts;
                            a journal, one line per state, the last one in force
    code/<name>-<hash>-<n>/ the deployed copy of the build dir
    logs/<name>.log[.N]     everything the function's processes printed, rotated (logsize)
    run/gateway.json        the namespace's gateway process and port
    run/gateway-pending.json  a gateway being started

Records and code hold the functions' env values, logs what they print: every directory is
0700 and every file 0600, whatever the umask.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Set

from fusionizer import paths


_JSON = ".json"


class Store:
    def __init__(self, namespace: str, root: Optional[Path] = None) -> None:
        self.namespace = namespace
        self.root = root or paths.home() / "local" / namespace
        self._made: Set[str] = set()

    def dir(self, kind: str) -> Path:
        """``root/kind``, a private directory (:func:`fusionizer.paths.private_dir`), made once
        per store (a store lives for one command or one reconcile): a deploy asks for its
        directories many times, and each look costs system calls."""
        path = self.root / kind
        if kind not in self._made:
            paths.private_dir(path)
            self._made.add(kind)
        return path

    def records(self) -> Iterator[Dict[str, Any]]:
        folder = self.root / "functions"
        if not folder.is_dir():
            return
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.name.endswith(_JSON):
                data = read_json(entry.path)
                if data is not None:
                    yield data

    def names(self, kind: str) -> List[str]:
        """The names of the records under ``KIND/`` (not the temporary files of their writes)."""
        try:
            found = os.listdir(os.path.join(self.root, kind))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(n[: -len(_JSON)] for n in found if n.endswith(_JSON) and not n.startswith("."))

    def read(self, kind: str, name: str) -> Optional[Dict[str, Any]]:
        return read_json(os.path.join(self.root, kind, name + _JSON))  # strings: a list reads thousands

    def write(self, kind: str, name: str, data: Dict[str, Any]) -> None:
        write_json(self.dir(kind) / f"{name}{_JSON}", data)

    def start_journal(self, kind: str, name: str, data: Dict[str, Any]) -> int:
        """Write ``KIND/NAME.json`` with ``data`` as its first line, as :meth:`write` does, and
        return a descriptor of that file for :func:`append` to add later states of it, the
        last of which is what :meth:`read` returns. A record that changes while one deploy
        runs so costs one new file, not one per change (a new file is the slow part)."""
        return paths.replace_open(self.dir(kind) / f"{name}{_JSON}", _line(data))

    def remove(self, kind: str, name: str) -> None:
        (self.root / kind / f"{name}{_JSON}").unlink(missing_ok=True)

    def log_file(self, name: str) -> Path:
        return paths.private_file(self.dir("logs") / f"{name}.log")


def write_json(path: Path, data: Dict[str, Any]) -> None:
    paths.write_atomically(path, _line(data))


def append(journal: int, data: Dict[str, Any]) -> None:
    """Add ``data`` as the latest state of the record a :meth:`Store.start_journal` began.

    One line, written whole: should the writer die half-way, readers keep the state before."""
    paths.write_all(journal, _line(data))


def read_json(path: "os.PathLike[str] | str") -> Optional[Dict[str, Any]]:
    """The JSON object in ``path`` (of a journal, its last complete line); None when it is
    missing, damaged or not an object."""
    try:
        raw = paths.read_bytes(path)  # not Path.read_text: a list reads two files per function
        try:
            data = json.loads(raw)
        except ValueError:  # a journal: lines, the last one cut short if its writer died writing it
            lines = raw.split(b"\n")
            data = json.loads(lines[-2]) if len(lines) >= 2 else None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _line(data: Dict[str, Any]) -> bytes:
    # One line: a journal's states are lines, and json's C encoder works only without indentation.
    return (json.dumps(data, sort_keys=True) + "\n").encode()

