"""Per-plan bookkeeping of one deployment, under
``$FUSIONIZER_HOME/state/<platform kind>/<namespace>/<plan>``: a plan applied to the local
platform and to nuctl keeps two histories that never mix.

* ``history.jsonl``: the last runs (:class:`RunRecord`: revision, result, duration,
  summary), shown by status;
* ``anchor.json``: the instant relative schedule entries (``after: 40s``) count from. It is
  set by the first apply of a schedule and kept until the schedule itself changes;
* ``deployed/<function>/``: the build last deployed (:mod:`fusionizer.reconciler.deployed`),
  what ``plan`` compares with to say what changed.

The apply lock is one per plan and namespace (``$FUSIONIZER_HOME/plans/<namespace>/<plan>``),
whichever platform applies: the plan's build directory is shared by them too.

And per source, ``$FUSIONIZER_HOME/sources/<digest>.json``: the plan last applied from it,
whose history records a refused revision whose file names no plan.

Run errors can quote a function's log, deployed builds hold env values: the directories are
0700 and the files 0600.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List, Optional, TypedDict

from fusionizer import paths
from fusionizer.enums import StrEnum
from fusionizer.plan.model import Plan
from fusionizer.platforms.base import Platform

HISTORY_KEEP = 20
_REQUIRED_TYPES = (("at", str), ("revision", str), ("errors", list))


class RunResult(StrEnum):
    """How a run ended: apply, a refusal, or one run of the watch loop. Only :data:`RECORDED`
    results are written to the history; the others describe loop runs in its log."""

    OK = "ok"  # apply ran and every change succeeded
    FAILED = "failed"  # apply ran and some change failed, or the platform could not be read
    INVALID = "invalid"  # the new revision was refused; the last good plan keeps serving
    UNREACHABLE = "unreachable"  # the source could not be read; retried with backoff
    LOCKED = "locked"  # another apply of this plan holds the lock; retried with backoff
    IN_SYNC = "in-sync"  # the platform already matches the plan; nothing applied
    UNCHANGED = "unchanged"  # the source did not move; nothing to do
    IDLE = "idle"  # no valid plan has been seen yet; waiting for a new revision
    ERROR = "error"  # a bug; logged with its traceback and retried with backoff


RECORDED = frozenset({RunResult.OK, RunResult.FAILED, RunResult.INVALID, RunResult.UNREACHABLE})


class _RunRequired(TypedDict):
    at: str  # ISO 8601, UTC
    revision: str  # the source's revision the run read ("" when it could not be read)
    result: RunResult  # one of RECORDED
    errors: List[str]  # one line each


class RunRecord(_RunRequired, total=False):
    """One line of ``history.jsonl``."""

    seconds: float
    summary: Dict[str, int]  # changes by action (create, update, delete, noop)
    desired: str  # digest of the functions the plan wanted (apply only; see PlanResult.desired)


@dataclass(frozen=True)
class PlanRef:
    """A plan as its state is filed: by platform kind, namespace and name."""

    kind: str
    namespace: str
    name: str


class PlanState:
    def __init__(self, ref: PlanRef) -> None:
        self.ref = ref
        self.dir = paths.plan_state_dir(ref.kind, ref.namespace, ref.name)

    @classmethod
    def of(cls, platform: Platform, plan: str) -> "PlanState":
        return cls(PlanRef(platform.kind, platform.namespace, plan))

    @property
    def lock_path(self) -> Path:
        return paths.plan_lock_dir(self.ref.namespace, self.ref.name) / "apply.lock"

    @property
    def deployed_dir(self) -> Path:
        return self.dir / "deployed"

    def history(self, limit: int = HISTORY_KEEP) -> List[RunRecord]:
        try:
            lines = (self.dir / "history.jsonl").read_text().splitlines()
        except OSError:
            return []
        runs = (_record(line) for line in lines[-limit:])
        return [run for run in runs if run is not None]

    def record_run(self, run: RunRecord) -> None:
        runs = self.history(HISTORY_KEEP - 1) + [run]
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in runs)
        paths.write_atomically(paths.private_dir(self.dir) / "history.jsonl", text)

    def record_once(self, run: RunRecord) -> None:
        """Record a run unless it repeats the latest record (same result, revision and
        errors), so a long outage or a bad revision retried in a loop is one entry."""
        history = self.history(1)
        last = history[-1] if history else None
        if last is not None and all(last[k] == run[k] for k in ("result", "revision", "errors")):
            return
        self.record_run({"seconds": 0.0, "summary": {}, **run})

    def anchor(self, plan: Plan) -> Optional[datetime]:
        try:
            data = json.loads((self.dir / "anchor.json").read_text())
        except (OSError, ValueError):
            return None
        if data.get("schedule") != schedule_digest(plan):
            return None
        return datetime.fromisoformat(data["anchor"])

    def set_anchor(self, plan: Plan, anchor: datetime) -> None:
        data = {"schedule": schedule_digest(plan), "anchor": anchor.isoformat()}
        paths.write_atomically(paths.private_dir(self.dir) / "anchor.json", json.dumps(data))


def _record(line: str) -> Optional[RunRecord]:
    """A history line, or None for one this version cannot read (damaged, or unknown words)."""
    try:
        raw: Any = json.loads(line)
        result = RunResult(raw["result"])
    except (ValueError, KeyError, TypeError):
        return None
    if result not in RECORDED or not all(isinstance(raw.get(k), t) for k, t in _REQUIRED_TYPES):
        return None
    run: RunRecord = {**raw, "result": result}  # type: ignore[typeddict-item]
    return run


def schedule_digest(plan: Plan) -> str:
    entries = [
        {"after": e.after.total_seconds() if e.after else None, "at": e.at.isoformat() if e.at else None,
         "groups": [[g.name, list(g.tasks)] for g in e.groups]}
        for e in plan.schedule
    ]
    return hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()[:16]


class SourceMemory:
    """Which plan was last applied from one source (``key``: see ``revision.source_key``)."""

    def __init__(self, key: str) -> None:
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        self.path = paths.home() / "sources" / f"{digest}.json"

    def last_applied(self) -> Optional[PlanRef]:
        try:
            data = json.loads(self.path.read_text())
            return PlanRef(str(data["kind"]), str(data["namespace"]), str(data["plan"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def remember(self, plan: PlanRef) -> None:
        if self.last_applied() == plan:
            return
        paths.write_atomically(self.path, json.dumps({"kind": plan.kind, "namespace": plan.namespace, "plan": plan.name}))
