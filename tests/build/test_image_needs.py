"""What a fused function needs on Nuclio's own Python image (the standard library, msgpack
and nuclio-sdk only): the requests build command, for exactly the functions that need it;
and the static reading of calls between functions that ``plan``/``apply`` warn about."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

import pytest
import yaml

from fusionizer.build import fuser
from fusionizer.build.calls import cross_function_calls
from fusionizer.plan.loader import load_plan
from fusionizer.plan.model import Group
from fusionizer.runtime import layout
from testing.example import copy_example

REQUESTS = layout.REQUESTS_BUILD_COMMAND


def write_plan(root: Path, handlers: Dict[str, str], groups: List[List[str]],
               commands: Optional[Dict[str, List[str]]] = None) -> Path:
    for name, source in handlers.items():
        task = root / "tasks" / name
        task.mkdir(parents=True)
        spec = {"runtime": "python:3.11", "handler": "main:handler"}
        if commands and name in commands:
            spec["build"] = {"commands": commands[name]}
        (task / "function.yaml").write_text(yaml.safe_dump({"metadata": {"name": name}, "spec": spec}))
        (task / "main.py").write_text(source)
    plan = {"apiVersion": "fusionizer.io/v1", "kind": "FusionPlan", "metadata": {"name": "demo"},
            "spec": {"taskDirs": ["tasks"], "fusion": {"groups": groups}}}
    (root / "fusionizer.yaml").write_text(yaml.safe_dump(plan))
    return root / "fusionizer.yaml"


TWO = "def handler(context, event):\n    return 'two'\n"
THREE = "def handler(context, event, requests_session):\n    return 'three'\n"


def commands_of(plan_file: Path, group: List[str]) -> List[str]:
    plan = load_plan(plan_file)
    build = fuser.describe(plan, Group(tuple(group)))
    return list(build.config["spec"].get("build", {}).get("commands", []))


def test_requests_is_installed_only_where_a_task_takes_a_session(tmp_path: Path) -> None:
    plan_file = write_plan(tmp_path, {"a": TWO, "b": TWO, "c": THREE, "d": TWO}, [["a", "b"], ["c", "d"]])
    assert commands_of(plan_file, ["a", "b"]) == []
    assert commands_of(plan_file, ["c", "d"]) == [REQUESTS]


def test_runtime_commands_come_first_merged_once_in_order(tmp_path: Path) -> None:
    commands = {"a": ["pip install simplejson", REQUESTS], "b": ["apt-get install -y jq", "pip install simplejson"]}
    plan_file = write_plan(tmp_path, {"a": THREE, "b": TWO}, [["a", "b"]], commands)
    assert commands_of(plan_file, ["a", "b"]) == [REQUESTS, "pip install simplejson", "apt-get install -y jq"]


@pytest.mark.parametrize("source, session", [
    (TWO, False),
    (THREE, True),
    ("async def handler(context, event, session=None):\n    return 1\n", True),
    ("def handler(context, event, *rest):\n    return 1\n", False),  # the runtime passes two arguments
    ("def handler(context, /, event, requests_session):\n    return 1\n", True),
    ("def make():\n    return lambda context, event: 1\n\nhandler = make()\n", True),  # unknown: install
    ("from helpers import handler\n", True),
])
def test_the_plan_reads_the_handlers_arity_without_running_it(tmp_path: Path, source: str, session: bool) -> None:
    plan_file = write_plan(tmp_path, {"a": source}, [["a"]])
    (tmp_path / "tasks" / "a" / "helpers.py").write_text(TWO)
    assert load_plan(plan_file).tasks["a"].takes_session is session


def test_a_requests_change_changes_the_spec_hash(tmp_path: Path) -> None:
    two = write_plan(tmp_path / "two", {"a": TWO}, [["a"]])
    three = write_plan(tmp_path / "three", {"a": THREE}, [["a"]])
    assert fuser.describe(load_plan(two), Group(("a",))).config["spec"].get("build") is None
    assert fuser.describe(load_plan(three), Group(("a",))).config["spec"]["build"]["commands"] == [REQUESTS]


def test_calls_between_functions_of_the_example(tmp_path: Path) -> None:
    plan = load_plan(copy_example(tmp_path / "example"))
    default = tuple(Group(tuple(sorted(g.tasks)), g.name) for g in plan.groups)
    calls = cross_function_calls(plan, default)
    assert [(c.caller, c.callee) for c in calls] == [("checkout", "payment")]
    assert calls[0].describe() == ("task checkout [checkout, inventory, price, validate-order] calls payment "
                                   "[notify, payment]")
    whole = (Group(("checkout", "inventory", "notify", "payment", "price", "validate-order")), Group(("taska", "taskb")))
    assert cross_function_calls(plan, whole) == []


def test_both_call_styles_and_quotes_are_read_and_unknown_names_ignored(tmp_path: Path) -> None:
    sources = {
        "a": "def handler(context, event):\n    return context.platform.call_function('b', event)\n",
        "b": 'def handler(context, event, s):\n    return s.get(f"{event.headers[\'X\']}/c?x=1").text\n',
        "c": 'def handler(context, event):\n    return open("/etc/hostname").read() + "/a-task-nobody-has"\n',
    }
    plan = load_plan(write_plan(tmp_path, sources, [["a"], ["b"], ["c"]]))
    calls = cross_function_calls(plan, [Group(("a",)), Group(("b",)), Group(("c",))])
    assert [(c.caller, c.callee) for c in calls] == [("a", "b"), ("b", "c")]
    assert cross_function_calls(plan, [Group(("a", "b", "c"))]) == []
