"""The static optimizer is the time schedule on the optimizer API: the same setup, always."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fusionizer.optimize.api import CallStats, OptimizerInput
from fusionizer.optimize.running import run_optimizer
from fusionizer.optimize.static import StaticOptimizer
from fusionizer.plan.model import Group, Plan, ScheduleEntry, Task
from fusionizer.plan.schedule import complete_groups, resolve_setup
from testing.optimizing import NOW

TASKS = ("a", "b", "c", "d")


def make_plan(schedule: Any) -> Plan:
    tasks = {n: Task(n, Path("/t") / n, "main:handler", "python:3.11", {}) for n in TASKS}
    return Plan("shop", Path("/p/fusionizer.yaml"), tasks, (Group(("a", "b"), "front"),), tuple(schedule))


group_sets = st.lists(st.lists(st.sampled_from(TASKS + ("ghost",)), min_size=1, max_size=3, unique=True), max_size=3)
entries = st.lists(
    st.tuples(st.booleans(), st.integers(-86_400, 86_400), group_sets).map(lambda e: ScheduleEntry(
        tuple(Group(tuple(g)) for g in e[2]),
        after=timedelta(seconds=abs(e[1])) if e[0] else None,
        at=None if e[0] else NOW + timedelta(seconds=e[1]),
    )),
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(entries, st.integers(-86_400, 86_400), st.integers(0, 3600))
def test_it_proposes_exactly_what_the_schedule_resolves(schedule: Any, offset: int, since: int) -> None:
    plan = make_plan(schedule)
    anchor, now = NOW - timedelta(seconds=since), NOW + timedelta(seconds=offset)
    current = complete_groups(plan.groups, plan.tasks)
    outcome = run_optimizer(StaticOptimizer(), OptimizerInput(plan, current, CallStats(), now, anchor), "static")
    assert outcome.error is None
    assert outcome.proposed == resolve_setup(plan, anchor, now).groups


def test_each_group_says_which_entry_put_it_there() -> None:
    later = ScheduleEntry((Group(("a", "b", "c", "d"), "all"),), after=timedelta(seconds=40))
    plan = make_plan([later])
    early = StaticOptimizer().propose(OptimizerInput(plan, (), CallStats(), NOW, NOW))
    assert {r.text for r in early.reasons} == {
        "the default setup (spec.fusion.groups): no schedule entry is due yet; "
        "the next one is due at 2026-03-01T12:00:40+00:00"}
    late = StaticOptimizer().propose(OptimizerInput(plan, (), CallStats(), NOW + timedelta(minutes=1), NOW))
    assert [(r.tasks, r.text) for r in late.reasons] == [
        (("a", "b", "c", "d"), "schedule entry #1 took effect at 2026-03-01T12:00:40+00:00")]
