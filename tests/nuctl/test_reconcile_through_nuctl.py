"""The reconciler and CLI driving (emulated) nuctl: exactly which commands a reconcile issues."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, List, Tuple

import yaml

from testing.example import Cli

GET_ALL = ("get", "function", "-n", "nuclio", "--platform", "local", "-o", "json")


def commands(calls: List[Tuple[str, ...]]) -> List[str]:
    return [" ".join(c[:2]) for c in calls]


def test_the_example_end_to_end_through_nuctl(cli: Cli, nuctl_emulator: Any) -> None:
    applied = cli.ok("apply", "-o", "json").json()
    assert applied["applied"] == {"create": 3, "update": 0, "delete": 0, "noop": 0}
    deploys = [c for c in nuctl_emulator.args() if c[0] == "deploy"]
    assert sorted(c[1] for c in deploys) == ["demo-billing", "demo-storefront", "demo-taska-taskb"]
    for call in deploys:
        assert call[2:4] == ("--path", call[3]) and "-n" in call and "--platform" in call

    functions = cli.functions()
    assert {f["state"] for f in functions.values()} == {"ready"}
    assert functions["demo-taska-taskb"]["revision"].startswith("dir:")
    assert cli.ok("invoke", "taska").out.strip() == "8"
    priced = json.loads(cli.ok("invoke", "price", "--body", '{"items": [{"sku": "book", "qty": 2}]}').out)
    assert priced["total_cents"] == 2500  # price -> inventory through context.platform.call_function

    labels = json.loads(nuctl_emulator.run(*GET_ALL[:2], "demo-billing", *GET_ALL[2:]).stdout)["metadata"]
    assert labels["labels"]["fusionizer.io/plan"] == "demo"
    assert labels["annotations"]["fusionizer.io/tasks"] == "notify,payment"


def test_a_noop_reconcile_issues_exactly_one_get(cli: Cli, nuctl_emulator: Any) -> None:
    cli.ok("apply")
    mark = nuctl_emulator.mark()
    run = cli("apply", "--detailed-exitcode")
    assert run.code == 0
    assert nuctl_emulator.args(mark) == [GET_ALL]


def test_one_changed_task_issues_exactly_one_deploy(cli: Cli, nuctl_emulator: Any) -> None:
    cli.ok("apply")
    taskb = cli.plan.parent / "tasks" / "taskb" / "main.py"
    taskb.write_text(taskb.read_text().replace('event.body["value1"] + event.body["value2"]',
                                               'event.body["value1"] - event.body["value2"]'))
    mark = nuctl_emulator.mark()
    changes = cli.ok("apply", "-o", "json").json()["changes"]
    assert [(c["action"], c["function"]) for c in changes if c["action"] != "noop"] == [
        ("update", "demo-taska-taskb")], changes
    issued = nuctl_emulator.args(mark)
    assert issued[0] == GET_ALL
    assert [c[1] for c in issued if c[0] == "deploy"] == ["demo-taska-taskb"]
    assert commands(issued) == ["get function", "deploy demo-taska-taskb", "get function"]
    assert cli.ok("invoke", "taska").out.strip() == "2"


def test_unmanaged_functions_in_the_namespace_are_never_deleted(
        cli: Cli, nuctl_emulator: Any, make_function: Callable[..., Path]) -> None:
    plain = make_function("plain")
    assert nuctl_emulator.run("deploy", "plain", "--path", str(plain), "-n", "nuclio",
                              "--platform", "local").returncode == 0
    cli.ok("apply")
    cli.ok("destroy", "--yes")
    assert not any(c[0] == "delete" and c[2] == "plain" for c in nuctl_emulator.args())
    left = json.loads(nuctl_emulator.run(*GET_ALL).stdout)
    assert left["metadata"]["name"] == "plain" and left["status"]["state"] == "ready"


def test_deploy_failure_output_reaches_the_user(cli: Cli) -> None:
    taskb = cli.plan.parent / "tasks" / "taskb" / "main.py"
    taskb.write_text("raise RuntimeError('taskb: database unreachable')\n" + taskb.read_text())
    failed = cli("apply")
    assert failed.code == 1
    assert "demo-taska-taskb create failed" in failed.out
    assert "Error - " in failed.out and "taskb: database unreachable" in failed.out
    assert "\x1b[" not in failed.out  # nuctl's ANSI colour codes are stripped
    # The independent functions still went through.
    assert {n: f["state"] for n, f in cli.functions().items() if n != "demo-taska-taskb"} == {
        "demo-billing": "ready", "demo-storefront": "ready"}


def test_a_namespace_holding_exactly_one_function(cli: Cli, nuctl_emulator: Any) -> None:
    doc = yaml.safe_load(cli.plan.read_text())
    doc["spec"].pop("taskDirs")
    doc["spec"]["tasks"] = [{"name": "taskb", "path": "tasks/taskb"}]
    doc["spec"]["fusion"] = {"groups": [["taskb"]]}
    cli.plan.write_text(yaml.safe_dump(doc))
    cli.ok("apply")
    assert isinstance(json.loads(nuctl_emulator.run(*GET_ALL).stdout), dict)  # one object, not an array
    assert list(cli.functions()) == ["demo-taskb"]
    mark = nuctl_emulator.mark()
    assert cli("apply", "--detailed-exitcode").code == 0
    assert nuctl_emulator.args(mark) == [GET_ALL]


def test_a_function_of_the_plans_name_deployed_by_hand_is_refused_until_adopted(
        cli: Cli, nuctl_emulator: Any, make_function: Callable[..., Path]) -> None:
    by_hand = make_function("demo-taska-taskb")  # `nuctl deploy demo-taska-taskb` by a colleague
    assert nuctl_emulator.run("deploy", "demo-taska-taskb", "--path", str(by_hand), "-n", "nuclio",
                              "--platform", "local").returncode == 0
    mark = nuctl_emulator.mark()
    refused = cli("apply")
    assert refused.code == 1
    assert "demo-taska-taskb (for taska, taskb): held by a function with no fusionizer labels" in refused.err
    assert nuctl_emulator.args(mark) == [GET_ALL]  # one list; no deploy, no delete of anything
    held = json.loads(nuctl_emulator.run(*GET_ALL).stdout)
    assert held["metadata"]["name"] == "demo-taska-taskb" and "fusionizer.io/plan" not in held["metadata"]["labels"]

    mark = nuctl_emulator.mark()
    cli.ok("apply", "--adopt")
    assert sorted(c[1] for c in nuctl_emulator.args(mark) if c[0] == "deploy") == [
        "demo-billing", "demo-storefront", "demo-taska-taskb"]
    assert cli.functions()["demo-taska-taskb"]["state"] == "ready"
    assert cli.ok("invoke", "taska").out.strip() == "8"
