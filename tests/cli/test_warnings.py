"""The plan's warnings wherever a plan is loaded (plan, apply, watch, the hook), the same
lines validate prints; `--strict` on every command makes them errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusionizer.cli import main
from fusionizer.loop import posthook
from fusionizer.loop.reconciling import Runner
from fusionizer.loop.reports import format_report
from fusionizer.loop.triggers import START, Trigger
from fusionizer.reconciler.state import RunResult
from fusionizer.sources.directory import DirectorySource
from testing.memory_platform import MemoryPlatform

TYPO = "      - [taska, tsakb]"


def misspell(plan: Path) -> None:
    text = plan.read_text()
    assert "      - [taska, taskb]" in text
    plan.write_text(text.replace("      - [taska, taskb]", TYPO, 1))  # the default setup only


def warning_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if ": warning: " in line]


def test_plan_and_apply_print_the_warnings_validate_prints(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    misspell(example)
    assert main(["validate", "-f", str(example)]) == 0
    expected = warning_lines(capsys.readouterr().out)
    assert len(expected) == 1 and "'tsakb'" in expected[0]
    for argv in (["plan"], ["apply", "--dry-run"]):
        assert main([*argv, "-f", str(example)]) == 0
        assert warning_lines(capsys.readouterr().err) == expected, argv


@pytest.mark.parametrize("command", [["validate"], ["plan"], ["apply", "--dry-run"], ["status"], ["destroy", "--yes"],
                                     ["invoke", "taska"], ["logs", "taska"]])
def test_strict_turns_warnings_into_errors_on_every_command(
        command: list[str], example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    misspell(example)
    file_flag = "--file" if command[0] == "logs" else "-f"
    assert main([*command, file_flag, str(example), "--strict"]) == 1
    captured = capsys.readouterr()
    assert "error: group names task 'tsakb'" in captured.out + captured.err


def test_watch_reports_the_warnings_of_each_new_revision_and_refuses_it_when_strict(example: Path) -> None:
    misspell(example)
    report = Runner(DirectorySource(example), lambda plan: MemoryPlatform()).run((Trigger(START),))
    assert report.result == RunResult.OK and len(report.warnings) == 1 and "'tsakb'" in report.warnings[0]
    assert report.warnings[0] in format_report(report)
    strict = Runner(DirectorySource(example), lambda plan: MemoryPlatform(), strict=True).run((Trigger(START),))
    assert strict.result == RunResult.INVALID and "error: group names task 'tsakb'" in strict.error


def test_the_hook_applies_with_strict_when_installed_with_it(tmp_path: Path) -> None:
    settings = posthook.HookSettings(repo=str(tmp_path), branch="main", strict=True)
    assert posthook.apply_argv(settings, "abc")[-1] == "--strict"
    assert "--strict" not in posthook.apply_argv(posthook.HookSettings(repo=str(tmp_path), branch="main"), "abc")


def test_a_task_listed_twice_is_a_warning_naming_both_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task = tmp_path / "tasks" / "a"
    task.mkdir(parents=True)
    (task / "function.yaml").write_text("spec:\n  runtime: python:3.11\n  handler: main:handler\n")
    (task / "main.py").write_text("def handler(context, event):\n    return 1\n")
    plan = tmp_path / "fusionizer.yaml"
    plan.write_text("apiVersion: fusionizer.io/v1\nkind: FusionPlan\nmetadata:\n  name: demo\nspec:\n"
                    "  tasks:\n    - {name: a, path: tasks/a}\n    - {name: a, path: tasks/a}\n")
    assert main(["validate", "-f", str(plan)]) == 0
    (line,) = warning_lines(capsys.readouterr().out)
    assert line.startswith(f"{plan}:8:") and "task 'a' is listed twice, at lines 7 and 8" in line
