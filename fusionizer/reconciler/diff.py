"""The diff: a pure function of (desired, actual) -> changes, each with a reason. No I/O.

Beside it, :func:`foreign`: the desired functions whose name is already held by a function
that is not this plan's (deployed by hand, by another tool, or by another plan whose names
happen to coincide). A reconcile refuses them all, and changes nothing, unless asked to
adopt them: overwriting a function we do not own is never a side effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from fusionizer.build.fuser import GroupBuild
from fusionizer.errors import FusionizerError
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


@dataclass(frozen=True)
class Foreign:
    """A desired function whose name a function of someone else already holds."""

    function: str
    owner: str  # who holds it, in words: "plan 'shop'" or "no fusionizer labels"
    tasks: Tuple[str, ...]  # what this plan wanted to deploy under that name


class ForeignFunctions(FusionizerError):
    """The plan wants names that functions it does not own hold; nothing was changed."""

    def __init__(self, plan: str, conflicts: Sequence[Foreign]) -> None:
        self.conflicts = tuple(conflicts)
        lines = [f"  {c.function} (for {', '.join(c.tasks)}): held by a function with {c.owner}" for c in conflicts]
        super().__init__(
            f"plan {plan!r} wants {len(conflicts)} function name(s) that functions it does not own hold:\n"
            + "\n".join(lines)
            + "\nNothing was deployed or deleted. Rename the group (name: ...) or the plan, remove that "
            "function yourself, or take it over with `fusionizer apply --adopt`."
        )


def foreign(desired: Mapping[str, GroupBuild], records: Iterable[FunctionRecord], plan: str) -> List[Foreign]:
    """The desired functions whose name is held by a function not labelled as ``plan``'s."""
    return sorted(
        (Foreign(r.name, _owner(r), desired[r.name].tasks) for r in records if r.name in desired and r.plan() != plan),
        key=lambda f: f.function,
    )


def _owner(record: FunctionRecord) -> str:
    owner = record.plan()
    return f"the labels of plan {owner!r}" if owner else "no fusionizer labels (deployed by hand or another tool)"


def diff(
    desired: Mapping[str, GroupBuild], actual: Mapping[str, FunctionRecord], server_url: Optional[str] = None,
    adopted: Iterable[Foreign] = (),
) -> List[Change]:
    """Changes that take ``actual`` (this plan's functions only) to ``desired``.

    ``server_url`` is the server the platform gives functions now (None: it has no opinion,
    e.g. the local gateway is not running): the URL is not in the spec hash, so a function
    deployed with another one is updated by this rule instead. ``adopted`` functions (see
    :func:`foreign`) are updated, whatever their state, so that they carry this plan's code
    and labels. Creates, updates and no-ops come first, sorted by function; deletes last.
    """
    taken = {f.function: f for f in adopted}
    changes = [
        _adopt(build, taken[name]) if name in taken else _compare(build, actual.get(name), server_url)
        for name, build in sorted(desired.items())
    ]
    served_by = {task: name for name, build in desired.items() for task in build.tasks}
    for name in sorted(set(actual) - set(desired)):
        record = actual[name]
        changes.append(Change(DELETE, name, record.tasks(), _delete_reason(record, served_by), record=record))
    return changes


def summarize(changes: List[Change]) -> Dict[str, int]:
    return {action: sum(1 for c in changes if c.action == action) for action in ACTIONS}


def _adopt(build: GroupBuild, held: Foreign) -> Change:
    return Change(UPDATE, build.function, build.tasks, f"adopted: held by a function with {held.owner}", build)


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
