"""The last good apply serves when the source is broken: invoke and status answer from
what is deployed, saying the source is broken. Invoke prints a handler's traceback from
the task's own code, and answers in JSON with -o json. Real function processes, a real
git repository."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from fusionizer.cli import main
from testing.example import REPO

PLAN = """\
apiVersion: fusionizer.io/v1
kind: FusionPlan
metadata:
  name: demo
spec:
  tasks:
    - {name: taska, path: tasks/taska}
    - {name: taskb, path: tasks/taskb}
    - {name: boom, path: tasks/boom}
  fusion:
    groups:
      - name: ab
        tasks: [taska, taskb, boom]
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args], cwd=repo, check=True,
                   capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for task in ("taska", "taskb"):
        shutil.copytree(REPO / "tasks" / task, root / "tasks" / task, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "tasks" / "boom").mkdir()
    (root / "tasks" / "boom" / "function.yaml").write_text("spec:\n  runtime: python:3.9\n  handler: main:handler\n")
    (root / "tasks" / "boom" / "main.py").write_text("def handler(context, event):\n    raise ValueError('boom')\n")
    (root / "fusionizer.yaml").write_text(PLAN)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "good")
    return root


def test_invoke_and_status_answer_from_what_is_deployed_when_the_source_is_broken(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["apply", "--git", str(repo)]) == 0
    capsys.readouterr()
    assert main(["invoke", "boom", "--git", str(repo)]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("Exception caught in handler - \"boom\": Traceback (most recent call last):\n"
                                   "  File \"")
    assert captured.out.splitlines()[1].endswith('/tasks/boom/main.py", line 2, in handler')
    assert "dispatcher.py" not in captured.out and "ValueError: boom" in captured.out
    assert "its log: `fusionizer logs boom`" in captured.err

    (repo / "fusionizer.yaml").write_text(PLAN + "      - [taska]\n")
    git(repo, "commit", "-qam", "broken")
    assert main(["invoke", "taska", "--git", str(repo), "-o", "json"]) == 0
    captured = capsys.readouterr()
    answer = json.loads(captured.out)
    assert (answer["task"], answer["function"], answer["status"], answer["body"]) == ("taska", "demo-ab", 200, "8")
    assert "the source is broken: the plan at " in captured.err and "is invalid" in captured.err
    assert "task 'taska' is already in group" in captured.err  # the errors, as validate words them

    assert main(["status", "--git", str(repo)]) == 1
    captured = capsys.readouterr()
    assert "demo-ab" in captured.out and "ready" in captured.out
    assert "the source is broken" in captured.err and "the functions listed keep serving" in captured.err
