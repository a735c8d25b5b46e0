"""A directory plan checked once is not checked again while nothing its check reads has
changed (fusionizer.plan.memo), and its builds are not described again (fusionizer.build.memo):
each test below changes one thing the check depends on and expects it found."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest

from fusionizer import filecache
from fusionizer.build import fuser, memo as build_memo
from fusionizer.plan import memo
from fusionizer.reconciler.reconcile import compute
from fusionizer.reconciler.revision import Loaded, Refused, Revision, load_revision
from fusionizer.sources import DirectorySource
from testing.memory_platform import MemoryPlatform
from tests.reconciler.conftest import PlanDir


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    filecache.forget()
    yield
    filecache.forget()


def counted(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> List[int]:
    """Count the calls of ``module.name`` (still doing what it does)."""
    calls: List[int] = []
    real: Callable[..., Any] = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def load(plan_file: Path, memory: MemoryPlatform, strict: bool = False) -> Revision:
    filecache.forget()  # as a new process: only what is on disk
    return load_revision(DirectorySource(plan_file), lambda plan: memory, strict)


def refused_with(revision: Revision, text: str) -> bool:
    return isinstance(revision, Refused) and any(text in d.message for d in revision.diagnostics)


def test_a_plan_checked_before_is_not_checked_again(
        plans: PlanDir, memory: MemoryPlatform, monkeypatch: pytest.MonkeyPatch) -> None:
    checks = counted(monkeypatch, memo, "check_plan")
    plans.write([["a", "b"], ["c"]])
    first, again = load(plans.file, memory), load(plans.file, memory)
    assert isinstance(first, Loaded) and isinstance(again, Loaded)
    assert len(checks) == 1
    assert again.plan == first.plan and again.plan.fingerprint == first.plan.fingerprint is not None
    assert again.plan.listing is again.snapshot.listing  # the snapshot's own files, not the remembered run's
    (plans.root / "tasks/a/main.py").write_text("def handler(context, event):\n    return 'A'\n")
    edited = load(plans.file, memory)
    assert isinstance(edited, Loaded) and len(checks) == 2 and edited.plan.fingerprint != first.plan.fingerprint


def test_a_task_that_lost_its_function_yaml_beside_remembered_ones_is_refused(
        plans: PlanDir, memory: MemoryPlatform) -> None:
    plans.write([["a", "b"]])
    assert isinstance(load(plans.file, memory), Loaded)
    (plans.root / "tasks/f").mkdir()
    (plans.root / "tasks/f/main.py").write_text("def handler(context, event):\n    return 'f'\n")
    assert refused_with(load(plans.file, memory), "holds main.py but no function.yaml")


@pytest.mark.parametrize("moved, message", [
    ("tasks/e", "leads outside the plan's directory"),  # a task directory
    ("fusionizer.yaml", "outside"),  # the plan file itself
])
def test_what_was_checked_turned_into_a_link_out_of_the_plan_is_refused(
        plans: PlanDir, memory: MemoryPlatform, tmp_path: Path, moved: str, message: str) -> None:
    plans.write([["a", "b"]])
    assert isinstance(load(plans.file, memory), Loaded)
    outside = tmp_path / "elsewhere"
    (plans.root / moved).rename(outside)  # the same content, now out of the plan's tree
    os.symlink(outside, plans.root / moved)
    assert refused_with(load(plans.file, memory), message)


def test_strict_is_never_answered_by_a_lenient_check(plans: PlanDir, memory: MemoryPlatform) -> None:
    plans.write([["a", "ghost"]])  # a group naming an undefined task: a warning
    lenient = load(plans.file, memory)
    assert isinstance(lenient, Loaded) and any("ghost" in d.message for d in lenient.plan.warnings)
    assert refused_with(load(plans.file, memory, strict=True), "ghost")
    again = load(plans.file, memory)
    assert isinstance(again, Loaded) and again.plan.warnings == lenient.plan.warnings


def test_other_code_never_answers(plans: PlanDir, memory: MemoryPlatform, monkeypatch: pytest.MonkeyPatch) -> None:
    checks = counted(monkeypatch, memo, "check_plan")
    plans.write([["a", "b"]])
    load(plans.file, memory)
    monkeypatch.setattr(filecache, "code_stamp", lambda: "an edited checkout")
    assert isinstance(load(plans.file, memory), Loaded) and len(checks) == 2


def test_a_damaged_memory_is_checked_again(plans: PlanDir, memory: MemoryPlatform, fusionizer_home: Path) -> None:
    plans.write([["a", "b"]])
    first = load(plans.file, memory)
    kept = list((fusionizer_home / "cache" / "plans").iterdir())
    assert len(kept) == 1 and kept[0].stat().st_mode & 0o077 == 0
    kept[0].write_bytes(b"\x80\x05not a pickle")
    again = load(plans.file, memory)
    assert isinstance(first, Loaded) and isinstance(again, Loaded) and again.plan == first.plan


def test_builds_are_described_once_per_plan_and_groups(
        plans: PlanDir, memory: MemoryPlatform, monkeypatch: pytest.MonkeyPatch) -> None:
    describes = counted(monkeypatch, fuser, "describe_all")
    plans.write([["a", "b"], ["c"]])
    first = load(plans.file, memory)
    assert isinstance(first, Loaded)
    desired = compute(first.plan, memory).desired
    again = load(plans.file, memory)
    assert isinstance(again, Loaded)
    assert compute(again.plan, memory).desired == desired and len(describes) == 1
    regrouped = build_memo.described(again.plan, first.plan.groups[:1])
    assert [b.function for b in regrouped] == ["demo-a-b"] and len(describes) == 2


def test_a_file_the_ignore_rule_leaves_out_of_the_revision_is_still_checked(
        plans: PlanDir, memory: MemoryPlatform) -> None:
    (plans.root / "tasks/a/.fusionizerignore").write_text("*.yaml\n")  # function.yaml is read, never digested
    plans.write([["a", "b"]])
    assert isinstance(load(plans.file, memory), Loaded)
    config = plans.root / "tasks/a/function.yaml"
    config.write_text(config.read_text() + "  env: [{name: V, value: '2'}]\n")
    again = load(plans.file, memory)
    assert isinstance(again, Loaded) and again.plan.tasks["a"].config["spec"]["env"] == [{"name": "V", "value": "2"}]


def test_a_check_that_raced_an_edit_is_not_remembered(
        plans: PlanDir, memory: MemoryPlatform, monkeypatch: pytest.MonkeyPatch) -> None:
    checks = counted(monkeypatch, memo, "check_plan")
    plans.write([["a", "b"]])
    snapshot = DirectorySource(plans.file).snapshot()
    for still in (False, False, True, True):  # the revision moved while checking: checked again next time
        plan, _ = memo.check_snapshot(snapshot.plan_file, snapshot.revision, snapshot.listing,
                                      lambda still=still: still)
        assert plan is not None
        filecache.forget()
    assert len(checks) == 3


def test_a_task_path_that_leads_elsewhere_now_is_checked_again(plans: PlanDir, memory: MemoryPlatform) -> None:
    os.symlink(plans.root / "tasks/a", plans.root / "alias")
    text = PLAN_WITH_PATHS.format(first="tasks/a", second="alias")
    plans.file.write_text(text)
    listed_twice = load(plans.file, memory)
    assert isinstance(listed_twice, Loaded) and any("listed twice" in d.message for d in listed_twice.plan.warnings)
    (plans.root / "alias").unlink()
    shutil.copytree(plans.root / "tasks/a", plans.root / "alias")  # the same files, now a task of its own
    assert refused_with(load(plans.file, memory), "duplicate task name 'a'")


PLAN_WITH_PATHS = """\
apiVersion: fusionizer.io/v1
kind: FusionPlan
metadata:
  name: demo
spec:
  tasks:
    - {{name: a, path: {first}}}
    - {{name: a, path: {second}}}
"""
