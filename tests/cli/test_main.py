"""The CLI shell: one error handler, exit codes, help for every command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from fusionizer.cli import cli, main
from fusionizer.cli.commands import COMMANDS


def test_every_command_is_registered_documented_and_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert {"validate", "plan", "apply", "status", "invoke", "logs", "destroy", "watch", "hook", "completion"} <= set(COMMANDS)
    for name in COMMANDS:
        assert main([name, "--help"]) == 0
        out = capsys.readouterr().out
        assert f"Usage: fusionizer {name}" in out and len(out.splitlines()) > 4
        assert "Example" in out, f"`fusionizer {name} --help` shows no example"
        command = cli.get_command(click.Context(cli), name)
        assert command is not None and command.name == name


def test_missing_plan_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["plan"]) == 1
    err = capsys.readouterr().err
    assert f"no fusionizer.yaml in {tmp_path}: pass -f PATH" in err and "Traceback" not in err


def test_conflicting_source_options_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "-f", "x.yaml", "--git", "repo"]) == 2
    assert "Either -f/--file or --git can be used, not both." in capsys.readouterr().err


def test_a_bug_exits_3_and_writes_the_traceback_to_the_crash_log(
        fusionizer_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    @click.command("explode")
    def explode() -> None:
        raise ZeroDivisionError("boom")

    cli.add_command(explode)
    try:
        assert main(["explode"]) == 3
    finally:
        cli.commands.pop("explode")
    err = capsys.readouterr().err
    assert "An unexpected error occurred: ZeroDivisionError: boom" in err and "Traceback" not in err
    assert "ZeroDivisionError: boom" in (fusionizer_home / "crash.log").read_text()


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run([sys.executable, "-m", "fusionizer", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("fusionizer, version ")
