"""An apply killed (SIGKILL) at the instants that matter leaves nothing behind that the next
apply does not stop or collect: the gateway between its spawn and its record, a build
command, a function process before it is recorded, a switch half done, a delete half done.

Each test kills the real CLI (testing/crash.py) at a named step, then checks with a scan of
/proc that no process started under the test's FUSIONIZER_HOME serves nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from testing.example import REPO, Cli
from testing.faultplan import FaultPlan
from testing.orphans import recorded, started_under
from testing.waiting import wait_for
from tests.faults.conftest import assert_clean, crash, store

pytestmark = pytest.mark.e2e


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], fault_plan: FaultPlan) -> Cli:
    fault_plan.write(1, 0)
    return Cli(capsys, fault_plan.file)


def test_apply_killed_between_spawning_the_gateway_and_recording_it(cli: Cli, fusionizer_home: Path) -> None:
    killed = crash(cli.plan, when=["after spawn", "fusionizer.platforms.local.gateway "])
    assert killed.returncode == -9, killed.stderr
    assert not (store(fusionizer_home) / "run" / "gateway.json").exists()
    wait_for(lambda: any("local.gateway" in cmd for cmd in started_under(fusionizer_home).values()),
             "the unrecorded gateway to run")
    cli.ok("apply")
    assert_clean(fusionizer_home, 2)
    cli.ok("destroy", "--yes")
    wait_for(lambda: not started_under(fusionizer_home), "every process to be gone after destroy", timeout=10)


def test_apply_killed_during_a_build_command_leaves_it_running_nowhere(
        cli: Cli, fault_plan: FaultPlan, fusionizer_home: Path, tmp_path: Path) -> None:
    block, started = tmp_path / "block", tmp_path / "started"
    yaml = fault_plan.root / "tasks" / "b" / "function.yaml"
    command = f"if [ -e {block} ]; then echo $$ > {started}; exec sleep 600; fi"
    yaml.write_text(yaml.read_text().replace("'echo building b v1'", f"'{command}'"))
    block.touch()
    apply = subprocess.Popen([sys.executable, "-m", "fusionizer", "apply", "-f", str(cli.plan)], cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: started.exists() and started.read_text().strip() != "", "the build command to run")
    apply.kill()
    apply.wait()
    block.unlink()
    builder = int(started.read_text())
    assert builder in started_under(fusionizer_home)
    cli.ok("apply")
    assert builder not in started_under(fusionizer_home)
    assert_clean(fusionizer_home, 2)


def test_apply_killed_before_recording_a_function_process(cli: Cli, fusionizer_home: Path) -> None:
    killed = crash(cli.plan, when=["after spawn", "fusionizer.runtime.processor"])
    assert killed.returncode == -9, killed.stderr
    # Unrecorded, it goes on to start and to write its ready file, which nobody reads.
    wait_for(lambda: any((store(fusionizer_home) / "run").glob("*.ready")), "the orphan to be ready")
    cli.ok("apply")
    assert_clean(fusionizer_home, 2)


def test_apply_killed_after_the_switch_is_finished_by_the_next(
        cli: Cli, fault_plan: FaultPlan, fusionizer_home: Path) -> None:
    cli.ok("apply")
    before = recorded(fusionizer_home)
    fault_plan.write(2, 0)
    killed = crash(cli.plan, when=["after write procs/fz-a-b.json"])
    assert killed.returncode == -9, killed.stderr
    # Killed between the new process's record and the function's: the old process still
    # serves (the function's record routes to it), and both run.
    assert cli.ok("invoke", "b").out.strip() in ("b1", "b2")
    cli.ok("apply")
    assert cli.ok("invoke", "a").out.strip() == "a2+c2"
    gateway = json.loads((store(fusionizer_home) / "run" / "gateway.json").read_text())["pid"]
    assert before & recorded(fusionizer_home) == {gateway}  # both functions run new processes
    assert_clean(fusionizer_home, 2)


def test_apply_killed_half_way_through_a_delete(cli: Cli, fault_plan: FaultPlan, fusionizer_home: Path) -> None:
    cli.ok("apply")
    fault_plan.write(1, 1)  # fz-a-b and fz-c make way for fz-a and fz-b-c
    killed = crash(cli.plan, when=["after remove functions/fz-c.json"])
    assert killed.returncode == -9, killed.stderr
    cli.ok("apply")
    assert sorted(cli.functions()) == fault_plan.functions(1)
    assert_clean(fusionizer_home, 2)
