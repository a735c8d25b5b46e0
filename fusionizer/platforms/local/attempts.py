"""Deploy attempts on the local platform, recorded before they start anything.

An attempt (:class:`~fusionizer.platforms.local.processes.PendingStart`) is written to the
store before a deploy stages code, runs a build command or starts a process, kept up to date
as it goes (each new state a line appended to the record's journal, see
:meth:`~fusionizer.platforms.local.store.Store.start_journal`), and removed when it is over,
failed or not. A deployer killed at any instant
(``kill -9``) leaves its record behind; whoever next touches that function (its next deploy
or delete, or ``prepare`` at the next apply) finds the attempt abandoned and finishes or
undoes it, so nothing it started runs on unrecorded.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from fusionizer.platforms.local import processes
from fusionizer.platforms.local.processes import ATTEMPT_ENV, PendingStart, ProcessRef, ServingProcess
from fusionizer.platforms.local.store import Store, append


class Attempt:
    """The record of one attempt, kept in ``store`` as ``KIND/NAME.json``."""

    def __init__(self, store: Store, kind: str, name: str, marker: Path, code: str = "") -> None:
        self._store = store
        self._kind = kind
        self._name = name
        self.pending = PendingStart(processes.me(), str(marker), code=code)
        self._journal = store.start_journal(kind, name, self.pending.to_json())

    def env(self) -> Dict[str, str]:
        """What marks the processes it starts (their environment, inherited by their children)."""
        return {ATTEMPT_ENV: self.pending.marker}

    def running(self, ref: ProcessRef) -> None:
        self.pending = replace(self.pending, process=ref)
        self._save()

    def switching(self, record: Mapping[str, Any], retiring: Optional[ServingProcess]) -> None:
        self.pending = replace(self.pending, record=record, retiring=retiring)
        self._save()

    def end(self) -> None:
        try:
            forget(self._store, self._kind, self._name, self.pending)
        finally:
            os.close(self._journal)

    def _save(self) -> None:
        # Into the file this attempt made, whatever has replaced it at its path since.
        append(self._journal, self.pending.to_json())


def recorded(store: Store, kind: str, name: str) -> Optional[PendingStart]:
    """The attempt recorded under ``KIND/NAME``, if any."""
    raw = store.read(kind, name)
    return PendingStart.from_json(raw) if raw is not None else None


def abandoned(store: Store, kind: str, name: str) -> Optional[PendingStart]:
    """The attempt recorded under ``KIND/NAME`` if its deployer is gone, else None."""
    pending = recorded(store, kind, name)
    return pending if pending is not None and pending.abandoned() else None


def undo(pending: PendingStart, keep: Optional[ProcessRef]) -> None:
    """Stop everything an abandoned attempt started (build commands included), except
    ``keep``: the process a record already names as serving."""
    found = [pending.process] if pending.process else []
    for ref in [*found, *processes.find_by_marker(pending.marker)]:
        if ref != keep:
            processes.stop(ref, grace=2.0)


def forget(store: Store, kind: str, name: str, pending: PendingStart) -> None:
    """Remove the record of ``pending``, unless another attempt has replaced it meanwhile."""
    raw = store.read(kind, name)
    if raw is not None and str(raw.get("marker") or "") == pending.marker:
        store.remove(kind, name)
