"""The main job end to end: `fusionizer apply` of the example on the embedded local platform.

Real processes on 127.0.0.1, the real CLI, the real nuclio-sdk inside the functions.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import List

import yaml

from fusionizer.platforms.base import FunctionSource
from fusionizer.platforms.local.platform import LocalPlatform
import pytest

from testing.waiting import wait_for
from testing.example import ORDER, Cli, copy_example
from testing.orphans import started_under

STOREFRONT, BILLING, AB = "demo-storefront", "demo-billing", "demo-taska-taskb"


def processor_pids(home: Path) -> List[int]:
    """Every function process running under this test's FUSIONIZER_HOME."""
    return sorted(pid for pid, cmdline in started_under(home).items()
                  if "fusionizer.runtime.processor" in cmdline and str(home) in cmdline)


def recorded_pids(home: Path) -> List[int]:
    return sorted(json.loads(p.read_text())["pid"] for p in (home / "local" / "nuclio" / "procs").glob("*.json"))


def gate_task(example: Path, task: str, gate: Path) -> None:
    """Make ``task``'s init_context wait until ``gate`` exists: the test decides when its deploy ends."""
    main = example / "tasks" / task / "main.py"
    main.write_text(main.read_text() + f"""

def init_context(context):
    import os, time
    deadline = time.monotonic() + 60
    while not os.path.exists({str(gate)!r}) and time.monotonic() < deadline:
        time.sleep(0.01)
""")


def test_example_end_to_end(cli: Cli, fusionizer_home: Path) -> None:
    applied = cli.ok("apply", "-o", "json").json()
    assert applied["ok"] is True
    assert sorted(o["function"] for o in applied["outcomes"]) == [BILLING, STOREFRONT, AB]
    assert all(o["status"] == "done" for o in applied["outcomes"])

    functions = cli.functions()
    assert {n: f["state"] for n, f in functions.items()} == {BILLING: "ready", STOREFRONT: "ready", AB: "ready"}
    assert functions[STOREFRONT]["tasks"] == ["checkout", "inventory", "price", "validate-order"]
    assert functions[AB]["revision"].startswith("dir:")

    assert cli.ok("invoke", "taska").out.strip() == "8"
    confirmed = json.loads(cli.ok("invoke", "checkout", "--body", json.dumps(ORDER)).out)
    assert confirmed["status"] == "confirmed"
    assert confirmed["payment"]["status"] == "paid" and confirmed["payment"]["notified"] is True

    status = cli.ok("status")
    assert "demo-storefront" in status.out and "Recent runs:" in status.out


def test_second_apply_is_a_noop(cli: Cli) -> None:
    cli.ok("apply")
    again = cli("apply", "--detailed-exitcode")
    assert again.code == 0, again.out + again.err
    assert "0 created, 0 updated, 0 deleted, 3 unchanged" in again.out
    plan = cli("plan", "--detailed-exitcode", "-o", "json")
    assert plan.code == 0
    assert plan.json()["summary"] == {"create": 0, "update": 0, "delete": 0, "noop": 3}


def test_detailed_exitcode_reports_changes(cli: Cli) -> None:
    assert cli("plan", "--detailed-exitcode").code == 2
    assert cli("apply", "--detailed-exitcode").code == 2


def test_editing_one_task_updates_exactly_one_function(cli: Cli, example: Path) -> None:
    cli.ok("apply")
    before = cli.functions()
    taskb = example / "tasks" / "taskb" / "main.py"
    taskb.write_text(taskb.read_text().replace('event.body["value1"] + event.body["value2"]',
                                               'event.body["value1"] * event.body["value2"]'))
    planned = cli.ok("plan", "-o", "json").json()
    assert [(c["action"], c["function"]) for c in planned["changes"] if c["action"] != "noop"] == [("update", AB)]
    cli.ok("apply")
    after = cli.functions()
    assert after[STOREFRONT]["appliedAt"] == before[STOREFRONT]["appliedAt"]
    assert cli.ok("invoke", "taska").out.strip() == "15"


def test_moving_a_task_between_groups(cli: Cli, example: Path) -> None:
    cli.ok("apply")
    plan_file = example / "fusionizer.yaml"
    doc = yaml.safe_load(plan_file.read_text())
    doc["spec"]["fusion"].pop("schedule")
    doc["spec"]["fusion"]["groups"] = [
        {"name": "storefront", "tasks": ["checkout", "validate-order", "price", "inventory", "notify"]},
        {"name": "billing", "tasks": ["payment"]},
        ["taska", "taskb"],
    ]
    plan_file.write_text(yaml.safe_dump(doc))
    planned = {(c["action"], c["function"]) for c in cli.ok("plan", "-o", "json").json()["changes"]}
    assert planned == {("update", STOREFRONT), ("update", BILLING), ("noop", AB)}
    cli.ok("apply")
    assert cli.functions()[STOREFRONT]["tasks"] == ["checkout", "inventory", "notify", "price", "validate-order"]
    # payment now reaches notify across functions, through the gateway.
    confirmed = json.loads(cli.ok("invoke", "checkout", "--body", json.dumps(ORDER)).out)
    assert confirmed["payment"]["notified"] is True

    # Splitting a group: the new functions serve before the old one is deleted.
    doc["spec"]["fusion"]["groups"] = doc["spec"]["fusion"]["groups"][:2]
    plan_file.write_text(yaml.safe_dump(doc))
    applied = cli.ok("apply", "-o", "json").json()
    order = [(o["action"], o["function"]) for o in applied["outcomes"] if o["action"] != "noop"]
    assert sorted(order[:2]) == [("create", "demo-taska"), ("create", "demo-taskb")]
    assert order[2:] == [("delete", AB)]
    assert set(cli.functions()) == {STOREFRONT, BILLING, "demo-taska", "demo-taskb"}
    assert cli.ok("invoke", "taska").out.strip() == "8"


def test_removing_a_task(cli: Cli, example: Path) -> None:
    cli.ok("apply")
    plan_file = example / "fusionizer.yaml"
    doc = yaml.safe_load(plan_file.read_text())
    doc["spec"]["fusion"]["groups"] = [g for g in doc["spec"]["fusion"]["groups"] if g != ["taska", "taskb"]]
    doc["spec"]["fusion"].pop("schedule")
    plan_file.write_text(yaml.safe_dump(doc))
    for task in ("taska", "taskb"):
        for f in (example / "tasks" / task).iterdir():
            f.unlink()
        (example / "tasks" / task).rmdir()
    cli.ok("apply")
    assert set(cli.functions()) == {STOREFRONT, BILLING}
    missing = cli("invoke", "taska")
    assert missing.code == 1 and "task 'taska' is not in plan demo" in missing.err


def deployed_code_dirs(home: Path) -> List[str]:
    return sorted(p.name.rsplit("-", 2)[0] for p in (home / "local" / "nuclio" / "code").iterdir())


def test_a_broken_handler_leaves_the_old_function_serving(cli: Cli, example: Path, fusionizer_home: Path) -> None:
    cli.ok("apply")
    taskb = example / "tasks" / "taskb" / "main.py"
    taskb.write_text("raise RuntimeError('taskb cannot start: missing credentials')\n" + taskb.read_text())
    failed = cli("apply")
    assert failed.code == 1
    assert "demo-taska-taskb update failed" in failed.out
    assert "taskb cannot start: missing credentials" in failed.out  # the function's own log
    assert "1 change(s) failed" in failed.err
    assert cli.functions()[AB]["state"] == "ready"
    assert cli.ok("invoke", "taska").out.strip() == "8"  # the previous version still answers
    assert cli("plan", "--detailed-exitcode").code == 2  # and the change is still pending
    assert deployed_code_dirs(fusionizer_home) == [BILLING, STOREFRONT, AB]  # the failed copy is gone


def test_a_dead_function_is_healed_by_the_next_apply(cli: Cli, fusionizer_home: Path) -> None:
    cli.ok("apply")
    proc = json.loads((fusionizer_home / "local" / "nuclio" / "procs" / f"{AB}.json").read_text())
    os.kill(proc["pid"], signal.SIGKILL)
    wait_for(lambda: cli.functions()[AB]["state"] == "unhealthy", "the dead function to be reported")
    planned = cli.ok("plan", "-o", "json").json()["changes"]
    (change,) = [c for c in planned if c["function"] == AB]
    assert change["action"] == "update" and change["reason"].startswith("function is unhealthy: function process")
    cli.ok("apply")
    assert cli.functions()[AB]["state"] == "ready"
    assert cli.ok("invoke", "taska").out.strip() == "8"
    assert deployed_code_dirs(fusionizer_home) == [BILLING, STOREFRONT, AB]  # one copy per function


def test_apply_killed_mid_way_then_applied_again_converges(cli: Cli, example: Path, fusionizer_home: Path,
                                                          tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate_task(example, "taskb", gate)
    apply = subprocess.Popen([sys.executable, "-m", "fusionizer", "apply", "-f", str(cli.plan)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pending = fusionizer_home / "local" / "nuclio" / "pending" / f"{AB}.json"
    wait_for(pending.exists, "the deploy of demo-taska-taskb to start")
    apply.send_signal(signal.SIGKILL)
    apply.wait()
    gate.touch()
    cli.ok("apply")
    assert cli.ok("apply", "--detailed-exitcode").code == 0
    assert {f["state"] for f in cli.functions().values()} == {"ready"}
    assert cli.ok("invoke", "taska").out.strip() == "8"
    wait_for(lambda: processor_pids(fusionizer_home) == recorded_pids(fusionizer_home), "no orphan processes")


def test_two_concurrent_applies(cli: Cli, example: Path, fusionizer_home: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate_task(example, "taskb", gate)
    first = subprocess.Popen([sys.executable, "-m", "fusionizer", "apply", "-f", str(cli.plan)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lock = fusionizer_home / "plans" / "nuclio" / "demo" / "apply.lock"
    wait_for(lambda: lock.exists() and f'"pid": {first.pid}' in lock.read_text(), "the first apply to hold the lock")
    second = cli("apply")
    assert second.code == 1
    assert f"another apply of plan 'demo' is running (pid {first.pid} on" in second.err
    gate.touch()
    waited = cli("apply", "--lock-timeout", "60")
    assert waited.code == 0, waited.err
    out, _ = first.communicate(timeout=60)
    assert first.returncode == 0, out
    assert cli("apply", "--detailed-exitcode").code == 0


def test_functions_the_plan_does_not_own_are_never_touched(cli: Cli, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "main.py").write_text("def handler(context, event):\n    return 'plain'\n")
    config = {"metadata": {"name": "plain"}, "spec": {"runtime": "python:3.11", "handler": "main:handler"}}
    (plain / "function.yaml").write_text(yaml.safe_dump(config))
    other = {**config, "metadata": {"name": "other-x", "labels": {
        "fusionizer.io/managed-by": "fusionizer", "fusionizer.io/plan": "other"}}}
    local = LocalPlatform("nuclio")
    local.deploy(FunctionSource("plain", plain, config))
    local.deploy(FunctionSource("other-x", plain, other))
    # A demo-prefixed function without the plan's labels is not the plan's either.
    local.deploy(FunctionSource("demo-billing-old", plain, {**config, "metadata": {"name": "demo-billing-old"}}))

    cli.ok("apply")
    cli.ok("destroy", "--yes")
    survivors = {r.name: r.state for r in local.list()}
    assert survivors == {"plain": "ready", "other-x": "ready", "demo-billing-old": "ready"}
    assert set(cli.functions()) == set()


def test_destroy_needs_confirmation_when_not_interactive(cli: Cli) -> None:
    cli.ok("apply")
    refused = cli("destroy")
    assert refused.code == 2 and "--yes" in refused.err
    assert len(cli.functions()) == 3


def test_an_invalid_plan_changes_nothing_and_status_shows_the_refusal(cli: Cli, example: Path) -> None:
    cli.ok("apply")
    before = cli.functions()
    plan_file = example / "fusionizer.yaml"
    plan_file.write_text(plan_file.read_text().replace("tasks: [payment, notify]", "tasks: [payment, notify, taska]"))
    refused = cli("apply")
    assert refused.code == 1 and "Traceback" not in refused.err
    assert "task 'taska' is already in group" in refused.err
    status = cli("status")
    assert status.code == 1
    assert "invalid: " in status.out and "demo-storefront" in status.out and "ready" in status.out
    assert "the functions listed keep serving the last good revision" in status.err
    as_json = cli("status", "-o", "json").json()
    assert as_json["valid"] is False
    assert as_json["history"][-1]["result"] == "invalid"
    assert {f["name"]: f["appliedAt"] for f in as_json["functions"]} == {
        n: f["appliedAt"] for n, f in before.items()}


def test_a_delete_is_held_back_while_its_tasks_new_function_failed(cli: Cli, example: Path) -> None:
    cli.ok("apply")
    plan_file = example / "fusionizer.yaml"
    doc = yaml.safe_load(plan_file.read_text())
    doc["spec"]["fusion"].pop("schedule")
    doc["spec"]["fusion"]["groups"] = doc["spec"]["fusion"]["groups"][:2]  # taska, taskb now run alone
    plan_file.write_text(yaml.safe_dump(doc))
    taskb = example / "tasks" / "taskb" / "main.py"
    taskb.write_text("raise RuntimeError('taskb is broken')\n" + taskb.read_text())
    failed = cli("apply", "-o", "json")
    assert failed.code == 1
    outcomes = {o["function"]: (o["action"], o["status"]) for o in failed.json()["outcomes"]}
    assert outcomes["demo-taska"] == ("create", "done")
    assert outcomes["demo-taskb"] == ("create", "failed")
    assert outcomes[AB] == ("delete", "kept")
    assert "it still serves taskb" in {o["function"]: o["detail"] for o in failed.json()["outcomes"]}[AB]
    functions = cli.functions()
    assert functions[AB]["state"] == "ready"  # taskb keeps a ready function
    assert cli.ok("invoke", "taskb", "--body", '{"value1": 2, "value2": 2}').out.strip() == "4"


def test_plan_shows_the_schedule_and_another_instant(cli: Cli) -> None:
    now = cli.ok("plan", "-o", "json").json()
    assert now["setup"] == {"entry": None, "nextDue": "2030-01-01T00:00:00Z"}
    assert {c["function"] for c in now["changes"]} == {STOREFRONT, BILLING, AB}
    later = cli.ok("plan", "--at", "2030-01-02T00:00:00Z", "-o", "json").json()
    assert later["setup"] == {"entry": 0, "nextDue": None}
    assert {c["function"] for c in later["changes"]} == {"demo-shop", AB}
    text = cli.ok("plan").out
    assert "next schedule entry due 2030-01-01T00:00:00Z" in text
    bad = cli("plan", "--at", "tomorrow")
    assert bad.code == 2 and "is not an ISO 8601 time" in bad.err


def test_build_commands_run_once_per_distinct_command_list(cli: Cli, example: Path, tmp_path: Path) -> None:
    marker = tmp_path / "built.log"
    config_file = example / "tasks" / "taskb" / "function.yaml"
    config = yaml.safe_load(config_file.read_text())
    config["spec"]["build"] = {"commands": [f"echo built >> {marker}"]}
    config_file.write_text(yaml.safe_dump(config))
    cli.ok("apply")
    assert marker.read_text() == "built\n"
    taskb = example / "tasks" / "taskb" / "main.py"
    taskb.write_text(taskb.read_text() + "\n# a code change, same build commands\n")
    cli.ok("apply")
    assert marker.read_text() == "built\n"  # cached: not run again

    config["spec"]["build"] = {"commands": ["echo about to fail", "exit 3"]}
    config_file.write_text(yaml.safe_dump(config))
    failed = cli("apply")
    assert failed.code == 1
    assert "build command exited with 3: exit 3" in failed.out and "about to fail" in failed.out
    assert cli.ok("invoke", "taska").out.strip() == "8"  # the previous version keeps serving


def test_two_plans_in_one_namespace_each_reach_their_own_task(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    clis = {}
    for name, op in (("one", "+"), ("two", "*")):
        plan = copy_example(tmp_path / name)
        doc = yaml.safe_load(plan.read_text())
        doc["metadata"]["name"] = name
        doc["spec"]["fusion"] = {"groups": []}  # every task alone: taska -> taskb crosses functions
        plan.write_text(yaml.safe_dump(doc))
        taskb = plan.parent / "tasks" / "taskb" / "main.py"
        taskb.write_text(taskb.read_text().replace(
            'event.body["value1"] + event.body["value2"]', f'event.body["value1"] {op} event.body["value2"]'))
        clis[name] = Cli(capsys, plan)
        clis[name].ok("apply")
    # Both plans serve a task named taskb through the namespace's one gateway.
    assert clis["one"].ok("invoke", "taska").out.strip() == "8"
    assert clis["two"].ok("invoke", "taska").out.strip() == "15"
