"""Which fusion setup applies at a given time.

The reconciler (and ``plan --at``) asks :func:`resolve_setup` for the setup at an instant;
the loop uses ``Setup.next_due`` to know when to reconcile again. Time is always passed in
(``anchor`` = when the reconciler started, ``at`` = now or the time asked about): nothing
here reads the clock, so every schedule is testable without waiting.

Semantics: each schedule entry is due at ``entry.due(anchor)`` (``at`` as written, or
``anchor + after``). The entry with the latest due time that is not after ``at`` wins (on a
tie, the one written later); before any entry is due, the default ``spec.fusion.groups``
applies. Tasks named in no group run alone; tasks the plan does not define are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from fusionizer.plan.model import Group, Plan, ScheduleEntry


@dataclass(frozen=True)
class Setup:
    """A complete fusion setup: every task of the plan is in exactly one group.

    Groups are canonical (tasks sorted within a group, groups sorted by their first task),
    so two setups with the same grouping compare equal.
    """

    groups: Tuple[Group, ...]
    entry: Optional[int] = None  # index into Plan.schedule; None = the default groups
    next_due: Optional[datetime] = None  # when the next schedule entry takes effect

    def group_of(self, task: str) -> Optional[Group]:
        """The group that runs ``task``, or None if the plan has no such task."""
        for group in self.groups:
            if task in group.tasks:
                return group
        return None


def resolve_setup(plan: Plan, anchor: datetime, at: datetime) -> Setup:
    """The setup in force at ``at`` for a reconciler anchored at ``anchor``.

    Both datetimes must be timezone-aware (schedule times are), e.g.
    ``datetime.now(timezone.utc)``; a naive one raises ValueError.
    """
    _require_aware(anchor, "anchor")
    _require_aware(at, "at")
    due = [(entry.due(anchor), index) for index, entry in enumerate(plan.schedule)]
    # max() over (time, index): the latest due entry wins, and on a tie the later one.
    active = max((d for d in due if d[0] <= at), default=None)
    upcoming = min((d[0] for d in due if d[0] > at), default=None)
    groups = plan.schedule[active[1]].groups if active is not None else plan.groups
    return Setup(complete_groups(groups, plan.tasks), active[1] if active else None, upcoming)


def complete_groups(groups: Iterable[Group], tasks: Mapping[str, object]) -> Tuple[Group, ...]:
    """``groups`` limited to ``tasks``, plus a lone group for each task in none; canonical."""
    placed: Dict[str, Group] = {}
    result: List[Group] = []
    for group in groups:
        # The loader already rejects a task in two groups; first wins for hand-built plans.
        members = sorted({t for t in group.tasks if t in tasks and t not in placed})
        if not members:
            continue
        canonical = Group(tuple(members), group.name)
        placed.update((t, canonical) for t in members)
        result.append(canonical)
    result.extend(Group((t,)) for t in sorted(tasks) if t not in placed)
    return tuple(sorted(result, key=lambda g: g.tasks))


def due_times(plan: Plan, anchor: datetime) -> Tuple[Tuple[datetime, ScheduleEntry], ...]:
    """Every schedule entry with its due time, in the order they take effect."""
    _require_aware(anchor, "anchor")
    indexed = sorted((entry.due(anchor), index) for index, entry in enumerate(plan.schedule))
    return tuple((when, plan.schedule[index]) for when, index in indexed)


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, e.g. datetime.now(timezone.utc); got {value!r}")
