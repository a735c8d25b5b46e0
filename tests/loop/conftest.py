"""Fixtures for the loop tests: a tiny plan of three tasks in a tmp dir (or a real git repo
with a bare remote), a loop running on its own thread with an injected clock, and a
recorder of its runs that tests wait on (events with deadlines, never sleeps).

Every git these tests cause (their own, the product's, the hook's) sees no user or system
git config and no repository variables, and never finds a repository above its temp dir.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from fusionizer.loop.looping import Loop, LoopSettings
from fusionizer.loop.reconciling import Runner, RunReport
from fusionizer.loop.running import attach
from fusionizer.loop.timebase import ManualTime, SystemTime, Timebase
from fusionizer.loop.watching import Watchers
from fusionizer.platforms.base import InvokeRequest, Platform
from fusionizer.platforms.local.platform import LocalPlatform
from fusionizer.reconciler.reconcile import Options, owned
from fusionizer.sources.base import PollableSource
from testing.waiting import wait_for

PLAN_NAME = "loopdemo"
TASKS = ("alpha", "beta", "gamma")
WAIT = 30.0  # generous deadline for anything that should happen "now" (loaded CI machines)

PLAN = """\
apiVersion: fusionizer.io/v1
kind: FusionPlan
metadata:
  name: loopdemo
spec:
  taskDirs: [tasks]
  fusion:
    groups:
      - [alpha, beta]
{schedule}"""

SCHEDULE_AFTER_40S = """\
    schedule:
      - after: 40s
        groups: []
"""

FUNCTION_YAML = 'spec:\n  runtime: "python:3.11"\n  handler: "main:handler"\n'


def handler_source(task: str, version: str) -> str:
    return f"def handler(context, event):\n    return {f'{task} {version}'!r}\n"


def plan_files(version: str = "v1", schedule: str = "") -> Dict[str, str]:
    files = {"fusionizer.yaml": PLAN.format(schedule=schedule)}
    for task in TASKS:
        files[f"tasks/{task}/function.yaml"] = FUNCTION_YAML
        files[f"tasks/{task}/main.py"] = handler_source(task, version)
    return files


def write_files(root: Path, files: Dict[str, Optional[str]]) -> None:
    for rel, content in files.items():
        path = root / rel
        if content is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


@pytest.fixture
def plan_dir(tmp_path: Path) -> Path:
    root = tmp_path / "plan"
    write_files(root, dict(plan_files()))
    return root


def kinds(report: RunReport) -> List[str]:
    return [t.kind for t in report.triggers]


def serving(platform: LocalPlatform, task: str) -> str:
    """What ``task`` answers now, through the function that serves it on the local platform."""
    records = owned(platform.list(), PLAN_NAME)
    record = next(r for r in records.values() if task in r.tasks() and r.serving)
    return platform.invoke(record, task, InvokeRequest()).body.decode()


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Poll ``predicate`` with a deadline (for effects that have no event to wait on)."""
    wait_for(predicate, what, timeout)


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A throwaway HOME (git's global config, e.g. a core.hooksPath that `hook install`
    would write into) and no GIT_* variables (GIT_DIR would redirect every git command)."""
    home = tmp_path_factory.mktemp("home")
    for key in [k for k in os.environ if k.startswith("GIT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def git(cwd: Path, *args: str) -> str:
    """git in ``cwd``, which never looks for a repository above ``cwd``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "GIT_CEILING_DIRECTORIES": str(cwd.parent)})
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return (done.stdout + done.stderr).strip()


class Repo:
    """A work repo that pushes to a bare repo (``bare``), like a developer and a git server."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "origin.git"
        self.work = root / "work"
        root.mkdir(parents=True)
        git(root, "init", "-q", "--bare", "-b", "main", str(self.bare))
        git(root, "init", "-q", "-b", "main", str(self.work))
        for key, value in (("user.name", "Test"), ("user.email", "test@example.invalid"), ("commit.gpgsign", "false")):
            git(self.work, "config", key, value)
        git(self.work, "remote", "add", "origin", str(self.bare))

    def commit(self, files: Dict[str, Optional[str]], message: str = "change", amend: bool = False) -> str:
        write_files(self.work, files)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "--allow-empty", "-m", message, *(["--amend"] if amend else []))
        return self.sha()

    def push(self, force: bool = False) -> str:
        """``git push`` (its output includes the hook's ``remote:`` lines)."""
        return git(self.work, "push", *(["--force"] if force else []), "origin", "main")

    def sha(self) -> str:
        return git(self.work, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    made = Repo(tmp_path / "repo")
    made.commit(dict(plan_files()), "v1")
    made.push()
    return made


class Recorder:
    """Collects the loop's reports; tests wait for the one they expect."""

    def __init__(self) -> None:
        self.reports: List[RunReport] = []
        self.pending_after: List[int] = []  # triggers still queued when each run ended
        self._cond = threading.Condition()
        self._seen = 0  # reports the test has consumed through next()
        self.loop: Optional[Loop] = None

    def __call__(self, report: RunReport) -> None:
        with self._cond:
            self.reports.append(report)
            self.pending_after.append(len(self.loop.queue.pending()) if self.loop else 0)
            self._cond.notify_all()

    def wait(self, predicate: Callable[[RunReport], bool], what: str, timeout: float = WAIT) -> RunReport:
        """The first report not yet consumed that satisfies ``predicate``; it and the
        reports before it are consumed."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for index in range(self._seen, len(self.reports)):
                    if predicate(self.reports[index]):
                        self._seen = index + 1
                        return self.reports[index]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out waiting for {what}; runs: {self.reports}")
                self._cond.wait(remaining)

    def next(self, what: str = "the next run", timeout: float = WAIT) -> RunReport:
        return self.wait(lambda report: True, what, timeout)

    def count(self) -> int:
        with self._cond:
            return len(self.reports)


class Harness:
    """A loop on its own thread; ``start()`` returns once the first run has been reported."""

    def __init__(self, source: PollableSource, platform: Callable[[object], Platform],
                 settings: LoopSettings, timebase: Timebase) -> None:
        self.recorder = Recorder()
        clock = timebase.now
        self.runner = Runner(source, platform, Options(parallel=4), clock=clock)
        self.loop = Loop(self.runner, settings, timebase, on_run=self.recorder)
        self.recorder.loop = self.loop
        self.time = timebase
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-loop", daemon=True)

    def start(self, wait: bool = True) -> Optional[RunReport]:
        self._thread.start()
        return self.recorder.next("the start run") if wait else None

    def stop(self) -> None:
        self.loop.stop()
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "the loop did not stop"

    def advance(self, seconds: float) -> None:
        assert isinstance(self.time, ManualTime)
        self.time.advance(seconds)


@pytest.fixture
def harnesses() -> Iterator[List[Harness]]:
    made: List[Harness] = []
    yield made
    for harness in made:
        harness.stop()


MakeHarness = Callable[..., Harness]
MakeWatched = Callable[..., Tuple[Harness, Watchers]]


@pytest.fixture
def make_watched(make_harness: MakeHarness) -> MakeWatched:
    """make_watched(source, platform, poll_interval=None) -> (harness on real time, watchers
    wired to its source's file or hook triggers; start them with ``with``)."""

    def make(source: PollableSource, platform: Platform, poll_interval: Optional[float] = None
             ) -> Tuple[Harness, Watchers]:
        harness = make_harness(source, lambda plan: platform,
                               LoopSettings(poll_interval=poll_interval, resync_interval=None), SystemTime())
        watchers = Watchers()
        attach(harness.loop, watchers, source)
        return harness, watchers

    return make


@pytest.fixture
def make_harness(harnesses: List[Harness]) -> MakeHarness:
    def make(source: PollableSource, platform: Callable[[object], Platform],
             settings: LoopSettings = LoopSettings(poll_interval=None, resync_interval=60.0),
             timebase: Optional[Timebase] = None) -> Harness:
        harness = Harness(source, platform, settings, timebase or ManualTime())
        harnesses.append(harness)
        return harness

    return make
