"""What an update changes, against the build apply kept for each function it deployed: tasks
added and removed, files by path, env/build/config keys, and the text with --diff."""

from __future__ import annotations

import json
import os

from fusionizer.cli.plan import change_details, plan_json
from fusionizer.cli.render import change_lines
from fusionizer.plan.loader import load_plan
from fusionizer.plan.model import Plan
from fusionizer.reconciler.reconcile import apply, compute, destroy
from fusionizer.reconciler.state import PlanState
from testing.memory_platform import MemoryPlatform
from tests.reconciler.conftest import PLAN, PlanDir


def named_group(plans: PlanDir, *tasks: str) -> Plan:
    """One group named ``ab`` (function demo-ab, whatever its tasks)."""
    plans.file.write_text(PLAN.format(name="demo", groups=f"[{{name: ab, tasks: [{', '.join(tasks)}]}}]"))
    return load_plan(plans.file)


def test_an_update_names_the_files_tasks_and_keys_it_changes(plans: PlanDir, memory: MemoryPlatform) -> None:
    assert apply(named_group(plans, "a", "b"), memory, "r1").ok
    (plans.root / "tasks" / "a" / "main.py").write_text("def handler(context, event):\n    return 'A'\n")
    (plans.root / "tasks" / "b" / "notes.txt").write_text("new\n")
    (plans.root / "tasks" / "b" / "function.yaml").write_text(
        "spec:\n  runtime: python:3.11\n  handler: main:handler\n  minReplicas: 2\n"
        "  env: [{name: GREETING, value: hi}]\n  build: {commands: [pip install x]}\n")
    result = compute(named_group(plans, "a", "b", "c"), memory)
    details = change_details(result, memory, with_diff=True)
    (update,) = [c for c in result.changes if c.action == "update"]
    found = details[update.function]
    assert found.unknown == "" and found.tasks_added == ("c",) and found.tasks_removed == ()
    assert found.files_changed == ("tasks/a/main.py", "tasks/b/function.yaml")
    assert "tasks/b/notes.txt" in found.files_added and "tasks/c/main.py" in found.files_added
    assert found.env == ("GREETING",) and found.build == ("commands",)
    assert "spec.minReplicas" in found.config and "metadata.annotations.fusionizer.io/tasks" in found.config
    diff = "".join(found.diffs)
    assert "--- a/tasks/a/main.py\n+++ b/tasks/a/main.py\n" in diff and "-    return 'a'\n+    return 'A'\n" in diff
    assert "+++ b/tasks/b/notes.txt" in diff
    lines = change_lines(result.changes, details)
    assert "      tasks: + c" in lines and any(line.startswith("      env: ~ GREETING") for line in lines)
    as_json = {c["function"]: c for c in plan_json(result, details)["changes"]}  # type: ignore[union-attr]
    assert as_json[update.function]["details"]["files"]["changed"] == ["tasks/a/main.py", "tasks/b/function.yaml"]


def test_without_a_kept_build_the_details_are_unknown(plans: PlanDir, memory: MemoryPlatform) -> None:
    assert apply(plans.plan([["a"]]), memory, "r1").ok
    state = PlanState.of(memory, "demo")
    assert (state.deployed_dir / "demo-a").is_dir()
    other = MemoryPlatform()
    other.records = dict(memory.records)  # deployed by someone else: nothing kept for it here
    (plans.root / "tasks" / "a" / "main.py").write_text("def handler(context, event):\n    return 'A'\n")
    plan = plans.plan([["a"]])
    for platform, words in ((memory, ""), (other, "details unknown (deployed before")):
        other.kind = "nuctl"
        found = change_details(compute(plan, platform), platform)["demo-a"]
        assert found.unknown.startswith(words) if words else found.files_changed == ("tasks/a/main.py",)
    destroy(plan, memory)
    assert not (state.deployed_dir / "demo-a").exists()


def test_a_line_without_a_newline_is_marked_wherever_it_stands_in_the_diff(
        plans: PlanDir, memory: MemoryPlatform) -> None:
    notes = plans.root / "tasks" / "a" / "notes.txt"
    notes.write_text("a")
    assert apply(named_group(plans, "a", "b"), memory, "r1").ok
    notes.write_text("a\nb\n")
    result = compute(named_group(plans, "a", "b"), memory)
    (update,) = [c for c in result.changes if c.action == "update"]
    diff = "".join(change_details(result, memory, with_diff=True)[update.function].diffs)
    assert "-a\n\\ No newline at end of file\n+a\n+b\n" in diff


def test_a_kept_build_is_one_directory_of_links_named_by_content(plans: PlanDir, memory: MemoryPlatform) -> None:
    (plans.root / "tasks" / "b" / "main.py").write_bytes((plans.root / "tasks" / "a" / "main.py").read_bytes())
    assert apply(named_group(plans, "a", "b"), memory, "r1").ok
    kept = PlanState.of(memory, "demo").deployed_dir / "demo-ab"
    assert all(p.is_file() for p in kept.iterdir())  # no directory inside: each costs the disk an inode
    record = json.loads((kept / "deployed.json").read_text())
    same = record["files"]["tasks/a/main.py"]
    assert same == record["files"]["tasks/b/main.py"]  # the same bytes kept once
    assert (kept / same).read_bytes() == (plans.root / "tasks" / "a" / "main.py").read_bytes()
    own = {name for name in record["files"].values() if not name.startswith("../")}
    assert len(list(kept.iterdir())) == len(own) + 1
    runtime = {dest: name for dest, name in record["files"].items() if dest.startswith("_fusionizer_runtime/")}
    assert runtime and all(name.startswith("../.runtime/") for name in runtime.values())  # kept once for all
    assert all((kept / name).is_file() for name in runtime.values())
    shared = sorted((kept.parent / ".runtime").iterdir())
    assert apply(named_group(plans, "c", "d"), memory, "r2").ok  # another build of the same function
    other = json.loads((kept / "deployed.json").read_text())["files"]
    assert {d: n for d, n in other.items() if d in runtime} == runtime and "tasks/c/main.py" in other
    assert sorted((kept.parent / ".runtime").iterdir()) == shared  # the same files, none made again


def test_a_build_kept_by_paths_as_before_still_gives_the_details(plans: PlanDir, memory: MemoryPlatform) -> None:
    assert apply(plans.plan([["a"]]), memory, "r1").ok
    kept = PlanState.of(memory, "demo").deployed_dir / "demo-a"
    record = json.loads((kept / "deployed.json").read_text())
    for dest, name in record["files"].items():  # the layout of an earlier version: files/<path>
        (kept / "files" / dest).parent.mkdir(parents=True, exist_ok=True)
        os.link(kept / name, kept / "files" / dest)
    for name in set(record["files"].values()):
        (kept / name).unlink()
    (kept / "deployed.json").write_text(json.dumps({**record, "files": sorted(record["files"])}))
    (plans.root / "tasks" / "a" / "main.py").write_text("def handler(context, event):\n    return 'A'\n")
    found = change_details(compute(plans.plan([["a"]]), memory), memory)["demo-a"]
    assert found.files_changed == ("tasks/a/main.py",)


def test_what_a_killed_apply_left_half_kept_is_collected_by_the_next(plans: PlanDir, memory: MemoryPlatform) -> None:
    assert apply(named_group(plans, "a", "b"), memory, "r1").ok
    deployed = PlanState.of(memory, "demo").deployed_dir
    for leftover in (".demo-ab-x1y2z3", ".demo-ab-old-q9w8e7"):  # staged, or being forgotten, when it was killed
        (deployed / leftover).mkdir()
        (deployed / leftover / "deployed.json").write_text("{}")
    assert apply(named_group(plans, "a", "b"), memory, "r2").ok
    assert sorted(p.name for p in deployed.iterdir() if p.name.startswith(".")) == [".runtime"]
    assert (deployed / "demo-ab" / "deployed.json").is_file()
