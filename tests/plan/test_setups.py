"""Checks of fusion setups: the default groups and each schedule entry's groups.

Plans come from ``ws.plan_text(groups)``: the groups start at line 9, column 7 (``- ``);
a shorthand group's first task is at column 10.
"""

from __future__ import annotations

from pathlib import Path

from fusionizer.plan import naming
from fusionizer.plan.loader import load_plan
from fusionizer.plan.model import Group


def tasks(ws, *names: str) -> None:
    for name in names:
        ws.task(name)


def test_a_task_in_two_groups_of_one_setup(ws):
    tasks(ws, "a", "b", "c")
    ws.plan(ws.plan_text("      - [a, b]\n      - {name: other, tasks: [c, a]}"))
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:10:34"
    assert d.path == "spec.fusion.groups[1].tasks[1]"
    assert d.message == (
        "task 'a' is already in group [a, b] (line 9, spec.fusion.groups[0]); a task runs in "
        "exactly one function per setup: remove it from one of the groups"
    )


def test_each_schedule_entry_is_its_own_setup(ws):
    tasks(ws, "a", "b", "c")
    ws.plan(ws.plan_text(
        "      - [a, b]\n"  # 9
        "    schedule:\n"  # 10
        "      - after: 1m\n"  # 11
        "        groups: [[a, c]]\n"  # 12: fine, a new setup
        "      - after: 2m\n"  # 13
        "        groups: [[a, c], [b, a]]\n"  # 14: a twice in this entry
    ))
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:14:30"
    assert d.path == "spec.fusion.schedule[1].groups[1][1]"
    assert "task 'a' is already in group [a, c] (line 14, spec.fusion.schedule[1].groups[0])" in d.message


def test_a_task_listed_twice_in_one_group(ws):
    tasks(ws, "a", "b")
    ws.plan(ws.plan_text("      - [a, b, a]"))
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:9:16"
    assert d.message == "task 'a' is listed twice in this group; remove one"


def test_unknown_task_is_a_warning_with_a_suggestion(ws):
    tasks(ws, "payment", "notify")
    ws.plan(ws.plan_text("      - [payment, notfy]"))
    plan, diagnostics = ws.check()
    d = ws.one(diagnostics, "warning")
    assert d.location() == "fusionizer.yaml:9:19"
    assert d.message == (
        "group names task 'notfy', which the plan does not define; did you mean 'notify'? Otherwise "
        "add it to spec.tasks or a spec.taskDirs directory, or remove it from the group"
    )
    assert plan is not None
    assert plan.groups == (Group(("payment",)),)


def test_a_group_of_only_unknown_tasks_disappears(ws):
    tasks(ws, "a")
    ws.plan(ws.plan_text("      - [x, y]\n      - [a]"))
    plan = load_plan(Path("fusionizer.yaml"))
    assert plan.groups == (Group(("a",)),)
    assert len(plan.warnings) == 2


def test_an_empty_group_is_an_error(ws):
    tasks(ws, "a")
    ws.plan(ws.plan_text("      - []"))
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:9:9"
    assert d.message == "this list is empty; add at least one entry or remove it"


def test_group_names_must_be_dns_labels(ws):
    tasks(ws, "a")
    ws.plan(ws.plan_text("      - {name: Front_End, tasks: [a]}"))
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:9:16"
    assert "not a DNS-1123 label" in d.message


def test_group_names_are_unique_within_a_setup(ws):
    tasks(ws, "a", "b")
    ws.plan(ws.plan_text(
        "      - {name: front, tasks: [a]}\n"
        "      - {name: front, tasks: [b]}\n"
        "    schedule:\n"
        "      - after: 5m\n"
        "        groups: [{name: front, tasks: [a, b]}]"  # another setup: fine
    ))
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:10:16"
    assert d.message == (
        "group 'front' becomes function shop-front, as does group 'front' (line 9, "
        "spec.fusion.groups[0].name); two functions cannot share a name: rename the group"
    )


def test_function_name_of_a_named_group_must_fit_63_chars(ws):
    tasks(ws, "a")
    name = "g" * 59  # "shop-" + 59 = 64 characters
    ws.plan(ws.plan_text(f"      - {{name: {name}, tasks: [a]}}"))
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:9:16"
    assert d.message == (
        f"the function name 'shop-{name}' would be 64 characters; Nuclio allows 63: shorten the "
        "group name (or the plan name)"
    )


def test_group_named_like_a_task_that_runs_alone(ws):
    tasks(ws, "a", "b", "payment")
    ws.plan(ws.plan_text("      - {name: payment, tasks: [a, b]}"))
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:9:16"
    assert d.message == (
        "group 'payment' becomes function shop-payment, as does lone task 'payment' (line 6, "
        "spec.taskDirs[0]); two functions cannot share a name: rename the group"
    )


def test_group_named_after_one_of_its_own_tasks_is_fine(ws):
    tasks(ws, "payment", "notify")
    ws.plan(ws.plan_text("      - {name: payment, tasks: [payment, notify]}"))
    assert load_plan(Path("fusionizer.yaml")).groups == (Group(("payment", "notify"), "payment"),)


def test_different_runtimes_in_one_group(ws):
    ws.task("a", runtime="python:3.9")
    ws.task("b", runtime="python:3.11")
    ws.plan(ws.plan_text())
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:9:9"
    assert d.message == (
        "group [a, b] mixes runtimes: a (python:3.9), b (python:3.11); a fused function has one "
        "runtime: set the same spec.runtime in their function.yaml or split the group"
    )


def test_python_alias_does_not_conflict_with_python_3_9(ws):
    ws.task("a", runtime="python")
    ws.task("b", runtime="python:3.9")
    ws.plan(ws.plan_text())
    assert load_plan(Path("fusionizer.yaml"))


def test_different_runtimes_in_different_groups_are_fine(ws):
    ws.task("a", runtime="python:3.9")
    ws.task("b", runtime="python:3.11")
    ws.plan(ws.plan_text("      - [a]\n      - [b]"))
    assert load_plan(Path("fusionizer.yaml"))


def test_conflicting_env_in_a_group_names_both_files(ws):
    ws.task("a", env={"MODE": "fast", "SHARED": "1"})
    ws.task("b", env={"SHARED": "1", "MODE": "safe"})
    ws.plan(ws.plan_text())
    d = ws.one(ws.check()[1])
    # The second task's entry (function.yaml lines 7-8: SHARED, 9-10: MODE).
    assert d.location() == "tasks/b/function.yaml:9:7"
    assert d.path == "spec.env[1]"
    assert d.message == (
        "env MODE = 'safe' conflicts with MODE = 'fast' of task 'a' (tasks/a/function.yaml:7:7), "
        "fused with it in group [a, b] (fusionizer.yaml:9); a fused function has one environment: "
        "use the same value or put the tasks in different groups"
    )


def test_env_conflict_is_checked_per_setup(ws):
    ws.task("a", env={"MODE": "fast"})
    ws.task("b", env={"MODE": "safe"})
    ws.plan(ws.plan_text(
        "      - [a]\n"
        "    schedule:\n"
        "      - at: 2030-01-01T00:00:00Z\n"
        "        groups: [{name: both, tasks: [a, b]}]\n"
    ))
    d = ws.one(ws.check()[1])
    assert d.location() == "tasks/b/function.yaml:7:7"
    assert "fused with it in group 'both' (fusionizer.yaml:12)" in d.message


def test_same_env_and_different_build_commands_are_merged_without_complaint(ws):
    ws.task("a", config=(
        "spec:\n  runtime: python:3.11\n  env: [{name: CURRENCY, value: EUR}]\n"
        "  build: {commands: [pip install requests]}\n"
    ))
    ws.task("b", config=(
        "spec:\n  runtime: python:3.11\n  env: [{name: CURRENCY, value: EUR}, {name: X, value: '1'}]\n"
        "  build: {commands: [pip install numpy]}\n"
    ))
    ws.plan(ws.plan_text())
    plan, diagnostics = ws.check()
    assert plan is not None and diagnostics == []


# -- function name collisions: two functions of one setup never share a name -------------------


def test_a_shorthand_group_named_like_a_lone_task(ws):
    tasks(ws, "a", "b", "a-b")
    ws.plan(ws.plan_text("      - [a, b]"))
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:9:9"
    assert d.message == (
        "group [a, b] becomes function shop-a-b, as does lone task 'a-b' (line 6, spec.taskDirs[0]); "
        "two functions cannot share a name: give the group a name (name: ..., tasks: [...])"
    )


def test_two_shorthand_groups_whose_names_coincide(ws):
    tasks(ws, "a", "b-c", "a-b", "c")
    ws.plan(ws.plan_text("      - [a, b-c]\n      - [a-b, c]"))
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:10:9"
    assert "group [a-b, c] becomes function shop-a-b-c, as does group [a, b-c] (line 9, spec.fusion.groups[0])" \
        in d.message


def test_a_shortened_name_equal_to_a_written_one(ws):
    names = [f"task-number-{i:02d}" for i in range(6)]
    tasks(ws, *names)
    hashed = naming.function_name("shop", "-".join(names))
    assert len(hashed) == 63
    ws.task("x")
    ws.plan(ws.plan_text(f"      - [{', '.join(names)}]\n      - {{name: {hashed[len('shop-'):]}, tasks: [x]}}"))
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:10:16"
    assert d.message.startswith(f"group {hashed[len('shop-'):]!r} becomes function {hashed}, as does group "
                                f"[{', '.join(names)}] (line 9, spec.fusion.groups[0])")


def test_collisions_are_checked_per_setup(ws):
    tasks(ws, "a", "b", "a-b")
    ws.plan(ws.plan_text(
        "      - [a-b, a]\n"
        "    schedule:\n"
        "      - after: 5m\n"
        "        groups: [[a, b]]"  # here a-b runs alone: a collision in this setup only
    ))
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:12:18"
    assert "as does lone task 'a-b'" in d.message
