"""A platform that fails or times out at random on list, deploy and delete (testing/flaky_platform.py),
under a plan whose grouping changes every round, reproducible with a seed. In every round:
nothing foreign is touched, no task that was served stops being served (nothing needed is
deleted, even when a deploy that "failed" did happen), every fault is reported (a failed
change naming it, in the result and in the run history; a failed list as the error of the
apply) and nothing else fails. Once the faults stop, one apply converges.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Dict, List, Set

import pytest

from fusionizer.errors import PlatformError
from fusionizer.platforms.base import FunctionRecord
from fusionizer.reconciler.execute import ChangeStatus
from fusionizer.reconciler.reconcile import Options, apply, compute, owned
from fusionizer.reconciler.state import PlanRef, PlanState
from testing.flaky_platform import FlakyPlatform
from testing.memory_platform import MemoryPlatform
from tests.reconciler.conftest import TASKS, PlanDir

FOREIGN = {
    "shop-x": {},  # deployed by hand
    "demo-zz": {},  # a name like the plan's, without its labels
    "other-a": {"fusionizer.io/managed-by": "fusionizer", "fusionizer.io/plan": "other"},
}


def foreign_records() -> Dict[str, FunctionRecord]:
    return {name: FunctionRecord.from_nuctl({"metadata": {"name": name, "labels": labels, "annotations": {
        "fusionizer.io/tasks": "a"}}, "status": {"state": "ready"}}) for name, labels in FOREIGN.items()}


def random_groups(rng: random.Random) -> List[List[str]]:
    tasks = list(TASKS)
    rng.shuffle(tasks)
    groups, i = [], 0
    while i < len(tasks):
        size = rng.randint(1, 3)
        groups.append(sorted(tasks[i:i + size]))
        i += size
    return [g for g in groups if len(g) > 1]


def served(memory: MemoryPlatform) -> Set[str]:
    return {t for r in owned(list(memory.records.values()), "demo").values() if r.serving for t in r.tasks()}


@pytest.fixture
def plans(tmp_path: Path) -> PlanDir:
    return PlanDir(tmp_path / "plan")


@pytest.fixture
def memory() -> MemoryPlatform:
    platform = MemoryPlatform()
    platform.records.update(foreign_records())
    return platform


@pytest.mark.parametrize("rounds", [pytest.param(60, id="short"), pytest.param(600, id="long", marks=pytest.mark.e2e)])
def test_a_platform_failing_at_random_never_costs_a_task_and_every_fault_is_reported(
        plans: PlanDir, memory: MemoryPlatform, fault_seed: int, rounds: int) -> None:
    rng = random.Random(fault_seed)
    assert apply(plans.plan([]), memory, "r0").ok
    foreign = foreign_records()
    for round_ in range(rounds):
        where = f"(seed {fault_seed}, round {round_})"
        flaky = FlakyPlatform(memory, rng, rate=0.3)
        plan = plans.plan(random_groups(rng))
        before = served(memory)
        try:
            result = apply(plan, flaky, f"r{round_ + 1}", Options(parallel=1))
        except PlatformError as e:
            assert [f.call for f in flaky.faults] == ["list"] and str(e) == flaky.faults[0].message, where
            assert flaky.touched == [], where
            continue
        assert not {name for _, name in flaky.touched} & set(FOREIGN), where
        assert {n: memory.records[n] for n in FOREIGN} == foreign, where
        assert before <= served(memory), f"{where}: {before - served(memory)} no longer served"
        failed = {o.change.function: o.detail for o in result.outcomes if o.status == ChangeStatus.FAILED}
        assert set(failed) == {f.function for f in flaky.faults}, where
        assert all(f.message in failed[f.function] for f in flaky.faults), where
        errors = PlanState(PlanRef("local", "nuclio", "demo")).history()[-1]["errors"]
        assert sorted(errors) == sorted(f"{f.function}: {f.message}" for f in flaky.faults), where
    final = plans.plan(random_groups(rng))
    assert apply(final, memory, "final").ok
    assert all(c.action == "noop" for c in compute(final, memory).changes)
    assert {n: memory.records[n] for n in FOREIGN} == foreign
    assert served(memory) == set(TASKS)
