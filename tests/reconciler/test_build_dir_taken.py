"""The local platform moves a build dir made for the deploy into place instead of copying
every file (FunctionSource.disposable), and copies any other directory, which stays its
owner's; an apply keeps each build before the platform takes it, so ``plan`` still knows
what runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from fusionizer.paths import builds_dir
from fusionizer.platforms.base import FunctionSource, InvokeRequest
from fusionizer.platforms.local.platform import LocalPlatform
from testing.example import Cli, copy_example

HANDLER = "def handler(context, event):\n    return {answer!r}\n"


def function_dir(root: Path, name: str, answer: str) -> FunctionSource:
    root.mkdir()
    (root / "main.py").write_text(HANDLER.format(answer=answer))
    config = {"metadata": {"name": name}, "spec": {"runtime": "python:3.11", "handler": "main:handler"}}
    (root / "function.yaml").write_text(yaml.safe_dump(config))
    return FunctionSource(name, root, config)


def code_dir(platform: LocalPlatform, name: str) -> Path:
    return Path(str((platform.store.read("procs", name) or {})["code"]))


def test_a_build_dir_is_moved_into_place_and_any_other_directory_copied(tmp_path: Path) -> None:
    platform = LocalPlatform("nuclio")
    built = function_dir(tmp_path / "built", "moved", "moved")
    inode = os.stat(built.path / "main.py").st_ino
    platform.deploy(FunctionSource(built.name, built.path, built.config, disposable=True))
    assert not built.path.exists()
    assert os.stat(code_dir(platform, "moved") / "main.py").st_ino == inode  # the same file: nothing copied

    own = function_dir(tmp_path / "own", "copied", "copied")
    platform.deploy(own)
    assert (own.path / "main.py").read_text() == HANDLER.format(answer="copied")  # left as it was
    assert os.stat(code_dir(platform, "copied") / "main.py").st_ino != os.stat(own.path / "main.py").st_ino
    records = {r.name: r for r in platform.list()}
    for name in ("moved", "copied"):
        assert platform.invoke(records[name], name, InvokeRequest()).body == name.encode()


def test_an_apply_keeps_what_it_deployed_though_the_build_dir_was_taken(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cli = Cli(capsys, copy_example(tmp_path / "example"))
    cli.ok("apply")
    assert not [p for p in builds_dir("demo").iterdir() if not p.name.startswith(".")]  # each one taken
    main = cli.plan.parent / "tasks" / "taska" / "main.py"
    main.write_text(main.read_text() + "\n# an edit\n")
    details = cli.ok("plan", "--diff").out
    assert "+# an edit" in details and "tasks/taska/main.py" in details
    cli.ok("apply")
    assert cli.ok("invoke", "taska").out.strip() == "8"
    assert cli("apply", "--detailed-exitcode").code == 0


def test_a_function_rewriting_its_own_files_changes_nothing_plan_reports(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cli = Cli(capsys, copy_example(tmp_path / "example"))
    cli.ok("apply")
    platform = LocalPlatform("nuclio")
    running = code_dir(platform, "demo-taska-taskb") / "tasks" / "taskb" / "main.py"
    with open(running, "a") as rewritten:  # as a handler writing into its own directory would
        rewritten.write("# written by the function\n")
    main = cli.plan.parent / "tasks" / "taska" / "main.py"
    main.write_text(main.read_text() + "\n# an edit\n")
    planned = cli.ok("plan", "-o", "json").json()
    details = {c["function"]: c.get("details") for c in planned["changes"]}["demo-taska-taskb"]
    assert details["files"]["changed"] == ["tasks/taska/main.py"]
