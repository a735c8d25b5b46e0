"""Running an optimizer: a time limit, a checked answer, and the changes it amounts to.

:func:`run_optimizer` never raises for what the optimizer does: an exception, an answer
that is not a valid setup, or one that comes too late is reported in the :class:`Outcome`
(``error``) and the current setup stays (``proposed == current``). A valid answer is made
canonical (every task in exactly one group) and compared with the current setup:
:class:`Change` says which groups it replaces with which, with the reasons that explain
them; reasons about tasks no change touches are kept as notes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from fusionizer.enums import StrEnum
from fusionizer.optimize.api import Optimizer, OptimizerInput, Proposal, Reason
from fusionizer.optimize.constraints import combine_all, profile
from fusionizer.optimize.loading import DEFAULT_TIMEOUT_S, OptimizerError, within
from fusionizer.plan.model import Group
from fusionizer.plan.schedule import complete_groups
from fusionizer.plan.values import MAX_NAME, is_dns_label


class Action(StrEnum):
    FUSE = "fuse"  # several groups become one
    SPLIT = "split"  # one group becomes several
    REGROUP = "regroup"  # several become several
    RENAME = "rename"  # the same tasks under another name (another function)


@dataclass(frozen=True)
class Change:
    action: Action
    before: Tuple[Group, ...]  # groups of the current setup it replaces
    after: Tuple[Group, ...]  # groups of the proposal that replace them
    reasons: Tuple[str, ...]

    @property
    def tasks(self) -> Tuple[str, ...]:
        return tuple(sorted(t for g in self.after for t in g.tasks))


@dataclass(frozen=True)
class Outcome:
    optimizer: str
    current: Tuple[Group, ...]
    proposed: Tuple[Group, ...]  # == current when the optimizer failed
    changes: Tuple[Change, ...] = ()
    notes: Tuple[str, ...] = ()  # reasons about tasks no change touches
    error: Optional[OptimizerError] = None
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def to_json(self) -> Dict[str, Any]:
        """As ``suggest -o json`` and the server's ``/-/status`` show it."""
        return {
            "optimizer": self.optimizer,
            "seconds": round(self.seconds, 4),
            "error": None if self.error is None else {"kind": self.error.kind, "message": str(self.error)},
            "current": [_group_json(g) for g in self.current],
            "proposed": [_group_json(g) for g in self.proposed],
            "changes": [{
                "action": str(c.action), "before": [_group_json(g) for g in c.before],
                "after": [_group_json(g) for g in c.after], "reasons": list(c.reasons),
            } for c in self.changes],
            "notes": list(self.notes),
        }


def _group_json(group: Group) -> Dict[str, Any]:
    return {"name": group.name, "tasks": list(group.tasks)}


def run_optimizer(optimizer: Optimizer, given: OptimizerInput, name: str,
                  timeout_s: float = DEFAULT_TIMEOUT_S) -> Outcome:
    """Ask ``optimizer`` (shown as ``name``) for a setup; the current one stays on failure."""
    current = complete_groups(given.current, given.tasks)
    begin = time.perf_counter()
    try:
        answer = within(timeout_s, lambda: optimizer.propose(given), f"{name}.propose")
        proposed, reasons = check_proposal(answer, given, name)
    except OptimizerError as exc:
        return Outcome(name, current, current, error=exc, seconds=time.perf_counter() - begin)
    except (Exception, SystemExit) as exc:  # the optimizer's own code failed
        error = OptimizerError("exception", f"{name}.propose raised {type(exc).__name__}: {exc}")
        return Outcome(name, current, current, error=error, seconds=time.perf_counter() - begin)
    changes, notes = compare(current, proposed, reasons)
    return Outcome(name, current, proposed, changes, notes, seconds=time.perf_counter() - begin)


class _Invalid(Exception):
    """What is wrong with a proposal."""


def check_proposal(answer: object, given: OptimizerInput, name: str) -> Tuple[Tuple[Group, ...], Tuple[Reason, ...]]:
    """The proposal's setup, canonical, and its reasons; OptimizerError("invalid") if it is
    not a setup the plan's tasks can be deployed in."""
    try:
        return _checked(answer, given)
    except _Invalid as exc:
        raise OptimizerError("invalid", f"{name} proposed an invalid setup: {exc}") from None


def _checked(answer: object, given: OptimizerInput) -> Tuple[Tuple[Group, ...], Tuple[Reason, ...]]:
    if not isinstance(answer, Proposal):
        raise _Invalid(f"propose returned {type(answer).__name__}, not a fusionizer.optimize.Proposal")
    if not all(isinstance(r, Reason) for r in answer.reasons):
        raise _Invalid("reasons must be fusionizer.optimize.Reason values")
    groups = [_group(raw) for raw in answer.groups]
    placed: Dict[str, int] = {}
    names: Set[str] = set()
    for index, group in enumerate(groups, 1):
        for task in group.tasks:
            if task not in given.tasks:
                raise _Invalid(f"group {index} names task {task!r}, which the plan does not define")
            if placed.setdefault(task, index) != index:
                raise _Invalid(f"task {task!r} is in groups {placed[task]} and {index}")
        _check_name(group, names, given.plan.name)
        conflict = combine_all(profile(given.tasks[t]) for t in group.tasks) if group.tasks else None
        if isinstance(conflict, str):
            raise _Invalid(f"group {index} ({', '.join(group.tasks)}) cannot be one function: {conflict}")
    return complete_groups(groups, given.tasks), answer.reasons


def _group(raw: object) -> Group:
    if isinstance(raw, Group):
        return raw
    if isinstance(raw, (list, tuple)) and all(isinstance(t, str) for t in raw):
        return Group(tuple(raw))
    raise _Invalid(f"a group must be a fusionizer.plan.Group or a list of task names, got {raw!r}")


def _check_name(group: Group, names: Set[str], plan: str) -> None:
    if group.name is None:
        return
    if not is_dns_label(group.name) or len(f"{plan}-{group.name}") > MAX_NAME:
        raise _Invalid(f"group name {group.name!r} is not a DNS label that fits {plan}-<name> in {MAX_NAME} characters")
    if group.name in names:
        raise _Invalid(f"group name {group.name!r} is used twice")
    names.add(group.name)


def compare(current: Sequence[Group], proposed: Sequence[Group],
            reasons: Sequence[Reason]) -> Tuple[Tuple[Change, ...], Tuple[str, ...]]:
    """The changes from ``current`` to ``proposed`` (both canonical), each with the reasons
    whose tasks it covers; the other reasons as notes."""
    kept = set(current) & set(proposed)
    before = [g for g in current if g not in kept]
    after = [g for g in proposed if g not in kept]
    changes = [(_action(b, a), b, a) for b, a in _components(before, after)]
    change_of = {task: i for i, (_, _, groups) in enumerate(changes) for g in groups for task in g.tasks}
    attached: List[List[str]] = [[] for _ in changes]
    notes: List[str] = []
    for reason in reasons:
        owners = {change_of.get(task) for task in reason.tasks}
        owner = owners.pop() if len(owners) == 1 else None
        (attached[owner] if owner is not None else notes).append(reason.text)
    return (
        tuple(Change(action, b, a, tuple(attached[i])) for i, (action, b, a) in enumerate(changes)),
        tuple(notes),
    )


def _components(before: List[Group], after: List[Group]) -> List[Tuple[Tuple[Group, ...], Tuple[Group, ...]]]:
    """Groups of both sides joined by shared tasks: each component is one change. (Both
    sides hold the same tasks: the groups the two setups have in common are left out.)"""
    old_of = {t: i for i, g in enumerate(before) for t in g.tasks}
    new_of = {t: j for j, g in enumerate(after) for t in g.tasks}
    done: Set[int] = set()
    result = []
    for start in range(len(before)):
        if start in done:
            continue
        olds, news, todo = {start}, set(), [start]
        while todo:
            for task in before[todo.pop()].tasks:
                j = new_of[task]
                if j in news:
                    continue
                news.add(j)
                for other in after[j].tasks:
                    i = old_of[other]
                    if i not in olds:
                        olds.add(i)
                        todo.append(i)
        done |= olds
        result.append((tuple(before[i] for i in sorted(olds)), tuple(after[j] for j in sorted(news))))
    return result


def _action(before: Tuple[Group, ...], after: Tuple[Group, ...]) -> Action:
    if len(before) == 1 and len(after) == 1:
        return Action.RENAME
    if len(after) == 1:
        return Action.FUSE
    if len(before) == 1:
        return Action.SPLIT
    return Action.REGROUP
