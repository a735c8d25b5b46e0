"""``fusionizer validate``: text and JSON output, exit codes, --strict, --git, no tracebacks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest
from click.testing import CliRunner

from fusionizer.cli import cli, main

REPO = Path(__file__).resolve().parents[2]

BROKEN = """\
apiVersion: fusionizer.io/v1
kind: FusionPlan
metadata:
  name: shop
spec:
  taskDirs: [tasks]
  fusion:
    groups:
      - [a, b, ghost]
      - [a]
    schedule:
      - after: 5min
        groups: []
"""


def run(*args: str) -> Tuple[int, str, str]:
    """Runs the real command tree with click's own exit-code handling."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def broken(ws) -> None:
    ws.task("a")
    ws.task("b")
    ws.plan(BROKEN)


def test_valid_plan_exits_0_with_a_summary(ws):
    ws.task("a")
    ws.task("b")
    ws.task("c")
    ws.plan(ws.plan_text())
    code, out, _ = run("validate")
    assert code == 0
    assert out == "fusionizer.yaml: plan 'shop' is valid: 3 tasks in 2 functions by default.\n"


def test_invalid_plan_prints_one_line_per_finding_and_exits_1(ws):
    broken(ws)
    code, out, _ = run("validate")
    assert code == 1
    assert out.splitlines() == [
        "fusionizer.yaml:9:16: warning: group names task 'ghost', which the plan does not define; add it "
        "to spec.tasks or a spec.taskDirs directory, or remove it from the group (spec.fusion.groups[0][2])",
        "fusionizer.yaml:10:10: error: task 'a' is already in group [a, b, ghost] (line 9, "
        "spec.fusion.groups[0]); a task runs in exactly one function per setup: remove it from one of "
        "the groups (spec.fusion.groups[1][0])",
        'fusionizer.yaml:12:16: error: "5min": not a duration: use whole numbers with units d, h, m, s '
        "in that order, e.g. 40s, 5m, 1h30m, 2d. (spec.fusion.schedule[0].after)",
        "fusionizer.yaml: 2 errors, 1 warning; the plan is invalid.",
    ]


def test_json_output(ws):
    broken(ws)
    code, out, _ = run("validate", "-o", "json")
    assert code == 1
    report = json.loads(out)
    assert list(report) == ["valid", "errors", "warnings", "diagnostics"]
    assert (report["valid"], report["errors"], report["warnings"]) == (False, 2, 1)
    assert report["diagnostics"][1] == {
        "severity": "error",
        "message": (
            "task 'a' is already in group [a, b, ghost] (line 9, spec.fusion.groups[0]); a task runs in "
            "exactly one function per setup: remove it from one of the groups"
        ),
        "file": "fusionizer.yaml",
        "line": 10,
        "col": 10,
        "path": "spec.fusion.groups[1][0]",
    }


def test_json_output_of_a_valid_plan(ws):
    ws.task("a")
    ws.task("b")
    ws.plan(ws.plan_text())
    code, out, _ = run("validate", "--output", "json")
    assert code == 0
    assert json.loads(out) == {"valid": True, "errors": 0, "warnings": 0, "diagnostics": []}


def test_warnings_alone_keep_the_plan_valid_unless_strict(ws):
    ws.task("a")
    ws.task("b")
    ws.plan(ws.plan_text("      - [a, b, ghost]"))
    code, out, _ = run("validate")
    assert code == 0
    assert out.splitlines()[-1] == "fusionizer.yaml: plan 'shop' is valid (1 warning): 2 tasks in 1 function by default."
    code, out, _ = run("validate", "--strict", "-o", "json")
    assert code == 1
    report = json.loads(out)
    assert (report["valid"], report["errors"], report["warnings"]) == (False, 1, 0)
    assert report["diagnostics"][0]["severity"] == "error"


def test_missing_default_plan_names_it_and_suggests_f(ws, capsys):
    # The source is read as every command reads it: a missing plan file is the same error.
    assert main(["validate"]) == 1
    err = capsys.readouterr().err
    assert f"no fusionizer.yaml in {ws.root}: pass -f PATH" in err and "Traceback" not in err


def test_missing_plan_file_is_a_clear_error(ws, capsys):
    assert main(["validate", "-f", "plans/prod.yaml", "-o", "json"]) == 1
    err = capsys.readouterr().err
    assert "plans does not exist" in err and "Traceback" not in err


@pytest.mark.parametrize("args, words", [
    (["--ref", "main"], "--ref goes with --git."),
    (["-f", "x.yaml", "--git", "repo"], "Either -f/--file or --git can be used, not both"),
    (["-o", "yaml"], "'yaml' is not one of 'text', 'json'"),
])
def test_usage_errors(ws, args, words):
    code, _, err = run("validate", *args)
    assert code == 2
    assert words in err


def git(cwd: Path, *args: str) -> None:
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_validate_a_git_repo_names_files_inside_the_repo(ws, tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Test")
    git(repo, "config", "user.email", "test@example.invalid")
    (repo / "deploy").mkdir()
    (repo / "deploy" / "fusionizer.yaml").write_text(BROKEN.replace("taskDirs: [tasks]", "taskDirs: [../tasks]"))
    ws.task("a", under=str(repo / "tasks"))
    ws.task("b", under=str(repo / "tasks"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "plan")
    code, out, _ = run("validate", "--git", str(repo), "--plan-path", "deploy/fusionizer.yaml")
    assert code == 1
    assert out.splitlines()[1].startswith("deploy/fusionizer.yaml:10:10: error: task 'a' is already in group")


def test_main_prints_without_a_traceback(ws, capsys):
    broken(ws)
    main(["validate"])
    out, err = capsys.readouterr()
    assert "fusionizer.yaml:10:10: error:" in out
    assert "Traceback" not in out + err


def run_module(args: List[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "fusionizer", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_the_real_cli_reports_without_a_traceback(ws):
    broken(ws)
    ws.write("tasks/b/main.py", "def handler(:\n")  # a syntax error in user code, too
    proc = run_module(["validate", "-f", "fusionizer.yaml"], ws.root)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "tasks/b/main.py:1:13: error: handler module has a syntax error" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "fusionizer.yaml: 3 errors, 1 warning; the plan is invalid."


def test_the_real_cli_exit_codes(ws):
    broken(ws)
    assert run_module(["validate"], ws.root).returncode == 1
    assert run_module(["validate", "-f", str(REPO / "fusionizer.yaml")], ws.root).returncode == 0
