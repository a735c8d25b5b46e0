"""load_plan / check_plan: the model they build and the plan-file errors they report.

Every error test pins the exact FILE:LINE:COL and checks the message says what to do.
Task-file errors are in test_tasks.py, setup errors in test_setups.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from fusionizer.errors import PlanError
from fusionizer.plan.loader import check_plan, load_plan
from fusionizer.plan.model import Group

VALID = """\
apiVersion: fusionizer.io/v1
kind: FusionPlan
metadata:
  name: shop
spec:
  platform:
    kind: nuctl
    namespace: staging
    nuctlPlatform: kube
    registry: localhost:5000
    deployTimeout: 300
  tasks:
    - name: b
      path: extra/b
  taskDirs: [tasks]
  fusion:
    groups:
      - [a, b]
      - {name: solo, tasks: [c]}
    schedule:
      - after: 1h30m
        groups: [[a, b, c]]
      - at: 2030-01-01T08:00:00+01:00
        groups: []
  optimizer:
    class: mypkg.opt:Greedy
    options: {budget: 3}
"""


def test_valid_plan_builds_the_model(ws):
    ws.task("a")
    ws.task("c")
    ws.task("b", under="extra")
    ws.plan(VALID)
    plan = load_plan(Path("fusionizer.yaml"))
    assert plan.name == "shop"
    assert plan.file == ws.root / "fusionizer.yaml"
    assert plan.root == ws.root
    assert list(plan.tasks) == ["a", "b", "c"]  # sorted by name
    assert plan.tasks["b"].path == ws.root / "extra" / "b"
    assert plan.tasks["a"].handler == "main:handler"
    assert plan.tasks["a"].runtime == "python:3.11"
    assert plan.tasks["a"].config["metadata"] == {"name": "a"}
    assert plan.groups == (Group(("a", "b")), Group(("c",), "solo"))
    assert plan.schedule[0].after == timedelta(hours=1, minutes=30)
    assert plan.schedule[0].groups == (Group(("a", "b", "c")),)
    assert plan.schedule[1].at == datetime(2030, 1, 1, 7, tzinfo=timezone.utc)
    assert plan.schedule[1].groups == ()
    assert plan.platform.kind == "nuctl"
    assert plan.platform.namespace == "staging"
    assert dict(plan.platform.options) == {"nuctlPlatform": "kube", "registry": "localhost:5000", "deployTimeout": 300}
    assert plan.optimizer is not None
    assert plan.optimizer.class_path == "mypkg.opt:Greedy"
    assert dict(plan.optimizer.options) == {"budget": 3}
    assert plan.warnings == ()


def test_defaults_when_optional_sections_are_missing(ws):
    ws.task("a")
    ws.plan("""
        apiVersion: fusionizer.io/v1
        kind: FusionPlan
        metadata: {name: tiny}
        spec:
          taskDirs: [tasks]
    """)
    plan = load_plan(Path("fusionizer.yaml"))
    assert (plan.platform.kind, plan.platform.namespace, dict(plan.platform.options)) == ("local", "nuclio", {})
    assert plan.groups == () and plan.schedule == () and plan.optimizer is None


def test_relative_paths_resolve_against_the_plan_dir_not_the_cwd(ws, monkeypatch):
    ws.task("a", under="proj/tasks")
    ws.task("b", under="proj/tasks")
    ws.plan(ws.plan_text(), name="proj/fusionizer.yaml")
    monkeypatch.chdir(ws.root / "proj" / "tasks")  # somewhere else entirely
    plan = load_plan(ws.root / "proj" / "fusionizer.yaml")
    assert plan.tasks["a"].path == ws.root / "proj" / "tasks" / "a"


def test_diagnostics_name_task_files_relative_to_the_plan_as_given(ws):
    ws.task("a", under="proj/tasks", runtime="golang")
    ws.task("b", under="proj/tasks")
    ws.plan(ws.plan_text(), name="proj/fusionizer.yaml")
    _, diagnostics = check_plan(Path("proj/fusionizer.yaml"))
    assert ws.one(diagnostics).location() == "proj/tasks/a/function.yaml:4:12"


def test_shown_as_renames_the_plan_in_diagnostics(ws):
    ws.task("a", runtime="golang")
    ws.task("b")
    ws.plan(ws.plan_text(), name="checkout/fusionizer.yaml")
    _, diagnostics = check_plan(ws.root / "checkout" / "fusionizer.yaml", shown_as=Path("fusionizer.yaml"))
    # tasks/ lives next to the plan in checkout/, not here: the task dir does not exist.
    assert ws.one(diagnostics).location() == "fusionizer.yaml:6:14"


def test_missing_plan_file_names_the_path_and_suggests_f(ws):
    plan, diagnostics = ws.check(plan="nope.yaml")
    assert plan is None
    d = ws.one(diagnostics)
    assert d.location() == "nope.yaml"
    assert "no plan file at nope.yaml" in d.message and "-f PATH" in d.message


def test_plan_path_that_is_a_directory(ws):
    (ws.root / "dir").mkdir()
    d = ws.one(check_plan(Path("dir"))[1])
    assert "is a directory" in d.message and "-f dir/fusionizer.yaml" in d.message


def test_empty_plan_file(ws):
    ws.plan("# nothing yet\n")
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:1:1"
    assert "empty" in d.message and "apiVersion: fusionizer.io/v1" in d.message


def test_yaml_syntax_error_in_the_plan_has_its_position(ws):
    ws.plan("""
        apiVersion: fusionizer.io/v1
        kind: FusionPlan
        metadata:
          name: [unclosed
        spec: {}
    """)
    plan, diagnostics = ws.check()
    d = ws.one(diagnostics)
    assert plan is None
    assert d.location() == "fusionizer.yaml:5:5"
    assert d.message.startswith("invalid YAML:") and "fix the syntax" in d.message


def test_duplicate_yaml_key_is_an_error_not_a_silent_overwrite(ws):
    ws.plan("""
        apiVersion: fusionizer.io/v1
        kind: FusionPlan
        metadata: {name: a}
        metadata: {name: b}
        spec: {}
    """)
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:4:1"
    assert "duplicate key 'metadata' (first at line 3); remove one" in d.message


def test_not_a_mapping_at_the_top(ws):
    ws.plan("- just\n- a list\n")
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:1:1"
    assert d.message.startswith("expected a mapping, got a list")


def test_unknown_key_points_at_the_key_and_suggests_the_right_one(ws):
    ws.task("a")
    ws.task("b")
    ws.plan(ws.plan_text().replace("  taskDirs:", "  taskDir:"))
    diagnostics = ws.check()[1]
    d = [x for x in diagnostics if "unknown key" in x.message][0]
    assert d.location() == "fusionizer.yaml:6:3"
    assert d.path == "spec.taskDir"
    assert "did you mean 'taskDirs'?" in d.message and "allowed keys: fusion, optimizer, platform, taskDirs, tasks" in d.message


@pytest.mark.parametrize(
    "line, replacement, where, words",
    [
        ("apiVersion: fusionizer.io/v1", "apiVersion: v1", "1:13", "must be 'fusionizer.io/v1'"),
        ("kind: FusionPlan", "kind: Plan", "2:7", "write FusionPlan"),
        ("  name: shop", "  name: Shop_1", "4:9", "not a DNS-1123 label"),
        ("  name: shop", "  name: " + "x" * 64, "4:9", "at most 63 are allowed: shorten it"),
        ("  name: shop", "  name: no", "4:9", "got a boolean (false); quote the value"),
        ("  taskDirs: [tasks]", "  taskDirs: tasks", "6:13", "expected a list, got a string"),
    ],
)
def test_schema_errors_are_located_and_say_what_to_do(ws, line, replacement, where, words):
    ws.task("a")
    ws.task("b")
    ws.plan(ws.plan_text().replace(line, replacement))
    errors = [d for d in ws.check()[1] if d.severity == "error"]
    assert errors, "expected an error"
    assert errors[0].location() == f"fusionizer.yaml:{where}"
    assert words in errors[0].message


def test_missing_required_key(ws):
    ws.plan("""
        apiVersion: fusionizer.io/v1
        kind: FusionPlan
        metadata: {}
        spec: {}
    """)
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:3:11"
    assert d.message == "metadata is missing the required key 'name'; add it"


def test_platform_settings_are_checked(ws):
    ws.task("a")
    ws.task("b")
    ws.plan(ws.plan_text(extra=(
        "  platform:\n"  # 10
        "    kind: docker\n"  # 11
        "    nuctlPlatform: swarm\n"  # 12
        "    deployTimeout: 0\n"  # 13
        "    serverUrl: 10.0.0.5:8000\n"  # 14
    )))
    messages = {d.location(): d.message for d in ws.check()[1]}
    assert messages["fusionizer.yaml:11:11"] == '"docker" is not allowed; use one of: local, nuctl'
    assert "use one of: auto, local, kube" in messages["fusionizer.yaml:12:20"]
    assert "use at least 1" in messages["fusionizer.yaml:13:20"]
    assert "write e.g. http://10.0.0.5:8000" in messages["fusionizer.yaml:14:16"]


def test_optimizer_class_must_be_a_class_path(ws):
    ws.task("a")
    ws.task("b")
    ws.plan(ws.plan_text(extra="  optimizer:\n    class: mypkg.Greedy\n"))
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:11:12"
    assert "write package.module:ClassName" in d.message


def test_every_error_of_a_run_is_reported_at_once(ws):
    ws.task("a", runtime="nodejs")
    ws.task("b", code="def handle(context, event):\n    pass\n")
    ws.plan("""
        apiVersion: fusionizer.io/v1
        kind: FusionPlan
        metadata: {name: Shop}
        spec:
          taskDirs: [tasks, missing]
          tasks:
            - {name: a, path: elsewhere}
          fusion:
            groups:
              - [a, b]
              - [b, ghost]
            schedule:
              - after: 10 minutes
                groups: []
    """)
    plan, diagnostics = ws.check()
    assert plan is None
    located = sorted((d.location(), d.severity) for d in diagnostics)
    assert located == sorted([
        ("fusionizer.yaml:3:18", "error"),  # plan name
        ("fusionizer.yaml:5:21", "error"),  # taskDirs: missing
        ("fusionizer.yaml:7:23", "error"),  # tasks[0].path does not exist
        ("fusionizer.yaml:11:10", "error"),  # b already in a group
        ("fusionizer.yaml:11:13", "warning"),  # ghost undefined
        ("fusionizer.yaml:13:16", "error"),  # bad duration
        ("tasks/a/function.yaml:4:12", "error"),  # nodejs
        ("tasks/b/function.yaml:5:12", "error"),  # no handler function
    ])
    # Plan file first, then task files; by position within a file.
    assert [d.file for d in diagnostics][:6] == ["fusionizer.yaml"] * 6


def test_load_plan_raises_plan_error_with_every_diagnostic(ws):
    ws.plan("apiVersion: v0\nkind: FusionPlan\nmetadata: {name: x}\nspec: {bogus: 1, tasks: []}\n")
    with pytest.raises(PlanError) as raised:
        load_plan(Path("fusionizer.yaml"))
    assert [d.location() for d in raised.value.diagnostics] == ["fusionizer.yaml:1:13", "fusionizer.yaml:4:8"]
    assert "2 error(s)" in str(raised.value)


def test_warnings_are_kept_on_a_valid_plan(ws):
    ws.task("a")
    ws.task("b")
    ws.plan(ws.plan_text("      - [a, b, ghost]"))
    plan = load_plan(Path("fusionizer.yaml"))
    assert [d.location() for d in plan.warnings] == ["fusionizer.yaml:9:16"]
    assert plan.groups == (Group(("a", "b")),)  # the unknown task is dropped


def test_strict_turns_warnings_into_errors(ws):
    ws.task("a")
    ws.task("b")
    ws.plan(ws.plan_text("      - [a, b, ghost]"))
    plan, diagnostics = ws.check(strict=True)
    assert plan is None
    d = ws.one(diagnostics)
    assert d.location() == "fusionizer.yaml:9:16" and "does not define" in d.message
    with pytest.raises(PlanError):
        load_plan(Path("fusionizer.yaml"), strict=True)


def test_yaml_anchors_and_merge_keys_work(ws):
    ws.task("a")
    ws.task("b")
    ws.plan("""
        apiVersion: fusionizer.io/v1
        kind: FusionPlan
        metadata: {name: shop}
        spec:
          taskDirs: [tasks]
          fusion:
            groups: &pair
              - [a, b]
            schedule:
              - after: 5m
                groups: *pair
    """)
    plan = load_plan(Path("fusionizer.yaml"))
    assert plan.schedule[0].groups == plan.groups == (Group(("a", "b")),)


def test_a_plan_without_tasks_warns(ws):
    ws.plan("apiVersion: fusionizer.io/v1\nkind: FusionPlan\nmetadata: {name: x}\nspec: {}\n")
    plan, diagnostics = ws.check()
    d = ws.one(diagnostics, "warning")
    assert d.location() == "fusionizer.yaml:4:1"
    assert "the plan defines no tasks; list them under spec.tasks" in d.message
    assert plan is not None and plan.tasks == {}


DESIGN_EXAMPLE = """\
# yaml-language-server: $schema=schemas/fusionizer.schema.json
apiVersion: fusionizer.io/v1
kind: FusionPlan
metadata:
  name: demo                 # DNS-1123 label; owns the functions (labels) and prefixes their names
spec:
  platform:                  # optional; CLI flags / env vars override
    kind: local              # local (embedded default) | nuctl
    namespace: nuclio
    # nuctl only: nuctlPlatform (auto|local|kube), registry, runRegistry, kubeconfig, projectName
  tasks:                     # explicit tasks ...
    - name: taska
      path: tasks/taska      # relative to this file; holds function.yaml + handler
  taskDirs: [tasks]          # ... and/or discovery: every subdir holding a function.yaml is a task named after the dir
  fusion:
    groups:                  # the default setup; a task named nowhere runs alone
      - [taska, taskb]                     # shorthand
      - {name: checkout, tasks: [c, d]}    # named group
    schedule:                # optional; the last entry whose time has come wins
      - after: 40s           # relative to the reconciler's anchor time (documented, injectable clock)
        groups: [[taska, taskb]]
      - at: 2026-12-01T08:00:00Z
        groups: []
  optimizer:                 # optional: a custom optimizer decides the setup
    class: mypackage.module:MyOptimizer
    options: {}
"""


def test_the_design_documents_example_is_a_valid_plan(ws):
    ws.task("taska")
    ws.task("taskb")
    ws.plan(DESIGN_EXAMPLE)
    plan, diagnostics = ws.check()
    assert plan is not None
    assert [(d.severity, d.location()) for d in diagnostics] == [
        ("warning", "fusionizer.yaml:18:34"), ("warning", "fusionizer.yaml:18:37"),  # c, d undefined
    ]
    assert list(plan.tasks) == ["taska", "taskb"]
    assert plan.schedule[0].after == timedelta(seconds=40)
