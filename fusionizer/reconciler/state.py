"""Per-plan bookkeeping under ``$FUSIONIZER_HOME/plans/<namespace>/<plan>``.

* ``history.jsonl``: the last runs (revision, result, duration, summary), shown by status;
* ``anchor.json``: the instant relative schedule entries (``after: 40s``) count from. It is
  set by the first apply of a schedule and kept until the schedule itself changes.

Run errors can quote a function's log: the directory is 0700 and its files 0600.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List, Optional

from fusionizer import paths
from fusionizer.plan.model import Plan

HISTORY_KEEP = 20


class PlanState:
    def __init__(self, namespace: str, plan: str) -> None:
        self.dir = paths.plan_state_dir(namespace, plan)

    @property
    def lock_path(self) -> Path:
        return self.dir / "apply.lock"

    def history(self, limit: int = HISTORY_KEEP) -> List[Dict[str, Any]]:
        try:
            lines = (self.dir / "history.jsonl").read_text().splitlines()
        except OSError:
            return []
        runs = []
        for line in lines[-limit:]:
            try:
                runs.append(json.loads(line))
            except ValueError:
                continue
        return runs

    def record_run(self, run: Dict[str, Any]) -> None:
        runs = self.history(HISTORY_KEEP - 1) + [run]
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in runs)
        paths.write_atomically(paths.private_dir(self.dir) / "history.jsonl", text)

    def record_once(self, run: Dict[str, Any]) -> None:
        """Record a run unless it repeats the latest record (same result, revision and
        errors), so a long outage or a bad revision retried in a loop is one entry."""
        last = (self.history(1) or [{}])[-1]
        if all(last.get(k) == run.get(k) for k in ("result", "revision", "errors")):
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


def schedule_digest(plan: Plan) -> str:
    entries = [
        {"after": e.after.total_seconds() if e.after else None, "at": e.at.isoformat() if e.at else None,
         "groups": [[g.name, list(g.tasks)] for g in e.groups]}
        for e in plan.schedule
    ]
    return hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()[:16]
