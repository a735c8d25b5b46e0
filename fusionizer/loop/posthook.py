"""The post-receive hook: a ``git push`` to the watched branch reconciles at once.

``fusionizer hook install`` (:func:`install`) writes ``hooks/post-receive`` as a short shell
script that execs ``python -m fusionizer.loop.posthook '<settings JSON>'`` with the python
that installed it and the settings baked in (repository, branch, plan path, platform,
``FUSIONIZER_HOME``). On a push git runs it in the pushed-to repository with
``<old> <new> <ref>`` lines on stdin; for the watched branch :func:`main`

1. runs ``python -m fusionizer apply --git REPO --ref <new sha> --plan-path P
   --lock-timeout 120`` with every ``GIT_*`` variable removed: inside a hook git sets
   ``GIT_DIR``, ``GIT_QUARANTINE_PATH``, ``GIT_OBJECT_DIRECTORY``... which would make the
   fusionizer's own git cache read and write the pushed-to repository instead;
2. notifies any running ``fusionizer watch --git REPO`` (:mod:`~fusionizer.loop.notifications`),
   which then finds the revision applied and records nothing twice.

Its output reaches the pusher as ``remote:`` lines. It always exits 0: post-receive runs
after the refs moved, so it cannot refuse the push; an invalid plan or a failed deploy is
printed (and the previous functions keep serving). An existing foreign hook is refused,
or kept with ``--chain``: it is renamed ``post-receive.fusionizer-chained`` and run first
with the same input and environment.

Everything baked into the script is shell-quoted, and comments show values JSON-escaped, so
no setting can end a line; a branch must be a plain git branch name (letters, digits,
``._/+-``) and a plan path may hold no control character, so a newline or a shell
metacharacter in ``--branch`` is refused at install time instead of running on push.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from fusionizer import paths
from fusionizer.errors import FusionizerError
from fusionizer.loop import notifications
from fusionizer.paths import DEFAULT_PLAN_FILE

MARKER = "# fusionizer post-receive hook"
HOOK_NAME = "post-receive"
CHAINED_NAME = "post-receive.fusionizer-chained"
DEFAULT_LOCK_TIMEOUT = 120.0
_PREFIX = "fusionizer:"
# Stricter than git (which allows e.g. `$`, `;`, `|` or a backquote): no shell metacharacter.
_BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/+-]*$")


@dataclass(frozen=True)
class HookSettings:
    """What the installed hook does; baked into it as JSON."""

    repo: str  # absolute path of the repository pushes go to (what ``apply --git`` reads)
    branch: str  # only pushes to refs/heads/<branch> reconcile
    plan_path: str = DEFAULT_PLAN_FILE
    platform: Optional[str] = None  # --platform for apply; None: the plan / FUSIONIZER_PLATFORM decides
    home: Optional[str] = None  # FUSIONIZER_HOME at install time; None: the pusher's environment decides
    python: str = sys.executable
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    chained: Optional[str] = None  # a pre-existing hook kept and run first
    strict: bool = False  # apply --strict: the plan's warnings refuse the push's revision

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "HookSettings":
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Update:
    """One line of post-receive's stdin: a ref that moved."""

    old: str
    new: str
    ref: str

    @property
    def deleted(self) -> bool:
        return set(self.new) == {"0"}


@dataclass(frozen=True)
class Installed:
    path: Path
    action: str  # "installed" | "updated" | "unchanged"
    settings: HookSettings


# -- the hook at push time ---------------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the installed hook (``python -m fusionizer.loop.posthook JSON``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        settings = HookSettings.from_json(args[0])
        pushed = sys.stdin.read()
        if settings.chained:
            _run_chained(settings.chained, pushed)
        for update in parse_updates(pushed):
            if update.ref == f"refs/heads/{settings.branch}":
                reconcile(settings, update)
    except Exception as e:  # never a traceback at the pusher: say what broke, keep the push
        _say(f"the hook failed: {type(e).__name__}: {e}; nothing was applied")
    return 0


def parse_updates(text: str) -> List[Update]:
    updates = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            updates.append(Update(*parts))
    return updates


def reconcile(settings: HookSettings, update: Update) -> int:
    """Apply the pushed commit, then wake the watchers; returns apply's exit status."""
    if update.deleted:
        _say(f"branch {settings.branch} was deleted; nothing applied, the functions keep serving")
        return 0
    _say(f"applying {settings.plan_path} at {update.new[:12]} ...")
    began = time.monotonic()
    status = subprocess.run(apply_argv(settings, update.new), env=clean_env(os.environ, settings.home),
                            stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT).returncode
    took = time.monotonic() - began
    if status == 0:
        _say(f"applied {update.new[:12]} in {took:.1f}s")
    else:
        _say(f"apply of {update.new[:12]} failed (exit {status}); the previous functions keep serving")
    try:
        notifications.notify(settings.repo, update.new, Path(settings.home) if settings.home else None)
    except OSError as e:
        _say(f"could not notify running watchers: {e}")
    return status


def apply_argv(settings: HookSettings, sha: str) -> List[str]:
    argv = [settings.python, "-m", "fusionizer", "apply", "--git", settings.repo, "--ref", sha,
            "--plan-path", settings.plan_path, "--lock-timeout", f"{settings.lock_timeout:g}"]
    if settings.platform:
        argv += ["--platform", settings.platform]
    return argv + (["--strict"] if settings.strict else [])


def clean_env(environ: Mapping[str, str], home: Optional[str]) -> Dict[str, str]:
    """The hook's environment without git's repository variables, with the baked home."""
    env = {k: v for k, v in environ.items() if not k.startswith("GIT_")}
    if home:
        env["FUSIONIZER_HOME"] = home
    env["PYTHONUNBUFFERED"] = "1"  # apply's progress reaches the pusher as it happens
    return env


def _run_chained(path: str, pushed: str) -> None:
    sys.stdout.flush()
    # The kept hook gets exactly what git gave us: same stdin, same GIT_* environment.
    try:
        status = subprocess.run([path], input=pushed.encode(), stderr=subprocess.STDOUT).returncode
    except OSError as e:  # e.g. not executable: git itself would have skipped it; ours still runs
        _say(f"could not run the chained hook {Path(path).name}: {e}")
        return
    if status != 0:
        _say(f"the chained hook {Path(path).name} exited with {status}")


def _say(message: str) -> None:
    print(f"{_PREFIX} {message}", flush=True)


# -- installing --------------------------------------------------------------------------


def render(settings: HookSettings) -> str:
    return "\n".join([
        "#!/bin/sh",
        f"{MARKER}, written by `fusionizer hook install`; run it again to change this file.",
        # Values in comments are JSON-escaped: none can end the comment's line.
        f"# A push to branch {json.dumps(settings.branch)} applies {json.dumps(settings.plan_path)} at the",
        "# pushed commit, then wakes `fusionizer watch --git` loops of this repository. Settings (JSON)",
        "# below; FUSIONIZER_HOME is baked in as it was at install time.",
        "# Run from the git dir, so that a work tree's own files can never shadow the fusionizer.",
        'cd "${GIT_DIR:-.}" || exit 0',
        f"exec {shlex.quote(settings.python)} -m fusionizer.loop.posthook {shlex.quote(settings.to_json())}",
        "",
    ])


def install(
    repo: str,
    branch: Optional[str] = None,
    plan_path: str = DEFAULT_PLAN_FILE,
    platform: Optional[str] = None,
    chain: bool = False,
    home: Optional[str] = None,
    python: str = sys.executable,
    strict: bool = False,
) -> Installed:
    """Write (or rewrite) the hook; idempotent. A foreign hook is refused, or kept with ``chain``."""
    location, hook, chained = _hook_paths(repo)
    branch = check_branch(location, branch or _head_branch(location))
    check_plan_path(plan_path)
    existing = _read(hook)
    if existing is not None and MARKER not in existing:
        _keep_foreign(hook, chained, chain)
        existing = None
    settings = HookSettings(
        repo=str(location), branch=branch, plan_path=plan_path, platform=platform,
        home=str(Path(home).expanduser().resolve()) if home else None, python=python,
        chained=str(chained) if chained.exists() else None, strict=strict,
    )
    text = render(settings)
    if existing == text:
        return Installed(hook, "unchanged", settings)
    paths.write_atomically(hook, text, mode=0o755)
    return Installed(hook, "updated" if existing is not None else "installed", settings)


def check_branch(location: Path, branch: str) -> str:
    """``branch`` if it is a plain branch name (see ``_BRANCH``) that git accepts, else an error."""
    if not _BRANCH.match(branch) or _git(location, "check-ref-format", f"refs/heads/{branch}").returncode != 0:
        raise FusionizerError(
            f"--branch {branch!r} is not a branch name the hook can watch: use letters, digits and . _ / + - "
            "(and git's own rules: no '..', no trailing '/' or '.lock'); no spaces, newlines or shell characters"
        )
    return branch


def check_plan_path(plan_path: str) -> None:
    if not plan_path.strip() or any(ord(c) < 32 or ord(c) == 127 for c in plan_path):
        raise FusionizerError(
            f"--plan-path {plan_path!r} is empty or holds a control character (a newline?); "
            "give the plan file's path inside the repository, e.g. deploy/fusionizer.yaml"
        )


def uninstall(repo: str) -> Optional[Path]:
    """Remove our hook and put a chained one back; returns the path of what now runs, if any."""
    _, hook, chained = _hook_paths(repo)
    existing = _read(hook)
    if existing is not None and MARKER not in existing:
        raise FusionizerError(f"{hook} was not installed by the fusionizer; leaving it alone")
    hook.unlink(missing_ok=True)
    if chained.exists():
        os.replace(chained, hook)
        return hook
    return None


def _keep_foreign(hook: Path, chained: Path, chain: bool) -> None:
    if not chain:
        raise FusionizerError(
            f"{hook} already exists and was not installed by the fusionizer; pass --chain to keep it "
            "(it runs first, with the same input), or remove it"
        )
    if chained.exists():
        raise FusionizerError(f"{chained} already exists; merge the two hooks by hand, then install again")
    os.replace(hook, chained)


def _hook_paths(repo: str) -> Tuple[Path, Path, Path]:
    """The repository's location, its post-receive hook and the chained hook's path."""
    location = Path(os.path.realpath(os.path.expanduser(repo)))
    if not location.is_dir():
        raise FusionizerError(f"{location} is not a directory; give the path of the repository pushes go to")
    done = _git(location, "rev-parse", "--git-path", "hooks")  # honours core.hooksPath
    if done.returncode != 0:
        raise FusionizerError(f"{location} is not a git repository: {done.stderr.strip()}")
    hooks = (location / done.stdout.strip()).resolve()
    return location, hooks / HOOK_NAME, hooks / CHAINED_NAME


def _head_branch(location: Path) -> str:
    done = _git(location, "symbolic-ref", "--short", "HEAD")
    if done.returncode != 0 or not done.stdout.strip():
        raise FusionizerError(f"cannot tell the default branch of {location}; pass --branch NAME")
    return done.stdout.strip()


def _git(location: Path, *args: str) -> "subprocess.CompletedProcess[str]":
    """git in ``location`` itself: outside any hook's environment, and never a repository
    that merely encloses it (a subdirectory of a work tree is not "the repository")."""
    env = clean_env(os.environ, None)
    env["GIT_CEILING_DIRECTORIES"] = str(location.parent)
    return subprocess.run(["git", "-C", str(location), *args], capture_output=True, text=True, env=env)


def _read(path: Path) -> Optional[str]:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
