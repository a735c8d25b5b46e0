"""``serve --auto-optimize`` applies the optimizer's proposals live and shows them in
``/-/status``; ``/-/traces`` serves the aggregated call traces; on git, git decides."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Callable, Dict

import pytest

from fusionizer.cli import main
from fusionizer.gateway.routes import RoutingTable
from fusionizer.loop.looping import LoopSettings
from fusionizer.loop.reconciling import Runner
from fusionizer.loop.triggers import START, Trigger
from fusionizer.server.control import Controller
from fusionizer.server.optimizing import AutoOptimizer
from fusionizer.sources import DirectorySource
from testing.memory_platform import MemoryPlatform
from testing.plans import write_task
from testing.waiting import wait_for

from tests.server.conftest import Serve

FRONT = """
def handler(context, event, requests_session):
    addr = event.headers["Fusionizer-Server-Address"]
    return requests_session.post(f"http://{addr}:8000/back", json={}).text
"""
BACK = "def handler(context, event):\n    return 'back'\n"


def applied(serve: Serve) -> Dict[str, Any]:
    periods = serve.status()["autoOptimize"]["periods"]
    return next((p for p in periods if p["applied"]), {})


@pytest.mark.e2e
def test_traffic_is_optimized_live_and_shown(plan_dir: Path, start_serve: Callable[..., Serve]) -> None:
    write_task(plan_dir, "front", FRONT)
    write_task(plan_dir, "back", BACK)
    plan_text = (plan_dir / "fusionizer.yaml").read_text()
    serve = start_serve(plan_dir / "fusionizer.yaml", "--auto-optimize", "--every", "1s")
    wait_for(lambda: {f["name"] for f in serve.status()["functions"]} == {"orig-front", "orig-back"}, "the first apply")
    for _ in range(12):
        answer = serve.invoke("front")
        assert (answer.status, answer.text) == (200, "back")

    traces = serve.request("GET", "/-/traces").json()
    (edge,) = traces["edges"]
    assert (traces["plan"], edge["caller"], edge["callee"], edge["local"]) == ("orig", "front", "back", 0)
    assert edge["count"] >= 12 and edge["sync"] == edge["count"]

    wait_for(lambda: bool(applied(serve)), "a period that applied a proposal")
    period = applied(serve)
    assert period["applied"] == "ok" and period["changes"][0]["action"] == "fuse"
    assert "fuse front -> back" in period["changes"][0]["reasons"][0]
    status = serve.status()
    assert status["autoOptimize"]["live"] == [{"name": None, "tasks": ["back", "front"]}]
    assert [f["tasks"] for f in status["functions"]] == [["back", "front"]]
    assert (plan_dir / "fusionizer.yaml").read_text() == plan_text  # live, not written

    assert serve.invoke("front").text == "back"
    after = serve.request("GET", "/-/traces").json()["edges"]
    assert [(e["caller"], e["callee"], e["local"]) for e in after] == [("front", "back", 1)]


def test_auto_optimize_refuses_a_git_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    assert main(["serve", "--git", str(tmp_path / "repo"), "--auto-optimize", "--port", "0"]) == 1
    assert "--auto-optimize applies setups live, but the plan comes from git" in capsys.readouterr().err


def test_every_goes_with_auto_optimize(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "fusionizer.yaml"
    plan.write_text("apiVersion: fusionizer.io/v1\nkind: FusionPlan\nmetadata:\n  name: x\nspec:\n  tasks: []\n")
    assert main(["serve", "-f", str(plan), "--every", "1m"]) == 2
    assert "--every goes with --auto-optimize." in capsys.readouterr().err
    assert main(["serve", "-f", str(plan), "--auto-optimize", "--every", "soon"]) == 2
    assert "'soon' is not a duration" in capsys.readouterr().err


def test_a_broken_optimizer_is_reported_and_the_setup_in_force_stays(tmp_path: Path) -> None:
    (tmp_path / "fusionizer.yaml").write_text(
        "apiVersion: fusionizer.io/v1\nkind: FusionPlan\nmetadata:\n  name: broken\nspec:\n  taskDirs: [tasks]\n"
        "  optimizer: {class: 'myopt:Raises'}\n")
    (tmp_path / "myopt.py").write_text("class Raises:\n    def propose(self, given):\n        raise ValueError('no')\n")
    write_task(tmp_path, "a", BACK)
    platform = MemoryPlatform()
    runner = Runner(DirectorySource(tmp_path / "fusionizer.yaml"), lambda plan: platform)
    controller = Controller(runner, LoopSettings(), RoutingTable(), lambda p: ((lambda record: None), False))
    optimizer = AutoOptimizer(controller, every_s=60)
    assert optimizer.period() is None  # no valid plan yet
    runner.run((Trigger(START),))
    period = optimizer.period()
    assert period is not None and period.outcome.error is not None and period.outcome.error.kind == "exception"
    assert not period.applied and optimizer.live() is None
    shown = optimizer.to_json()["periods"][0]
    assert shown["error"] == {"kind": "exception", "message": "myopt:Raises.propose raised ValueError: no"}
    assert shown["proposed"] == shown["current"] == [{"name": None, "tasks": ["a"]}]
