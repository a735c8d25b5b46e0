"""resolve_setup: which setup is in force at an injected instant (no clock is read)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import List, Optional, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fusionizer.plan.model import Group, Plan, ScheduleEntry, Task
from fusionizer.plan.schedule import Setup, complete_groups, due_times, resolve_setup

ANCHOR = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
TASKS = ("a", "b", "c", "d")


def make_plan(groups: Tuple[Group, ...] = (), schedule: Tuple[ScheduleEntry, ...] = ()) -> Plan:
    tasks = {n: Task(n, Path("/t") / n, "main:handler", "python:3.11", {}) for n in TASKS}
    return Plan("shop", Path("/p/fusionizer.yaml"), tasks, groups, schedule)


def after(seconds: int, *groups: Tuple[str, ...]) -> ScheduleEntry:
    return ScheduleEntry(tuple(Group(g) for g in groups), after=timedelta(seconds=seconds))


def at(when: datetime, *groups: Tuple[str, ...]) -> ScheduleEntry:
    return ScheduleEntry(tuple(Group(g) for g in groups), at=when)


def test_default_setup_runs_unnamed_tasks_alone():
    plan = make_plan((Group(("b", "a"), "front"),))
    setup = resolve_setup(plan, ANCHOR, ANCHOR)
    assert setup == Setup((Group(("a", "b"), "front"), Group(("c",)), Group(("d",))), None, None)


def test_before_the_first_entry_the_default_applies_and_next_due_says_when():
    plan = make_plan((Group(("a", "b")),), (after(40, ("a", "b", "c")),))
    setup = resolve_setup(plan, ANCHOR, ANCHOR + timedelta(seconds=39))
    assert setup.entry is None
    assert setup.groups[0] == Group(("a", "b"))
    assert setup.next_due == ANCHOR + timedelta(seconds=40)


def test_an_entry_applies_from_its_due_time_on():
    plan = make_plan((), (after(40, ("a", "b", "c")),))
    setup = resolve_setup(plan, ANCHOR, ANCHOR + timedelta(seconds=40))
    assert setup.entry == 0
    assert setup.groups == (Group(("a", "b", "c")), Group(("d",)))
    assert setup.next_due is None


def test_the_entry_due_latest_wins_whatever_the_order_written():
    noon = ANCHOR + timedelta(hours=1)
    plan = make_plan((), (at(noon, ("a", "b")), after(60, ("c", "d")), after(30, ("a", "d"))))
    # At +2h every entry is due; the one due latest (the absolute one) wins.
    assert resolve_setup(plan, ANCHOR, ANCHOR + timedelta(hours=2)).entry == 0
    # At +45s only the +30s entry is due; next is +60s.
    setup = resolve_setup(plan, ANCHOR, ANCHOR + timedelta(seconds=45))
    assert (setup.entry, setup.next_due) == (2, ANCHOR + timedelta(seconds=60))


def test_on_a_tie_the_entry_written_later_wins():
    plan = make_plan((), (after(10, ("a", "b")), after(10, ("c", "d"))))
    assert resolve_setup(plan, ANCHOR, ANCHOR + timedelta(seconds=10)).entry == 1


def test_an_empty_entry_means_every_task_alone():
    plan = make_plan((Group(TASKS),), (after(1),))
    setup = resolve_setup(plan, ANCHOR, ANCHOR + timedelta(seconds=1))
    assert setup.groups == tuple(Group((t,)) for t in TASKS)


def test_unknown_tasks_are_dropped_and_duplicates_resolved():
    groups = (Group(("a", "ghost")), Group(("ghost2",), "x"), Group(("a", "b")))
    assert complete_groups(groups, {t: None for t in TASKS}) == (
        Group(("a",)), Group(("b",)), Group(("c",)), Group(("d",)),
    )


def test_group_of():
    setup = resolve_setup(make_plan((Group(("c", "a")),)), ANCHOR, ANCHOR)
    assert setup.group_of("a") == Group(("a", "c"))
    assert setup.group_of("nope") is None


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve_setup(make_plan(), datetime(2026, 1, 1), ANCHOR)
    with pytest.raises(ValueError, match="at must be timezone-aware"):
        resolve_setup(make_plan(), ANCHOR, datetime(2026, 1, 1))


def test_due_times_are_in_the_order_entries_take_effect():
    late = at(ANCHOR + timedelta(days=1), ("a", "b"))
    soon = after(5, ("c", "d"))
    assert due_times(make_plan((), (late, soon)), ANCHOR) == (
        (ANCHOR + timedelta(seconds=5), soon), (ANCHOR + timedelta(days=1), late),
    )


# --- properties -------------------------------------------------------------------------

offsets = st.integers(min_value=-86_400, max_value=86_400)
group_sets = st.lists(st.lists(st.sampled_from(TASKS + ("ghost",)), min_size=1, max_size=3), max_size=3)
entries = st.lists(
    st.tuples(st.booleans(), offsets, group_sets).map(
        lambda e: (
            after(abs(e[1]), *map(tuple, e[2])) if e[0] else at(ANCHOR + timedelta(seconds=e[1]), *map(tuple, e[2]))
        )
    ),
    max_size=5,
)


def expected_entry(schedule: List[ScheduleEntry], now: datetime) -> Optional[int]:
    best: Optional[Tuple[datetime, int]] = None
    for index, entry in enumerate(schedule):
        due = entry.due(ANCHOR)
        if due <= now and (best is None or (due, index) >= best):
            best = (due, index)
    return best[1] if best else None


@settings(max_examples=300, deadline=None)
@given(entries, offsets)
def test_resolution_matches_the_definition(schedule, offset):
    plan = make_plan((Group(("a", "b")),), tuple(schedule))
    now = ANCHOR + timedelta(seconds=offset)
    setup = resolve_setup(plan, ANCHOR, now)
    assert setup.entry == expected_entry(schedule, now)
    later = [e.due(ANCHOR) for e in schedule if e.due(ANCHOR) > now]
    assert setup.next_due == (min(later) if later else None)
    # Every task in exactly one group; no unknown task; canonical order.
    placed = [t for g in setup.groups for t in g.tasks]
    assert sorted(placed) == list(TASKS)
    assert all(list(g.tasks) == sorted(g.tasks) for g in setup.groups)
    assert list(setup.groups) == sorted(setup.groups, key=lambda g: g.tasks)


@settings(max_examples=200, deadline=None)
@given(entries, offsets, st.floats(min_value=0, max_value=1, exclude_max=True))
def test_nothing_changes_before_next_due(schedule, offset, fraction):
    plan = make_plan((Group(("c", "d")),), tuple(schedule))
    now = ANCHOR + timedelta(seconds=offset)
    setup = resolve_setup(plan, ANCHOR, now)
    horizon = setup.next_due or now + timedelta(days=30)
    # timedelta * float rounds to microseconds: stay strictly before the horizon.
    later = min(now + (horizon - now) * fraction, horizon - timedelta(microseconds=1))
    assert resolve_setup(plan, ANCHOR, later).groups == setup.groups
