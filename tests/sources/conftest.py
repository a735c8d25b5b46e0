"""Real git repositories in tmp dirs for the source tests (no network, local paths only)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Callable, Dict, Iterator, Optional, Union

import pytest


def git(cwd: Path, *args: str) -> str:
    env = dict(os.environ)
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"})
    out = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return out.stdout.strip()


class Origin:
    """A non-bare work repo (``work``) and optionally a bare repo it pushes to (``bare``)."""

    def __init__(self, root: Path, bare: bool = True, branch: str = "main") -> None:
        self.work = root / "work"
        self.work.mkdir(parents=True)
        git(self.work, "init", "-q", "-b", branch)
        git(self.work, "config", "user.name", "Test")
        git(self.work, "config", "user.email", "test@example.invalid")
        git(self.work, "config", "commit.gpgsign", "false")
        git(self.work, "config", "tag.gpgsign", "false")
        self.bare: Optional[Path] = None
        if bare:
            self.bare = root / "origin.git"
            git(root, "init", "-q", "--bare", "-b", branch, str(self.bare))
            git(self.work, "remote", "add", "origin", str(self.bare))

    @property
    def path(self) -> Path:
        """What a GitSource points at: the bare repo when there is one, else the work repo."""
        return self.bare if self.bare is not None else self.work

    def commit(self, files: Dict[str, Union[str, None]], message: str = "change", push: bool = True) -> str:
        for rel, content in files.items():
            p = self.work / rel
            if content is None:
                p.unlink()
                continue
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(content)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "--allow-empty", "-m", message)
        if push:
            self.push()
        return self.sha()

    def sha(self, rev: str = "HEAD") -> str:
        return git(self.work, "rev-parse", rev)

    def push(self, *refs: str, force: bool = False) -> None:
        if self.bare is None:
            return
        args = ["push", "-q"] + (["--force"] if force else []) + ["origin"]
        git(self.work, *(args + (list(refs) or ["--all"])))
        if not refs:
            git(self.work, *(args[:-1] + ["--tags", "origin"]))

    def branch(self, name: str, start: str = "HEAD") -> None:
        git(self.work, "branch", name, start)

    def checkout(self, name: str) -> None:
        git(self.work, "checkout", "-q", name)

    def tag(self, name: str, rev: str = "HEAD", annotated: bool = False) -> None:
        if annotated:
            git(self.work, "tag", "-a", name, "-m", f"release {name}", rev)
        else:
            git(self.work, "tag", name, rev)


PLAN_V1 = "apiVersion: fusionizer.io/v1\n# v1\n"


@pytest.fixture
def make_origin(tmp_path: Path) -> Callable[..., Origin]:
    """make_origin(name="origin", bare=True, branch="main", first_commit=True) -> Origin"""

    def make(name: str = "origin", bare: bool = True, branch: str = "main", first_commit: bool = True) -> Origin:
        o = Origin(tmp_path / name, bare=bare, branch=branch)
        if first_commit:
            o.commit({"fusionizer.yaml": PLAN_V1, "tasks/a/main.py": "X = 1\n"}, "first")
        return o

    return make


@pytest.fixture
def origin(make_origin: Callable[..., Origin]) -> Iterator[Origin]:
    yield make_origin()


@pytest.fixture
def run_git() -> Callable[..., str]:
    return git


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"
