"""Whatever the umask, what the fusionizer keeps under FUSIONIZER_HOME that can hold env
values or logs (records, builds, deployed code, git checkouts, logs, run history, the file
cache) is 0600 in 0700 directories."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Iterator, List

import pytest
import yaml

from fusionizer import paths
from testing.example import Cli, copy_example

SECRET = "s3cr3t-env-value"


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)  # the worst case: everything created world-writable unless we say otherwise
    yield
    os.umask(previous)


def with_secret(plan: Path) -> None:
    """taskb gets an env value, and prints it into its log when it starts."""
    config_file = plan.parent / "tasks" / "taskb" / "function.yaml"
    config = yaml.safe_load(config_file.read_text())
    config["spec"]["env"] = [{"name": "API_TOKEN", "value": SECRET}]
    config_file.write_text(yaml.safe_dump(config))
    main = plan.parent / "tasks" / "taskb" / "main.py"
    main.write_text("import os\nprint('token', os.environ['API_TOKEN'], flush=True)\n" + main.read_text())


def holding_secret(home: Path) -> Iterator[Path]:
    for path in home.rglob("*"):
        if path.is_file() and not path.is_symlink() and SECRET.encode() in path.read_bytes():
            yield path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def loose(home: Path, found: List[Path]) -> List[str]:
    """Files not 0600, and directories between them and the home not 0700."""
    problems = [f"{p.relative_to(home)}: {mode(p):o}" for p in found if mode(p) & 0o177]
    for path in found:
        for parent in path.parents:
            if parent == home:
                break
            if mode(parent) != 0o700:
                problems.append(f"{parent.relative_to(home)}/: {mode(parent):o}")
    return sorted(set(problems))


def test_state_that_can_hold_env_values_or_logs_is_private(
        open_umask: None, capsys: pytest.CaptureFixture[str], tmp_path: Path, fusionizer_home: Path) -> None:
    plan = copy_example(tmp_path / "example")
    with_secret(plan)
    cli = Cli(capsys, plan)
    cli.ok("apply")
    failed = plan.parent / "tasks" / "taska" / "main.py"
    failed.write_text("raise SystemExit('taska: ' + __import__('os').environ.get('API_TOKEN', ''))\n")
    assert cli("apply").code == 1  # a failed deploy: its error (and the log) reach the run history

    found = list(holding_secret(fusionizer_home))
    kinds = {p.relative_to(fusionizer_home).parts[0] for p in found}
    # records, deployed code (build dirs the local platform moved into place), logs; builds
    # kept; the file cache (parsed function.yaml files)
    assert kinds == {"local", "state", "cache"}, found
    assert (fusionizer_home / "builds").stat().st_mode & 0o077 == 0  # where build dirs are made
    assert any(p.suffix == ".log" for p in found)
    # The run history quotes failures, and the lock the command line: private too.
    state = [p for p in [*fusionizer_home.glob("state/local/nuclio/demo/*"), *fusionizer_home.glob("plans/nuclio/demo/*")]
             if p.is_file()]
    assert {p.name for p in state} >= {"history.jsonl", "anchor.json", "apply.lock"}
    assert loose(fusionizer_home, found + state) == []


def test_git_checkouts_are_private(open_umask: None, tmp_path: Path, fusionizer_home: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "repo"
    plan = copy_example(repo)
    (repo / "schemas").unlink()
    with_secret(plan)
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "plan"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    from fusionizer.cli import main

    assert main(["validate", "--git", str(repo)]) == 0, capsys.readouterr()
    found = [p for p in holding_secret(fusionizer_home) if "git" == p.relative_to(fusionizer_home).parts[0]]
    assert found and loose(fusionizer_home, found) == []


def test_a_directory_left_open_by_an_older_version_is_tightened(fusionizer_home: Path) -> None:
    old = fusionizer_home / "local" / "nuclio" / "functions"
    old.mkdir(parents=True)
    old.chmod(0o755)
    fusionizer_home.chmod(0o755)
    assert paths.private_dir(old) == old and mode(old) == 0o700
    assert paths.private_dir(fusionizer_home) == fusionizer_home
    assert mode(fusionizer_home) == 0o755  # the home itself is never changed: it may be shared
