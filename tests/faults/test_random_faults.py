"""Random faults against a live deployment, reproducible with a seed: ``kill -9`` of apply at
a random step, of a function process or of the gateway at a random moment of an apply.

One deployment (testing/faultplan.py: every apply redeploys both functions and runs a build
command; every other one also moves a task, so two functions are created and two deleted)
is taken through a chain of runs. Each run applies the next version with one fault injected,
then checks:

- right after an apply was killed, every task still answers (old version or new: a killed
  apply never takes a task out of service);
- the next apply converges: it succeeds, a second plan has nothing to do, every function of
  the plan serves the new version (so no task stays unserved longer than that one deploy);
- no process started under the test's FUSIONIZER_HOME is left serving nothing, no attempt is
  left recorded, one staged copy per function, no stale ready file.

The short variants (4 runs) run in the default suite; the long ones (``-m e2e``) make 60.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from fusionizer.platforms.base import InvokeRequest
from fusionizer.platforms.local.platform import LocalPlatform
from fusionizer.platforms.local.store import read_json
from testing.example import REPO, Cli
from testing.faultplan import TASKS, FaultPlan
from tests.faults.conftest import assert_clean, crash, store


class Chain:
    """One deployment taken from version to version, a fault in every step."""

    def __init__(self, cli: Cli, plan: FaultPlan, home: Path, rng: random.Random, seed: int, tmp: Path) -> None:
        self.cli, self.plan, self.home, self.rng, self.seed, self.tmp = cli, plan, home, rng, seed, tmp
        self.version, self.shape = 1, 0
        self.steps: Dict[Tuple[int, int], int] = {}  # steps of an apply from one shape into another
        plan.write(self.version, self.shape)
        began = time.monotonic()
        cli.ok("apply")
        self.seconds = time.monotonic() - began  # how long an apply takes here
        self.converged("the first apply")

    def advance(self) -> Tuple[int, Tuple[int, int]]:
        """Write the next version, in the other shape every other time (so the transitions
        cycle through 0->1, 1->1, 1->0, 0->0); returns the version before and the transition."""
        before, shape = self.version, self.shape
        self.version += 1
        self.shape = (self.version // 2) % 2
        self.plan.write(self.version, self.shape)
        return before, (shape, self.shape)

    def count(self) -> None:
        """One apply of each transition without a fault, to count its steps."""
        while len(self.steps) < 4:
            _, transition = self.advance()
            run = crash(self.plan.file, steps=self.tmp / "steps")
            assert run.returncode == 0, run.stdout + run.stderr
            self.steps[transition] = len((self.tmp / "steps").read_text().splitlines())
            self.converged("a counted apply")

    # -- faults ------------------------------------------------------------------------

    def kill_apply(self, run: int) -> None:
        before, transition = self.advance()
        at = self.rng.randint(1, self.steps[transition])
        steps = self.tmp / "steps"
        killed = crash(self.plan.file, at=at, steps=steps)
        taken = steps.read_text().splitlines()
        where = (f"(seed {self.seed}, run {run}: apply from shape {transition[0]} to {transition[1]} killed at "
                 f"step {at}/{self.steps[transition]}: {taken[-1]})")
        assert killed.returncode == (-signal.SIGKILL if len(taken) >= at else 0), where + killed.stderr
        self.served({before, self.version}, where)
        self.recover(where)

    def kill_process(self, run: int, gateway: bool) -> None:
        self.advance()
        delay = self.rng.uniform(0, self.seconds)
        pick = self.rng.random()
        apply = subprocess.Popen([sys.executable, "-m", "fusionizer", "apply", "-f", str(self.plan.file)],
                                 cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)  # the fault's moment, drawn from the seed: no result is waited for here
        victim = self._victim(gateway, pick)
        if victim is not None:
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it ended by itself in between (an old process retired by the switch): no fault this time
        apply.communicate(timeout=120)  # it may fail (its new process was killed): the next apply heals
        what = "the gateway" if gateway else "a function process"
        self.recover(f"(seed {self.seed}, run {run}: {what}, pid {victim}, killed {delay:.3f}s into an apply)")

    def _victim(self, gateway: bool, pick: float) -> Optional[int]:
        if gateway:
            state = read_json(store(self.home) / "run" / "gateway.json")
            return int(state["pid"]) if state else None
        pids: List[int] = []
        for path in sorted((store(self.home) / "procs").glob("*.json")) + sorted((store(self.home) / "pending").glob("*.json")):
            data = read_json(path) or {}
            pid = data.get("pid") or (data.get("process") or {}).get("pid")
            pids += [int(pid)] if pid else []
        return pids[int(pick * len(pids))] if pids else None

    # -- checks ------------------------------------------------------------------------

    def recover(self, where: str) -> None:
        applied = self.cli("apply")
        assert applied.code == 0, f"{where}: the next apply failed\n{applied.out}\n{applied.err}"
        self.converged(where)

    def converged(self, where: str) -> None:
        assert self.cli("plan", "--detailed-exitcode").code == 0, f"{where}: a second plan has changes"
        functions = self.cli.functions()
        assert sorted(functions) == self.plan.functions(self.shape), where
        assert {f["state"] for f in functions.values()} == {"ready"}, where
        self.served({self.version}, where)
        assert_clean(self.home, len(functions), where)

    def served(self, versions: set[int], where: str) -> None:
        """Every task answers, through every function that reports serving it, with one of
        ``versions`` (task a's answer also names the version of the c it reached)."""
        local = LocalPlatform("nuclio")
        alternatives = "|".join(map(str, versions))
        expected = {t: re.compile(rf"{t}({alternatives})" + (rf"\+c({alternatives})" if t == "a" else ""))
                    for t in TASKS}
        seen = set()
        for record in local.list():
            for task in record.tasks() if record.serving else ():
                answer = local.invoke(record, task, InvokeRequest()).body.decode(errors="replace")
                assert expected[task].fullmatch(answer), f"{where}: {task} in {record.name} answered {answer!r}"
                seen.add(task)
        assert seen == set(TASKS), f"{where}: unserved tasks {set(TASKS) - seen}"


@pytest.fixture
def chain(capsys: pytest.CaptureFixture[str], fault_plan: FaultPlan, fusionizer_home: Path, fault_seed: int,
          tmp_path: Path, request: pytest.FixtureRequest) -> Chain:
    rng = random.Random(f"{fault_seed}/{request.node.name}")
    return Chain(Cli(capsys, fault_plan.file), fault_plan, fusionizer_home, rng, fault_seed, tmp_path)


@pytest.mark.parametrize("runs", [pytest.param(2, id="short"), pytest.param(40, id="long", marks=pytest.mark.e2e)])
def test_apply_killed_at_random_steps(chain: Chain, runs: int) -> None:
    chain.count()
    for run in range(runs):
        chain.kill_apply(run)


@pytest.mark.parametrize("runs", [pytest.param(1, id="short"), pytest.param(10, id="long", marks=pytest.mark.e2e)])
@pytest.mark.parametrize("gateway", [False, True], ids=["function", "gateway"])
def test_a_process_killed_at_a_random_moment_of_an_apply(chain: Chain, runs: int, gateway: bool) -> None:
    for run in range(runs):
        chain.kill_process(run, gateway)
