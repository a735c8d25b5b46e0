"""A reconcile walks and hashes a directory plan once (its snapshot's listing) and remembers
what it learnt in the file cache: the functions it builds are those a walk of the disk
gives, and no cached verdict hides a change, even one that keeps a file's size and mtime."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict, Iterator

import pytest

from fusionizer import filecache
from fusionizer.build import fuser
from fusionizer.plan.loader import load_plan
from fusionizer.plan.model import Plan
from fusionizer.reconciler.reconcile import Options, apply, compute
from fusionizer.reconciler.revision import Loaded, Refused, load_revision
from fusionizer.sources import DirectorySource
from testing.memory_platform import MemoryPlatform
from tests.reconciler.conftest import PlanDir


@pytest.fixture(autouse=True)
def remember_every_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Files written by a test are younger than the racy window: remember them anyway, so
    that the cache is what answers when nothing but their stat is looked at."""
    monkeypatch.setattr(filecache, "RACY_SECONDS", -1e9)
    filecache.forget()
    yield
    filecache.forget()


def loaded(plan_file: Path, platform: MemoryPlatform) -> Loaded:
    revision = load_revision(DirectorySource(plan_file), lambda plan: platform)
    assert isinstance(revision, Loaded), getattr(revision, "diagnostics", None)
    return revision


def hashes(plan: Plan) -> Dict[str, str]:
    return {b.function: b.spec_hash for b in fuser.describe_all(plan, plan.groups)}


def edit_keeping_size_and_mtime(path: Path, old: str, new: str) -> None:
    before = os.stat(path)
    text = path.read_text()
    assert len(old) == len(new) and old in text
    path.write_text(text.replace(old, new))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_the_listing_builds_what_a_walk_of_the_disk_builds(plans: PlanDir, memory: MemoryPlatform) -> None:
    root = plans.root
    (root / ".gitignore").write_text("*.log\n")
    (root / "tasks/a/.fusionizerignore").write_text("scratch/\n!keep.log\n")
    (root / "tasks/a/keep.log").write_text("kept\n")
    (root / "tasks/a/other.log").write_text("ignored\n")
    (root / "tasks/a/scratch").mkdir()
    (root / "tasks/a/scratch/x.py").write_text("ignored\n")
    (root / "tasks/b/pkg").mkdir()
    (root / "tasks/b/pkg/__init__.py").write_text("")
    (root / "tasks/b/run.sh").write_text("#!/bin/sh\n")
    os.chmod(root / "tasks/b/run.sh", 0o755)
    listed_task = root / "lib" / "deep" / "s"  # a task named in spec.tasks, deeper in the tree
    listed_task.mkdir(parents=True)
    (listed_task / "function.yaml").write_text("spec:\n  runtime: python:3.11\n  handler: main:handler\n")
    (listed_task / "main.py").write_text("def handler(context, event):\n    return 's'\n")
    (root / "lib" / ".gitignore").write_text("*.tmp\n")
    (listed_task / "x.tmp").write_text("ignored\n")
    plans.write([["a", "b"], ["c", "s"]])
    text = plans.file.read_text().replace("spec:\n", "spec:\n  tasks:\n    - {name: s, path: lib/deep/s}\n")
    plans.file.write_text(text)
    listed = loaded(plans.file, memory).plan
    assert listed.listing is not None
    assert hashes(listed) == hashes(load_plan(plans.file))


def test_a_no_op_lists_once_and_an_edit_keeping_size_and_mtime_is_an_update(
        plans: PlanDir, memory: MemoryPlatform) -> None:
    plans.write([["a", "b"], ["c"]])
    first = loaded(plans.file, memory)
    apply(first.plan, memory, first.snapshot.revision)
    filecache.save()
    filecache.forget()  # a new process: the cache from disk only
    again = loaded(plans.file, memory)
    lists = memory.calls["list"]
    assert not compute(again.plan, memory).has_changes and memory.calls["list"] == lists + 1
    assert again.snapshot.revision == first.snapshot.revision
    edit_keeping_size_and_mtime(plans.root / "tasks/a/main.py", "return 'a'", "return 'A'")
    changed = loaded(plans.file, memory)
    assert changed.snapshot.revision != first.snapshot.revision
    updates = [c.function for c in compute(changed.plan, memory).changes if c.action == "update"]
    assert updates == ["demo-a-b"]


def test_a_handler_broken_keeping_size_and_mtime_is_refused(plans: PlanDir, memory: MemoryPlatform) -> None:
    plans.write([["a"]])
    loaded(plans.file, memory)  # its handler checked and remembered
    edit_keeping_size_and_mtime(plans.root / "tasks/a/main.py", "def handler(", "def handlex(")
    refused = load_revision(DirectorySource(plans.file), lambda plan: memory)
    assert isinstance(refused, Refused)
    assert any("defines no top-level 'handler'" in d.message for d in refused.diagnostics)


def test_a_task_whose_function_yaml_is_ignored_is_still_read(plans: PlanDir, memory: MemoryPlatform) -> None:
    (plans.root / "tasks/a/.fusionizerignore").write_text("function.yaml\n")
    plans.write([["a", "b"]])
    plan = loaded(plans.file, memory).plan
    listed_a = plan.listing.directory(str(plans.root / "tasks/a")) if plan.listing is not None else None
    assert listed_a is not None and "function.yaml" not in [f.rel for f in listed_a]
    assert sorted(plan.tasks) == ["a", "b", "c", "d", "e"]
    apply(plan, memory, "r1", Options())
    assert sorted(memory.records) == ["demo-a-b", "demo-c", "demo-d", "demo-e"]


@pytest.mark.parametrize("make, message", [
    (lambda task, outside: os.symlink(outside, task / "data.txt"), "leads outside the plan's directory"),
    (lambda task, outside: os.mkfifo(task / "pipe"), "is a FIFO"),
    (lambda task, outside: os.symlink(task / "gone", task / "dangling"), "broken symbolic link"),
])
def test_a_snapshot_hides_no_problem_of_a_task_directory(
        plans: PlanDir, memory: MemoryPlatform, tmp_path: Path, make: Callable[[Path, Path], None], message: str,
) -> None:
    plans.write([["a", "b"]])
    loaded(plans.file, memory)  # checked and remembered while it was fine
    outside = tmp_path / "secret.txt"
    outside.write_text("not the plan's\n")
    make(plans.root / "tasks" / "a", outside)
    refused = load_revision(DirectorySource(plans.file), lambda plan: memory)
    assert isinstance(refused, Refused)
    assert any(message in d.message for d in refused.diagnostics), refused.diagnostics


def test_a_snapshot_keeps_a_task_directory_within_its_limits(
        plans: PlanDir, memory: MemoryPlatform, monkeypatch: pytest.MonkeyPatch) -> None:
    plans.write([["a", "b"]])
    loaded(plans.file, memory)
    monkeypatch.setenv("FUSIONIZER_MAX_TASK_FILES", "1")  # each task holds function.yaml and main.py
    refused = load_revision(DirectorySource(plans.file), lambda plan: memory)
    assert isinstance(refused, Refused)
    assert any("holds more than 1 files" in d.message for d in refused.diagnostics), refused.diagnostics
