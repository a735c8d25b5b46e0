"""``fusionizer traces`` and ``fusionizer suggest`` on the local platform: real functions,
real traffic, traces collected through the platform (no server), the plan file rewritten."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Dict

import pytest

from fusionizer.cli import main
from testing.example import Cli

FRONT = """
import concurrent.futures
import nuclio_sdk

def call(context, task):
    event = nuclio_sdk.Event(body={}, content_type="application/json", method="POST", path="/")
    return context.platform.call_function(task, event).status_code

def handler(context, event, requests_session):
    addr = event.headers["Fusionizer-Server-Address"]
    back = requests_session.post(f"http://{addr}:8000/back", json={}).status_code
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        sides = list(pool.map(lambda t: call(context, t), ["side", "side"]))
    return {"back": back, "sides": sides}
"""
PLAIN = "def handler(context, event):\n    return {'ok': True}\n"
PLAN = """
# The shop: front calls back and, in parallel, side.
apiVersion: fusionizer.io/v1
kind: FusionPlan
metadata:
  name: tiny
spec:
  taskDirs: [tasks]
  fusion:
    groups: []   # every task alone, to begin with
"""


def write(root: Path, files: Dict[str, str]) -> None:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(textwrap.dedent(text).lstrip("\n"))


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    config = "spec:\n  runtime: python:3.11\n  handler: main:handler\n"
    write(tmp_path, {"fusionizer.yaml": PLAN, "tasks/front/main.py": FRONT, "tasks/back/main.py": PLAIN,
                     "tasks/side/main.py": PLAIN,
                     **{f"tasks/{t}/function.yaml": config for t in ("front", "back", "side")}})
    return Cli(capsys, tmp_path / "fusionizer.yaml")


def test_traces_and_a_suggestion_written_to_the_plan(cli: Cli) -> None:
    cli.ok("apply")
    empty = cli.ok("suggest")
    assert "0 call(s) recorded by 3 function(s)" in empty.out and "No changes" in empty.out
    for _ in range(12):
        assert cli.ok("invoke", "front", "--body", "{}").json() == {"back": 200, "sides": [200, 200]}

    traces = cli.ok("traces", "-o", "json").json()
    edges = {(e["caller"], e["callee"]): e for e in traces["edges"]}
    back = edges["front", "back"]
    assert (back["count"], back["sync"], back["local"]) == (12, 12, 0)
    assert (edges["front", "side"]["count"], edges["front", "side"]["sync"]) == (24, 0)
    assert {s["task"]: s["count"] for s in traces["served"]} == {"back": 12, "front": 12, "side": 24}
    text = cli.ok("traces").out
    assert "front -> back" in text and "12/12" in text and "Requests served:" in text

    proposal = cli.ok("suggest", "-o", "json").json()
    assert [c["action"] for c in proposal["changes"]] == ["fuse"]
    assert proposal["changes"][0]["after"] == [{"name": None, "tasks": ["back", "front"]}]
    assert "fuse front -> back: 12 of 12 calls synchronous" in proposal["changes"][0]["reasons"][0]
    assert proposal["written"] is False and "+    groups: [[front, back]]" not in proposal["diff"]

    written = cli.ok("suggest", "--write")
    assert "Wrote" in written.out
    head, _, groups = cli.plan.read_text().partition("  fusion:\n")
    assert head == PLAN.lstrip().partition("  fusion:\n")[0]  # the rest of the file as it was
    assert groups.split() == ["groups:", "#", "every", "task", "alone,", "to", "begin", "with", "-", "[back,", "front]"]
    cli.ok("apply")
    assert cli.ok("invoke", "front", "--body", "{}").json() == {"back": 200, "sides": [200, 200]}
    after = {(e["caller"], e["callee"]): e for e in cli.ok("traces", "-o", "json").json()["edges"]}
    assert after["front", "back"]["local"] == 1  # now in-process
    assert "No changes" in cli.ok("suggest").out


def test_a_broken_optimizer_exits_1_and_writes_nothing(cli: Cli) -> None:
    text = cli.plan.read_text() + "  optimizer: {class: 'fusionizer.optimize:FeedbackOptimizer', options: {x: 1}}\n"
    cli.plan.write_text(text)
    run = cli("suggest", "--write")
    assert run.code == 1 and "the optimizer failed (options)" in run.err and "the current setup stays" in run.err
    assert cli.plan.read_text() == text


def test_write_refuses_a_git_source(cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["suggest", "--write", "--git", str(cli.plan.parent)]) == 1
    err = capsys.readouterr().err
    assert "suggest --write edits a plan file; with --git, print the diff and commit it yourself" in err
