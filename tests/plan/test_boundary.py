"""Reading only the plan's tree, within bounds: what the corpus (tests/fuzz) does not show by
its messages alone — timing, hangs, what is built, and where the tree ends."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

from fusionizer.build import fuser
from fusionizer.errors import Diagnostic
from fusionizer.plan.identity import read_identity
from fusionizer.plan.loader import check_plan
from fusionizer.plan.model import Group, Plan

LAUGHS = "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
)
BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + LAUGHS  # 10^9 values


def errors(diagnostics: List[Diagnostic]) -> List[str]:
    return [d.render() for d in diagnostics if d.severity == "error"]


def checked_within(seconds: float, plan: str = "fusionizer.yaml") -> Tuple[Optional[Plan], List[Diagnostic]]:
    """check_plan on a thread: a read that blocks (a FIFO) fails the test instead of hanging it."""
    result: List[Tuple[Optional[Plan], List[Diagnostic]]] = []
    thread = threading.Thread(target=lambda: result.append(check_plan(Path(plan))), daemon=True)
    thread.start()
    thread.join(seconds)
    assert result, f"check_plan did not return within {seconds}s"
    return result[0]


@pytest.mark.parametrize("where", ["fusionizer.yaml", "tasks/a/function.yaml"])
def test_a_billion_laughs_fails_in_milliseconds(ws, where: str) -> None:
    ws.task("a")
    ws.plan(ws.plan_text("      - [a]"))
    ws.write(where, BILLION_LAUGHS)
    began = time.perf_counter()
    plan, diagnostics = check_plan(Path("fusionizer.yaml"))
    took = time.perf_counter() - began
    assert plan is None and took < 0.5, took  # expanded, it took 79 s and 4 GB
    assert "expand to more than 10000 values" in ws.one(diagnostics).message


@pytest.mark.parametrize("fifo", ["fusionizer.yaml", "tasks/a/function.yaml", "tasks/a/main.py", "tasks/a/in.pipe"])
def test_a_fifo_is_refused_by_name_and_never_opened(ws, fifo: str) -> None:
    ws.task("a")
    ws.plan(ws.plan_text("      - [a]"))
    Path(fifo).unlink(missing_ok=True)
    os.mkfifo(fifo)
    plan, diagnostics = checked_within(10)
    assert plan is None
    assert f"{fifo} is a FIFO (named pipe), not a regular file; refusing to read it" in ws.one(diagnostics).message


def test_links_inside_the_tree_are_read_and_built(ws) -> None:
    ws.task("a")
    ws.write("lib/shared.py", "VALUE = 1\n")
    os.symlink("../../lib/shared.py", "tasks/a/shared.py")
    os.symlink("../../lib", "tasks/a/lib")  # a linked directory inside: checked and built, as the build follows it
    ws.plan(ws.plan_text("      - [a]"))
    plan, diagnostics = check_plan(Path("fusionizer.yaml"))
    assert plan is not None, errors(diagnostics)
    built = fuser.describe(plan, Group(("a",)))
    assert sorted(f.dest for f in built.files if f.dest.startswith("tasks/")) == [
        "tasks/a/function.yaml", "tasks/a/lib/shared.py", "tasks/a/main.py", "tasks/a/shared.py"]


def test_a_git_checkout_is_one_tree(ws) -> None:
    """A plan in a subdirectory may use tasks elsewhere in its checkout, not beyond it."""
    ws.task("a")
    ws.write("deploy/fusionizer.yaml", ws.plan_text("      - [a]").replace("taskDirs: [tasks]", "taskDirs: [../tasks]"))
    plan, diagnostics = check_plan(Path("deploy/fusionizer.yaml"), tree=Path("."))
    assert plan is not None, errors(diagnostics)
    _, refused = check_plan(Path("deploy/fusionizer.yaml"))  # a directory plan: its own directory only
    assert "task directory '../tasks' leads outside the plan's directory" in ws.one(refused).message


def test_the_size_limit_counts_what_is_built(ws, monkeypatch: pytest.MonkeyPatch) -> None:
    ws.task("a")
    ws.plan(ws.plan_text("      - [a]"))
    monkeypatch.setenv("FUSIONIZER_MAX_TASK_BYTES", "2000")
    ws.write("tasks/a/__pycache__/main.cpython-311.pyc", "x" * 5000)  # never built: not counted
    ws.write("tasks/a/.venv/lib/big.so", "x" * 5000)
    assert checked_within(10)[0] is not None
    ws.write("tasks/a/model.bin", "x" * 2500)
    message = ws.one(checked_within(10)[1]).message
    assert message.startswith("task 'a': task directory tasks/a holds more than 2000 bytes (the limit, "
                              "FUSIONIZER_MAX_TASK_BYTES=2000); remove what the task does not need")


def test_the_identity_of_a_plan_linked_out_of_its_tree_is_not_read(ws, tmp_path_factory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "plan.yaml"
    elsewhere.write_text("metadata: {name: stolen}\n")
    os.symlink(elsewhere, "fusionizer.yaml")
    assert read_identity(Path("fusionizer.yaml")) is None
    assert read_identity(Path("fusionizer.yaml"), tree=elsewhere.parent.parent) is not None


def test_a_link_cycle_inside_a_task_ends(ws) -> None:
    ws.task("a")
    os.symlink(".", "tasks/a/self")  # the build follows links to directories once; so does the check
    os.symlink("../a", "tasks/a/up")
    ws.plan(ws.plan_text("      - [a]"))
    plan, diagnostics = checked_within(10)
    assert plan is not None, errors(diagnostics)
