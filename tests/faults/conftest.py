"""Fault injection: the seed every random choice comes from, the CLI run to be killed at a
step (testing/crash.py), and a clean-up that kills whatever a failing test left under its
FUSIONIZER_HOME, recorded or not.

The seed is printed (pytest shows it with a failure, ``-s`` always);
``FUSIONIZER_FAULT_SEED=N`` replays a run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator, Optional, Sequence

import pytest

from testing.example import REPO
from testing.faultplan import FaultPlan
from testing.orphans import orphans, started_under
from testing.waiting import wait_for

SEED_ENV = "FUSIONIZER_FAULT_SEED"


@pytest.fixture
def fault_seed() -> int:
    raw = os.environ.get(SEED_ENV, "")
    seed = int(raw) if raw else random.SystemRandom().randrange(2**32)
    print(f"fault seed {seed}: replay with {SEED_ENV}={seed}")
    return seed


@pytest.fixture
def fault_plan(tmp_path: Path) -> FaultPlan:
    return FaultPlan(tmp_path / "plan")


@pytest.fixture(autouse=True)
def no_leftovers(fusionizer_home: Path) -> Iterator[None]:
    """Kill what a test left running under its home: a failed test must not leak processes."""
    yield
    for pid in started_under(fusionizer_home):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def crash(plan: Path, *, at: int = 0, when: Sequence[str] = (), steps: Optional[Path] = None,
          args: Sequence[str] = (), timeout: float = 120) -> "subprocess.CompletedProcess[str]":
    """``fusionizer apply -f PLAN --parallel 1 ARGS`` in a child process killed at step ``at``
    (or at the first step whose label holds every ``when``)."""
    command = [sys.executable, "-m", "testing.crash", "--at", str(at)]
    command += [option for text in when for option in ("--when", text)]
    command += ["--steps", str(steps)] if steps else []
    command += ["--", "apply", "-f", str(plan), "--parallel", "1", *args]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(command, env=env, cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def store(home: Path) -> Path:
    return home / "local" / "nuclio"


def assert_clean(home: Path, functions: int, where: str = "") -> None:
    """No orphan process, no dead attempt, one staged copy per function, no stale ready file."""
    wait_for(lambda: not orphans(home), f"no orphan processes {where} (left: {orphans(home)})", timeout=10)
    assert list((store(home) / "pending").glob("*.json")) == [], where
    assert len(list((store(home) / "code").iterdir())) == functions, where
    assert list((store(home) / "run").glob("*.ready")) == [], where
