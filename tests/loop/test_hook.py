"""``fusionizer hook install``: idempotent, keeps or refuses a foreign hook, bakes in
FUSIONIZER_HOME, runs apply without git's repository variables, and only for its branch."""

from __future__ import annotations

import io
import os
import shlex
import stat
from pathlib import Path

import pytest

from fusionizer.cli import main
from fusionizer.loop import notifications, posthook
from fusionizer.platforms.local.platform import LocalPlatform
from tests.loop.conftest import Repo, git, handler_source, serving

FOREIGN_HOOK = "#!/bin/sh\ncat > \"$(dirname \"$0\")/../foreign-hook-saw\"\necho foreign hook ran\n"


def test_install_is_idempotent_and_bakes_in_the_home(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hook", "install", str(repo.bare), "--plan-path", "fusionizer.yaml"]) == 0
    hook = repo.bare / "hooks" / "post-receive"
    assert "Installed" in capsys.readouterr().out
    assert hook.stat().st_mode & stat.S_IXUSR
    text = hook.read_text()
    assert posthook.MARKER in text and os.environ["FUSIONIZER_HOME"] in text and '"branch": "main"' in text

    assert main(["hook", "install", str(repo.bare)]) == 0
    assert "Already up to date" in capsys.readouterr().out and hook.read_text() == text
    assert main(["hook", "install", str(repo.bare), "--branch", "release", "--platform", "local"]) == 0
    assert "Updated" in capsys.readouterr().out and '"branch": "release"' in hook.read_text()


def test_a_foreign_hook_is_refused_or_chained_and_restored(repo: Repo, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    hook = repo.bare / "hooks" / "post-receive"
    hook.write_text(FOREIGN_HOOK)
    hook.chmod(0o755)
    assert main(["hook", "install", str(repo.bare)]) == 1
    assert "not installed by the fusionizer; pass --chain" in capsys.readouterr().err
    assert hook.read_text() == FOREIGN_HOOK

    assert main(["hook", "install", str(repo.bare), "--chain"]) == 0
    assert "the previous hook runs first" in capsys.readouterr().out
    home = os.environ["FUSIONIZER_HOME"]
    sha = repo.commit({"tasks/alpha/main.py": handler_source("alpha", "v2")}, "v2")
    monkeypatch.setenv("FUSIONIZER_HOME", str(Path(home) / "elsewhere"))  # the pusher's env does not matter
    out = repo.push()
    monkeypatch.setenv("FUSIONIZER_HOME", home)
    assert "remote: foreign hook ran" in out and f"applied {sha[:12]}" in out, out
    assert f" {sha} refs/heads/main" in (repo.bare / "foreign-hook-saw").read_text()
    assert serving(LocalPlatform(), "alpha") == "alpha v2"
    assert notifications.read_revision(notifications.trigger_file(str(repo.bare))) == sha

    assert main(["hook", "uninstall", str(repo.bare)]) == 0
    assert hook.read_text() == FOREIGN_HOOK


def test_pushes_to_other_branches_are_ignored(repo: Repo) -> None:
    posthook.install(str(repo.bare), home=os.environ["FUSIONIZER_HOME"])
    git(repo.work, "checkout", "-q", "-b", "feature")
    repo.commit({"tasks/alpha/main.py": handler_source("alpha", "feature")}, "feature")
    out = git(repo.work, "push", "origin", "feature")
    assert "fusionizer:" not in out, out
    assert not notifications.trigger_file(str(repo.bare)).exists()


def test_apply_runs_without_git_repository_variables() -> None:
    env = {"GIT_DIR": ".", "GIT_QUARANTINE_PATH": "/q", "GIT_OBJECT_DIRECTORY": "/o",
           "GIT_ALTERNATE_OBJECT_DIRECTORIES": "/a", "PATH": "/bin", "HOME": "/root"}
    cleaned = posthook.clean_env(env, "/srv/fusionizer")
    assert cleaned == {"PATH": "/bin", "HOME": "/root", "FUSIONIZER_HOME": "/srv/fusionizer", "PYTHONUNBUFFERED": "1"}
    settings = posthook.HookSettings(repo="/srv/git/app.git", branch="main", plan_path="deploy/fusionizer.yaml",
                                     platform="local", python="/usr/bin/python3")
    assert posthook.apply_argv(settings, "ab" * 20) == [
        "/usr/bin/python3", "-m", "fusionizer", "apply", "--git", "/srv/git/app.git", "--ref", "ab" * 20,
        "--plan-path", "deploy/fusionizer.yaml", "--lock-timeout", "120", "--platform", "local"]


def test_the_same_repository_gets_the_same_notification_file(repo: Repo, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo.bare.parent)
    names = [str(repo.bare), str(repo.bare) + "/", "origin.git", f"file://{repo.bare}"]
    assert len({notifications.repo_key(name) for name in names}) == 1
    assert notifications.repo_key("https://example.invalid/app.git") != notifications.repo_key(str(repo.bare))


def test_install_needs_a_git_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hook", "install", str(tmp_path)]) == 1
    assert "is not a git repository" in capsys.readouterr().err


def test_a_directory_inside_a_repository_is_not_taken_for_it(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    inside = repo.work / "tasks"
    assert main(["hook", "install", str(inside), "--branch", "main"]) == 1
    assert "is not a git repository" in capsys.readouterr().err
    assert not (repo.work / ".git" / "hooks" / "post-receive").exists()


def test_a_chained_hook_that_cannot_run_does_not_stop_ours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    chained = tmp_path / posthook.CHAINED_NAME
    chained.write_text("#!/bin/sh\n")  # not executable: git would have skipped it
    applied = []
    monkeypatch.setattr(posthook, "reconcile", lambda settings, update: applied.append(update.new))
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{'0' * 40} {'a' * 40} refs/heads/main\n"))
    settings = posthook.HookSettings(repo=str(tmp_path), branch="main", chained=str(chained))
    assert posthook.main([settings.to_json()]) == 0
    assert f"could not run the chained hook {chained.name}" in capsys.readouterr().out
    assert applied == ["a" * 40]


@pytest.mark.parametrize("branch", ["main\ntouch /tmp/pwned", "main;id", "$(id)", "`id`", "a|b", "a b", "-x",
                                    "a..b", "a/", "x.lock", "it's", "a\\b"])
def test_a_branch_that_is_no_plain_branch_name_is_refused(repo: Repo, capsys: pytest.CaptureFixture[str],
                                                          branch: str) -> None:
    hook = repo.bare / "hooks" / "post-receive"
    assert main(["hook", "install", str(repo.bare), "--branch", branch]) == 1
    err = capsys.readouterr().err
    assert f"--branch {branch!r} is not a branch name the hook can watch" in err and "Traceback" not in err
    assert not hook.exists()


def test_every_value_baked_into_the_hook_stays_on_its_line(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hook", "install", str(repo.bare), "--plan-path", "deploy\nid"]) == 1
    assert "holds a control character" in capsys.readouterr().err
    settings = posthook.HookSettings(repo="/srv/a b/$(id)", branch="release/1.2+x", plan_path="a'b\";`id`.yaml",
                                     home="/srv/home\nid", python="/opt/py thon/bin/python3")
    lines = posthook.render(settings).splitlines()
    # Only the cd and the exec run; comments cannot end early; the exec line reads back the settings.
    assert [line for line in lines if not line.startswith("#")] == [
        'cd "${GIT_DIR:-.}" || exit 0', lines[-1]]
    argv = shlex.split(lines[-1])
    assert argv[:4] == ["exec", "/opt/py thon/bin/python3", "-m", "fusionizer.loop.posthook"]
    assert posthook.HookSettings.from_json(argv[4]) == settings


@pytest.mark.parametrize("link", ["fusionizer.yaml", "tasks/alpha/function.yaml", "tasks/alpha/notes.txt"])
def test_a_pusher_never_sees_a_host_file_through_a_symlink(repo: Repo, tmp_path: Path, link: str) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text("ghp_s3cr3tT0k3n\n")  # valid YAML: a lone string
    posthook.install(str(repo.bare), home=os.environ["FUSIONIZER_HOME"])
    (repo.work / link).unlink(missing_ok=True)
    os.symlink(credentials, repo.work / link)
    sha = repo.commit({}, "a link out of the repository")
    out = repo.push()
    assert "ghp_s3cr3tT0k3n" not in out, out
    assert f"{link} leads outside the plan's directory" in out and f"apply of {sha[:12]} failed (exit 1)" in out, out
