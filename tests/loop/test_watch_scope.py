"""``watch`` wakes only for what the plan builds from: a log, notes, test caches or editor
and ``sed -i`` temp files beside the plan (or inside a task) change nothing, are named once
at debug level, and never flood the history. Real watchdog events; the CLI ones (marked e2e) run real
function processes."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator, List

import pytest

from fusionizer.cli import main
from fusionizer.loop.looping import LOG
from fusionizer.loop.triggers import FILE, MANUAL
from fusionizer.reconciler.state import PlanRef, PlanState, RunResult
from fusionizer.sources import DirectorySource
from testing.memory_platform import MemoryPlatform
from tests.loop.conftest import (
    PLAN_NAME,
    WAIT,
    MakeHarness,
    MakeWatched,
    handler_source,
    kinds,
    wait_until,
    write_files,
)

BESIDE = {
    "watch.log": "12:00:00 [start] ok\n",
    "nohup.out": "x",
    "notes/todo.md": "- ship it\n",
    ".coverage": "x",
    ".hypothesis/examples/ab/cd": "x",
    "tasks/alpha/.hypothesis/examples/ab/cd": "x",
    "tasks/alpha/.mypy_cache/3.11/main.data.json": "{}",
    "tasks/alpha/.main.py.swo": "x",
    "tasks/alpha/sedAbC123": "x",  # the temp file `sed -i` renames over its target
    "tasks/README.md": "not a task\n",
}
IGNORED_LINE = "not part of what the plan builds from"


class Lines(logging.Handler):
    """The loop's log lines, for tests to wait on."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def ignored(self) -> List[str]:
        return [line for line in list(self.lines) if IGNORED_LINE in line]


@pytest.fixture
def loop_lines() -> Iterator[Lines]:
    lines = Lines()
    level, propagate = LOG.level, LOG.propagate
    LOG.addHandler(lines)
    LOG.setLevel(logging.DEBUG)
    yield lines
    LOG.removeHandler(lines)
    LOG.setLevel(level)
    LOG.propagate = propagate


def test_watch_wakes_only_for_what_the_plan_builds_and_names_what_it_ignored_once(
        plan_dir: Path, make_watched: MakeWatched, loop_lines: Lines) -> None:
    harness, watchers = make_watched(DirectorySource(plan_dir / "fusionizer.yaml"), MemoryPlatform())
    with watchers:
        start = harness.start()
        assert start is not None and start.result == RunResult.OK
        write_files(plan_dir, dict(BESIDE))
        wait_until(lambda: bool(loop_lines.ignored()), "the debug line naming what was ignored")
        # Anything relevant would have been a `file` trigger by now: the next run has none.
        harness.loop.trigger(MANUAL)
        assert kinds(harness.recorder.next("the manual run")) == [MANUAL]
        line = loop_lines.ignored()[0]
        assert "[ignored (" in line and len(loop_lines.ignored()) == 1, loop_lines.lines

        write_files(plan_dir, {"watch.log": "more\n", "notes/todo.md": "- and more\n"})  # named already: silent
        subprocess.run(["sed", "-i", "s/v1/v2/", str(plan_dir / "tasks/alpha/main.py")], check=True)
        saved = harness.recorder.wait(lambda r: FILE in kinds(r), "the sed -i edit")
    assert saved.result == RunResult.OK and saved.functions == (f"{PLAN_NAME}-alpha-beta",)
    assert [t.detail for t in saved.triggers] == ["tasks/alpha/main.py"]  # not sed's temp file
    assert len(loop_lines.ignored()) <= 2  # sed's temp file may be named; watch.log is not again
    assert not any("watch.log" in line for line in loop_lines.ignored()[1:])


def test_a_task_directory_outside_the_plan_directory_is_refused(
        plan_dir: Path, make_watched: MakeWatched) -> None:
    shared = plan_dir.parent / "shared"
    write_files(shared, {"delta/function.yaml": (plan_dir / "tasks/alpha/function.yaml").read_text(),
                         "delta/main.py": handler_source("delta", "v1")})
    plan = (plan_dir / "fusionizer.yaml").read_text()
    write_files(plan_dir, {"fusionizer.yaml": plan.replace("spec:\n", "spec:\n  tasks: [{name: delta, path: ../shared/delta}]\n")})
    platform = MemoryPlatform()
    harness, watchers = make_watched(DirectorySource(plan_dir / "fusionizer.yaml"), platform)
    with watchers:
        start = harness.start()
    assert start is not None and start.result == RunResult.INVALID, start
    assert "task 'delta': path '../shared/delta' leads outside the plan's directory" in start.error
    assert platform.list() == []


def test_new_revisions_with_the_same_functions_are_not_recorded_again(
        plan_dir: Path, make_harness: MakeHarness) -> None:
    platform = MemoryPlatform()
    harness = make_harness(DirectorySource(plan_dir / "fusionizer.yaml"), lambda plan: platform)
    start = harness.start()
    assert start is not None and start.result == RunResult.OK
    state = PlanState.of(platform, PLAN_NAME)
    revisions = {start.revision}
    for i in range(3):  # comments in the plan, a file the build ignores: new revisions, same functions
        write_files(plan_dir, {"fusionizer.yaml": (plan_dir / "fusionizer.yaml").read_text() + f"# note {i}\n",
                               "tasks/alpha/.fusionizerignore": f"scratch-{i}/\n"})
        harness.loop.trigger(FILE, "fusionizer.yaml")
        report = harness.recorder.next(f"edit {i}")
        assert report.result == RunResult.IN_SYNC and report.revision not in revisions
        revisions.add(report.revision)
    assert [run["revision"] for run in state.history()] == [start.revision]
    assert platform.calls["deploy"] == 2

    write_files(plan_dir, {"tasks/beta/main.py": handler_source("beta", "v2")})
    harness.loop.trigger(FILE, "tasks/beta/main.py")
    changed = harness.recorder.next("a real change")
    assert changed.result == RunResult.OK and [r["result"] for r in state.history()] == [RunResult.OK] * 2


@pytest.mark.e2e
def test_a_file_written_beside_the_plan_changes_neither_plan_nor_the_revision(
        plan_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan_file = str(plan_dir / "fusionizer.yaml")
    assert main(["apply", "-f", plan_file]) == 0
    revision = DirectorySource(plan_dir).resolve()
    write_files(plan_dir, dict(BESIDE))
    assert DirectorySource(plan_dir).resolve() == revision
    capsys.readouterr()
    assert main(["plan", "-f", plan_file, "--detailed-exitcode"]) == 0
    assert "0 to create, 0 to update, 0 to delete" in capsys.readouterr().out


@pytest.mark.e2e
def test_watch_with_its_output_in_the_plan_directory_reconciles_once(plan_dir: Path) -> None:
    """``fusionizer watch -v > watch.log 2>&1`` in the plan directory, for 5 s: one run."""
    log = plan_dir / "watch.log"
    argv = [sys.executable, "-m", "fusionizer", "watch", "-v", "--resync", "0"]
    with open(log, "w") as out, subprocess.Popen(argv, cwd=plan_dir, stdin=subprocess.DEVNULL, stdout=out,
                                                 stderr=subprocess.STDOUT, env=dict(os.environ)) as watch:
        try:
            wait_until(lambda: "[start]" in log.read_text(), "the start run")
            with pytest.raises(subprocess.TimeoutExpired):  # 5 s of watching its own output grow
                watch.wait(5.0)
            watch.send_signal(signal.SIGTERM)
            assert watch.wait(WAIT) == 0
        finally:
            if watch.poll() is None:
                watch.kill()
    text = log.read_text()
    runs = [line for line in text.splitlines() if re.match(r"^\d\d:\d\d:\d\d \[", line) and IGNORED_LINE not in line]
    assert len(runs) == 1 and "[start]" in runs[0] and "ok: 2 created" in runs[0], text
    assert sum(1 for line in text.splitlines() if IGNORED_LINE in line) <= 1, text
    assert [r["result"] for r in PlanState(PlanRef("local", "nuclio", PLAN_NAME)).history()] == [RunResult.OK]
