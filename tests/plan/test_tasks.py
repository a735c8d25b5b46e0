"""Task discovery and the checks of each task's function.yaml and handler module.

Errors inside a task name THAT file (function.yaml or the handler module) with its
line:col. The generated function.yaml (see conftest.Workspace.task) is::

    1 metadata:
    2   name: <task>
    3 spec:
    4   runtime: <runtime>        value at column 12
    5   handler: <handler>        value at column 12
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fusionizer.errors import Diagnostic
from fusionizer.plan.loader import load_plan
from fusionizer.plan.tasks import scan_subdirs


def explicit_plan(ws, path: str = "tasks/a", name: str = "a") -> None:
    ws.plan(f"""
        apiVersion: fusionizer.io/v1
        kind: FusionPlan
        metadata: {{name: shop}}
        spec:
          tasks:
            - name: {name}
              path: {path}
    """)


def explicit_plan_error(ws) -> Diagnostic:
    """The plan naming task a explicitly, checked: its one error."""
    explicit_plan(ws)
    return ws.one(ws.check()[1])


# --- where tasks come from -------------------------------------------------------------


def test_discovery_takes_every_subdir_with_a_function_yaml(ws):
    ws.task("b")
    ws.task("a")
    (ws.root / "tasks" / "not-a-task").mkdir()  # no function.yaml: ignored
    ws.write("tasks/README.md", "hello\n")
    ws.plan(ws.plan_text("      []"))
    plan = load_plan(Path("fusionizer.yaml"))
    assert list(plan.tasks) == ["a", "b"]


def test_explicit_task_directory_missing(ws):
    explicit_plan(ws, "tasks/nope")
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:7:13"
    assert d.message == (
        "task 'a': tasks/nope does not exist; point path at the task's directory (it holds "
        "function.yaml and the handler module), relative to the plan file"
    )


def test_explicit_task_path_is_a_file(ws):
    ws.task("a")
    explicit_plan(ws, "tasks/a/main.py")
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:7:13"
    assert "tasks/a/main.py is not a directory; point path at the task's directory" in d.message


def test_explicit_task_without_function_yaml(ws):
    ws.write("tasks/a/main.py", "def handler(context, event): pass\n")
    d = explicit_plan_error(ws)
    assert d.location() == "fusionizer.yaml:7:13"
    assert "no function.yaml in tasks/a; add one" in d.message


def test_task_dirs_entry_missing(ws):
    ws.plan(ws.plan_text("      []").replace("[tasks]", "[tasks, more]"))
    ws.task("a")
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:6:21"
    assert d.message == "task directory more does not exist; create it or fix the path (relative to the plan file)"


def test_task_dirs_entry_without_tasks_warns(ws):
    (ws.root / "tasks").mkdir()
    ws.plan(ws.plan_text("      []"))
    d = ws.one(ws.check()[1], "warning")
    assert d.location() == "fusionizer.yaml:6:14"
    assert "no subdirectory holds a function.yaml; add tasks there or remove this entry" in d.message


def test_discovered_task_name_must_be_a_dns_label(ws):
    ws.task("a")
    ws.task("Order_Check")
    ws.plan(ws.plan_text("      []"))
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:6:14"
    assert "'Order_Check' is not a valid task name" in d.message
    assert "rename the directory, e.g. to 'order-check'" in d.message


def test_explicit_task_name_must_be_a_dns_label(ws):
    ws.task("a")
    explicit_plan(ws, name="a.b")
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:6:13"
    assert "not a DNS-1123 label" in d.message


def test_duplicate_explicit_names(ws):
    ws.task("a")
    ws.task("a", under="other")
    ws.plan("""
        apiVersion: fusionizer.io/v1
        kind: FusionPlan
        metadata: {name: shop}
        spec:
          tasks:
            - {name: a, path: tasks/a}
            - {name: a, path: other/a}
    """)
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:7:14"
    assert d.message == (
        "duplicate task name 'a': other/a and tasks/a (defined at line 6, spec.tasks[0].name); "
        "task names must be unique: rename one"
    )


def test_duplicate_between_explicit_and_discovered(ws):
    ws.task("a")
    ws.task("a", under="other")
    ws.plan("""
        apiVersion: fusionizer.io/v1
        kind: FusionPlan
        metadata: {name: shop}
        spec:
          tasks:
            - {name: a, path: other/a}
          taskDirs: [tasks]
    """)
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:7:14"
    assert d.path == "spec.taskDirs[0]"
    assert "duplicate task name 'a': tasks/a and other/a" in d.message


def test_the_same_directory_listed_and_discovered_is_one_task(ws):
    ws.task("a")
    ws.plan("""
        apiVersion: fusionizer.io/v1
        kind: FusionPlan
        metadata: {name: shop}
        spec:
          tasks:
            - {name: a, path: ./tasks/../tasks/a}
          taskDirs: [tasks]
    """)
    plan = load_plan(Path("fusionizer.yaml"))
    assert list(plan.tasks) == ["a"]
    assert plan.tasks["a"].path == ws.root / "tasks" / "a"


def test_duplicate_between_two_task_dirs(ws):
    ws.task("a")
    ws.task("a", under="more")
    ws.plan(ws.plan_text("      []").replace("[tasks]", "[tasks, more]"))
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:6:21"
    assert "duplicate task name 'a': more/a and tasks/a (defined at line 6, spec.taskDirs[0])" in d.message


# --- function.yaml ---------------------------------------------------------------------


def test_function_yaml_syntax_error_names_that_file(ws):
    ws.task("a", config="spec:\n  runtime: python:3.11\n  handler: [main\n")
    d = explicit_plan_error(ws)
    assert d.file == "tasks/a/function.yaml"
    assert d.location() == "tasks/a/function.yaml:4:1"
    assert d.message.startswith("invalid YAML:")


def test_function_yaml_with_a_control_character_names_that_file(ws):
    ws.task("a", config="spec:\n  runtime: python:3.11\x00\n")
    d = explicit_plan_error(ws)
    assert d.location() == "tasks/a/function.yaml:2:23"
    assert d.message == "invalid YAML: character U+0000 is not allowed in YAML; remove it"


@pytest.mark.parametrize("config, got", [("- a\n- b\n", "a list"), ("", "nothing (null)"), ("just text\n", "a string")])
def test_function_yaml_must_be_a_mapping(ws, config, got):
    ws.task("a", config=config)
    d = explicit_plan_error(ws)
    assert d.location() == "tasks/a/function.yaml:1:1"
    assert f"function.yaml must be a mapping with metadata and spec, got {got}" in d.message
    assert "start from `spec: {runtime: python:3.11, handler: main:handler}`" in d.message


def test_function_yaml_without_spec(ws):
    ws.task("a", config="metadata:\n  name: a\n")
    d = explicit_plan_error(ws)
    assert d.location() == "tasks/a/function.yaml:1:1"
    assert d.message.startswith("no spec; function.yaml needs a spec mapping with runtime and handler")


def test_runtime_missing(ws):
    ws.task("a", config="metadata:\n  name: a\nspec:\n  handler: main:handler\n")
    d = explicit_plan_error(ws)
    assert d.location() == "tasks/a/function.yaml:3:1"
    assert d.message == "spec.runtime is missing; add `runtime: python:3.11` (one of python:3.9, python:3.10, python:3.11)"


@pytest.mark.parametrize("runtime, why", [
    ("golang", "the fusionizer fuses Python tasks only"),
    ("python:3.6", "Nuclio does not build it"),
    ("python:3.12", "Nuclio does not build it"),
])
def test_unsupported_runtime(ws, runtime, why):
    ws.task("a", runtime=runtime)
    d = explicit_plan_error(ws)
    assert d.location() == "tasks/a/function.yaml:4:12"
    assert d.path == "spec.runtime"
    assert d.message == f"runtime '{runtime}' is not supported ({why}); use one of python:3.9, python:3.10, python:3.11"


def test_runtime_that_is_not_a_string(ws):
    ws.task("a", runtime="3.9")
    d = explicit_plan_error(ws)
    assert d.location() == "tasks/a/function.yaml:4:12"
    assert "must be a string like python:3.11, got a number; quote it" in d.message


@pytest.mark.parametrize("runtime", ["python:3.7", "python:3.8"])
def test_old_python_runtimes_warn(ws, runtime):
    ws.task("a", runtime=runtime)
    explicit_plan(ws)
    plan, diagnostics = ws.check()
    d = ws.one(diagnostics, "warning")
    assert d.location() == "tasks/a/function.yaml:4:12"
    assert f"runtime {runtime} is deprecated by Nuclio" in d.message and "move to one of" in d.message
    assert plan is not None and plan.tasks["a"].runtime == runtime


@pytest.mark.parametrize("runtime, normalised", [("python", "python:3.9"), ("python:3.10", "python:3.10")])
def test_runtime_is_normalised(ws, runtime, normalised):
    ws.task("a", runtime=runtime)
    explicit_plan(ws)
    assert load_plan(Path("fusionizer.yaml")).tasks["a"].runtime == normalised


# --- the handler ------------------------------------------------------------------------


def test_handler_defaults_to_main_handler(ws):
    ws.task("a", handler=None)
    explicit_plan(ws)
    assert load_plan(Path("fusionizer.yaml")).tasks["a"].handler == "main:handler"


def test_default_handler_without_main_py(ws):
    ws.task("a", handler=None, code=None)
    d = explicit_plan_error(ws)
    assert d.location() == "tasks/a/function.yaml:3:1"  # the spec key: handler is not written
    assert d.message == (
        "handler module 'main' not found: no main.py in tasks/a; create it or fix spec.handler (main:handler)"
    )


@pytest.mark.parametrize("handler", ["main", "main:handler:x", "main:handler()", "'main:'"])
def test_handler_must_be_module_colon_function(ws, handler):
    ws.task("a", handler=handler)
    d = explicit_plan_error(ws)
    assert d.location() == "tasks/a/function.yaml:5:12"
    assert "is not module:function; write e.g. main:handler" in d.message


def test_handler_module_missing(ws):
    ws.task("a", handler="app.entry:handler")
    d = explicit_plan_error(ws)
    assert d.location() == "tasks/a/function.yaml:5:12"
    assert "handler module 'app.entry' not found: no app/entry.py in tasks/a; create it or fix spec.handler" in d.message


def test_handler_module_written_with_py(ws):
    ws.task("a", handler="main.py:handler")
    d = explicit_plan_error(ws)
    assert d.location() == "tasks/a/function.yaml:5:12"
    assert "write the module without .py: main:handler" in d.message


def test_handler_in_a_dotted_module_and_a_package(ws):
    ws.task("a", handler="app.entry:handler", code=None)
    ws.write("tasks/a/app/entry.py", "def handler(context, event):\n    return 1\n")
    ws.task("b", handler="pkg:handler", code=None)
    ws.write("tasks/b/pkg/__init__.py", "async def handler(context, event):\n    return 1\n")
    ws.plan(ws.plan_text("      []"))
    plan = load_plan(Path("fusionizer.yaml"))
    assert plan.tasks["a"].handler == "app.entry:handler"


def test_handler_function_missing(ws):
    ws.task("a", handler="main:process", code="def handler(context, event):\n    pass\n")
    d = explicit_plan_error(ws)
    assert d.location() == "tasks/a/function.yaml:5:12"
    assert d.message == (
        "tasks/a/main.py defines no top-level 'process'; define `def process(context, event):` "
        "there or fix spec.handler"
    )


def test_a_nested_function_does_not_count(ws):
    ws.task("a", code="class X:\n    def handler(self, context, event):\n        pass\n")
    explicit_plan(ws)
    assert "defines no top-level 'handler'" in ws.one(ws.check()[1]).message


@pytest.mark.parametrize("code", [
    "def make():\n    return lambda c, e: 1\nhandler = make()\n",
    "from impl import handler\n",
    "import impl as handler\n",
    "def handler(context, event, requests_session):\n    pass\n",
    "def handler(context, event, requests_session=None):\n    pass\n",
    "def handler(*args):\n    pass\n",
])
def test_handler_bindings_that_are_accepted(ws, code):
    ws.task("a", code=code)
    explicit_plan(ws)
    plan, diagnostics = ws.check()
    assert plan is not None, [d.render() for d in diagnostics]


@pytest.mark.parametrize("signature", ["(event)", "(a, b, c, d)", "(context, event, *, key)"])
def test_handler_with_unusable_parameters(ws, signature):
    ws.task("a", code=f"import os\n\ndef handler{signature}:\n    pass\n")
    d = explicit_plan_error(ws)
    assert d.location() == "tasks/a/main.py:3:1"
    assert "cannot be called as handler(context, event) or handler(context, event, requests_session)" in d.message


def test_handler_module_syntax_error_names_the_module(ws):
    ws.task("a", code="def handler(context, event):\n    return (1,\n\nx = ]\n")
    d = explicit_plan_error(ws)
    assert d.file == "tasks/a/main.py"
    assert (d.line, d.col) == (4, 5)
    assert d.message.startswith("handler module has a syntax error:") and "fix it" in d.message


def test_user_code_is_never_imported(ws, tmp_path):
    marker = tmp_path / "imported"
    ws.task("a", code=f"open({str(marker)!r}, 'w').close()\n\ndef handler(context, event):\n    pass\n")
    explicit_plan(ws)
    assert load_plan(Path("fusionizer.yaml"))
    assert not marker.exists()


# --- env and build commands -------------------------------------------------------------


def test_env_must_be_a_list(ws):
    ws.task("a", config="spec:\n  runtime: python:3.11\n  env:\n    A: '1'\n")
    d = explicit_plan_error(ws)
    assert d.location() == "tasks/a/function.yaml:4:5"
    assert "spec.env must be a list of {name, value} entries (Nuclio does not take a map here)" in d.message


def test_env_entry_needs_a_name(ws):
    ws.task("a", config="spec:\n  runtime: python:3.11\n  env:\n    - value: '1'\n")
    d = explicit_plan_error(ws)
    assert d.location() == "tasks/a/function.yaml:4:7"
    assert d.path == "spec.env[0]"
    assert "an env entry needs a name and a value" in d.message


def test_build_commands_must_be_strings(ws):
    ws.task("a", config="spec:\n  runtime: python:3.11\n  build:\n    commands: pip install x\n")
    d = explicit_plan_error(ws)
    assert d.location() == "tasks/a/function.yaml:4:15"
    assert "spec.build.commands must be a list of shell commands" in d.message


def test_every_task_problem_is_reported(ws):
    ws.task("a", runtime="golang", handler="main:nope")
    ws.task("b", config="spec:\n  runtime: python:3.11\n  env: x\n", code="def handler(:\n")
    ws.plan(ws.plan_text("      []"))
    diagnostics = ws.check()[1]
    assert [d.location() for d in diagnostics] == [
        "tasks/a/function.yaml:4:12",
        "tasks/a/function.yaml:5:12",
        "tasks/b/function.yaml:3:8",
        "tasks/b/main.py:1:13",
    ]


def test_hidden_directories_are_never_tasks(ws):
    ws.task("a")
    ws.task(".cache")  # not a DNS label, but hidden: skipped without a word
    ws.plan(ws.plan_text("      []"))
    plan, diagnostics = ws.check()
    assert plan is not None and list(plan.tasks) == ["a"] and diagnostics == []


def test_task_dirs_entry_that_is_a_file(ws):
    ws.task("a")
    ws.write("more", "not a directory\n")
    ws.plan(ws.plan_text("      []").replace("[tasks]", "[tasks, more]"))
    d = ws.one(ws.check()[1])
    assert d.location() == "fusionizer.yaml:6:21"
    assert d.message.startswith("task directory more is not a directory; create it or fix the path")


def test_a_task_dir_that_vanished_since_it_was_checked_holds_no_task(tmp_path: Path) -> None:
    assert scan_subdirs(tmp_path / "gone") == []
    (tmp_path / "file").write_text("x")
    assert scan_subdirs(tmp_path / "file") == []
