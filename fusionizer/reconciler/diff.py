"""The diff: a pure function of (desired, actual) -> changes, each with a reason. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

from fusionizer.build.fuser import GroupBuild
from fusionizer.platforms.base import ANNOTATION_SPEC_HASH, FunctionRecord, spec_env
from fusionizer.runtime.layout import ENV_SERVER_URL

CREATE, UPDATE, DELETE, NOOP = "create", "update", "delete", "noop"
_STATE_WORDS = {"error": "in error", "imported": "imported but not deployed"}
ACTIONS = (CREATE, UPDATE, DELETE, NOOP)


@dataclass(frozen=True)
class Change:
    action: str
    function: str
    tasks: Tuple[str, ...]
    reason: str
    build: Optional[GroupBuild] = None  # what to deploy (create/update/noop)
    record: Optional[FunctionRecord] = None  # what the platform has now (update/delete/noop)

    def to_json(self) -> Dict[str, object]:
        return {"action": self.action, "function": self.function, "tasks": list(self.tasks), "reason": self.reason}


def diff(
    desired: Mapping[str, GroupBuild], actual: Mapping[str, FunctionRecord], server_url: Optional[str] = None
) -> List[Change]:
    """Changes that take ``actual`` (this plan's functions only) to ``desired``.

    ``server_url`` is the server the platform gives functions now (None: it has no opinion,
    e.g. the local gateway is not running): the URL is not in the spec hash, so a function
    deployed with another one is updated by this rule instead. Creates, updates and no-ops
    come first, sorted by function; deletes last.
    """
    changes = [_compare(build, actual.get(name), server_url) for name, build in sorted(desired.items())]
    served_by = {task: name for name, build in desired.items() for task in build.tasks}
    for name in sorted(set(actual) - set(desired)):
        record = actual[name]
        changes.append(Change(DELETE, name, record.tasks(), _delete_reason(record, served_by), record=record))
    return changes


def summarize(changes: List[Change]) -> Dict[str, int]:
    return {action: sum(1 for c in changes if c.action == action) for action in ACTIONS}


def _compare(build: GroupBuild, record: Optional[FunctionRecord], server_url: Optional[str]) -> Change:
    if record is None:
        return Change(CREATE, build.function, build.tasks, "new function", build)
    old_hash = record.annotations.get(ANNOTATION_SPEC_HASH, "")
    if old_hash != build.spec_hash:
        reason = f"spec changed ({old_hash[:12] or 'none'} -> {build.spec_hash[:12]})"
        return Change(UPDATE, build.function, build.tasks, reason, build, record)
    if not record.serving:
        detail = record.message.strip().splitlines()[0] if record.message.strip() else ""
        reason = f"function is {_STATE_WORDS.get(record.state, record.state or 'in an unknown state')}" \
            + (f": {detail}" if detail else "")
        return Change(UPDATE, build.function, build.tasks, reason, build, record)
    deployed = record.env(ENV_SERVER_URL)
    own = spec_env(build.config.get("spec") or {}, ENV_SERVER_URL)
    if server_url is not None and own is None and deployed != server_url:
        reason = f"server URL changed ({deployed or 'none'} -> {server_url})"
        return Change(UPDATE, build.function, build.tasks, reason, build, record)
    return Change(NOOP, build.function, build.tasks, "up to date", build, record)


def _delete_reason(record: FunctionRecord, served_by: Mapping[str, str]) -> str:
    moved = sorted({served_by[t] for t in record.tasks() if t in served_by})
    if moved:
        return f"no longer in the plan; its tasks move to {', '.join(moved)}"
    return "no longer in the plan"
