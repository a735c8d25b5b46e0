"""GitOps end to end on the embedded local platform: real git pushes to a bare repo with
the post-receive hook, real watchdog events, real function processes on 127.0.0.1.
Marked ``e2e``: run with ``python -m pytest -q -m e2e``.

Every function process is stopped by tests/conftest.py's autouse fixture (per-test
FUSIONIZER_HOME); the loops started here are stopped by the harness fixture.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import List

import pytest

from fusionizer.loop import posthook
from fusionizer.loop.triggers import FILE, HOOK, RESYNC
from fusionizer.platforms.local.platform import LocalPlatform
from fusionizer.platforms.local.processes import ProcessRef, alive
from fusionizer.reconciler.state import PlanState, RunResult
from fusionizer.sources import DirectorySource, GitSource
from tests.loop.conftest import (
    PLAN_NAME,
    WAIT,
    MakeHarness,
    MakeWatched,
    Repo,
    handler_source,
    kinds,
    serving,
    wait_until,
    write_files,
)

pytestmark = pytest.mark.e2e

BROKEN_HANDLER = "import no_such_module_for_fusionizer_tests\n\n\ndef handler(context, event):\n    return 'never'\n"
TWO_GROUPS_FOR_BETA = "- [alpha, beta]\n      - [beta, gamma]"


@pytest.fixture
def hooked(repo: Repo) -> Repo:
    posthook.install(str(repo.bare), home=os.environ["FUSIONIZER_HOME"])
    return repo


def test_a_push_reconciles_bad_commits_are_refused_and_force_pushes_are_followed(hooked: Repo) -> None:
    platform = LocalPlatform()
    hooked.commit({f"tasks/{t}/main.py": handler_source(t, "v2") for t in ("alpha", "gamma")}, "v2")
    out = hooked.push()
    assert f"remote: fusionizer: applied {hooked.sha()[:12]}" in out, out
    assert serving(platform, "alpha") == "alpha v2" and serving(platform, "gamma") == "gamma v2"

    plan = (hooked.work / "fusionizer.yaml").read_text()
    hooked.commit({"fusionizer.yaml": plan.replace("- [alpha, beta]", TWO_GROUPS_FOR_BETA),
                   "tasks/alpha/main.py": handler_source("alpha", "v3")}, "invalid plan")
    out = hooked.push()
    assert re.search(r"remote: .*fusionizer\.yaml:\d+:\d+: error: .*'beta'", out), out
    assert "the previous functions keep serving" in out, out
    assert serving(platform, "alpha") == "alpha v2"

    hooked.commit({"fusionizer.yaml": plan, "tasks/gamma/main.py": BROKEN_HANDLER}, "broken handler")
    out = hooked.push()
    assert "no_such_module_for_fusionizer_tests" in out and "keep serving" in out, out
    assert serving(platform, "gamma") == "gamma v2" and serving(platform, "alpha") == "alpha v3"

    fixed = hooked.commit({"tasks/gamma/main.py": handler_source("gamma", "v4")}, "fixed")
    out = hooked.push()
    assert f"applied {fixed[:12]}" in out, out
    assert serving(platform, "gamma") == "gamma v4"

    rewritten = hooked.commit({"tasks/gamma/main.py": handler_source("gamma", "v5")}, "rewritten", amend=True)
    out = hooked.push(force=True)
    assert f"applied {rewritten[:12]}" in out, out
    assert serving(platform, "gamma") == "gamma v5"


def test_watch_git_wakes_on_the_hook_notification_and_refuses_a_bad_push(
        hooked: Repo, make_watched: MakeWatched, tmp_path: Path) -> None:
    platform = LocalPlatform()
    source = GitSource(str(hooked.bare), "main", cache_dir=tmp_path / "cache")
    # Polls every 10 minutes: only the hook's notification can make the loop react in time.
    harness, watchers = make_watched(source, platform, poll_interval=600.0)
    hooked.commit({}, "deployed by the hook")
    hooked.push()  # every deploy of this test is the hook's, none is this process's
    with watchers:
        start = harness.start()
        assert start is not None and start.result == RunResult.IN_SYNC
        good = hooked.commit({"tasks/beta/main.py": handler_source("beta", "v2")}, "v2")
        hooked.push()
        seen = harness.recorder.wait(lambda r: HOOK in kinds(r), "the hook notification")
        assert seen.revision == good and seen.result == RunResult.IN_SYNC  # the hook applied it; not applied twice
        assert serving(platform, "beta") == "beta v2"

        plan = (hooked.work / "fusionizer.yaml").read_text()
        bad = hooked.commit({"fusionizer.yaml": plan.replace("- [alpha, beta]", TWO_GROUPS_FOR_BETA)}, "bad")
        hooked.push()
        refused = harness.recorder.wait(lambda r: HOOK in kinds(r), "the notification of the bad push")
        assert refused.result == RunResult.INVALID and refused.revision == bad and refused.serving == good
        assert refused.error.startswith("fusionizer.yaml:10:"), refused.error  # not the cache checkout's path
    last = PlanState.of(platform, PLAN_NAME).history()[-1]
    assert last["result"] == RunResult.INVALID and last["revision"] == bad and last["errors"][0].startswith("fusionizer.yaml:")
    assert serving(platform, "beta") == "beta v2"


def test_watch_directory_reacts_to_a_save_and_ignores_temp_files(
        plan_dir: Path, make_watched: MakeWatched) -> None:
    platform = LocalPlatform()
    harness, watchers = make_watched(DirectorySource(plan_dir / "fusionizer.yaml"), platform)
    with watchers:
        assert harness.start() is not None
        assert serving(platform, "alpha") == "alpha v1"
        write_files(plan_dir, {"tasks/alpha/.main.py.swp": "x", "tasks/alpha/__pycache__/main.cpython-311.pyc": "x",
                               ".git/index": "x", "tasks/alpha/main.py~": "x"})
        write_files(plan_dir, {"tasks/alpha/main.py": handler_source("alpha", "v2")})
        saved = harness.recorder.wait(lambda r: FILE in kinds(r), "the file event")
    assert saved.result == RunResult.OK and saved.functions == (f"{PLAN_NAME}-alpha-beta",)
    assert saved.triggers[0].detail == "tasks/alpha/main.py" and len(saved.triggers) == 1
    assert serving(platform, "alpha") == "alpha v2"


def test_resync_heals_a_killed_process_and_a_deleted_function(plan_dir: Path, make_harness: MakeHarness) -> None:
    platform = LocalPlatform()
    harness = make_harness(DirectorySource(plan_dir / "fusionizer.yaml"), lambda plan: platform)
    assert harness.start() is not None
    gamma = f"{PLAN_NAME}-gamma"
    proc = platform.store.read("procs", gamma)
    assert proc is not None
    os.kill(proc["pid"], signal.SIGKILL)
    wait_until(lambda: not alive(ProcessRef.from_json(proc)), "the killed process to be gone")

    harness.advance(60)
    healed = harness.recorder.wait(lambda r: RESYNC in kinds(r), "the resync")
    assert healed.result == RunResult.OK and healed.done == {"update": 1} and healed.functions == (gamma,)
    assert serving(platform, "gamma") == "gamma v1"

    platform.delete(f"{PLAN_NAME}-alpha-beta")
    harness.advance(60)
    healed = harness.recorder.wait(lambda r: RESYNC in kinds(r), "the second resync")
    assert healed.result == RunResult.OK and healed.done == {"create": 1}
    assert serving(platform, "beta") == "beta v1"


@pytest.mark.parametrize("signals, code", [([signal.SIGINT], 130), ([signal.SIGTERM], 0),
                                           ([signal.SIGTERM, signal.SIGTERM], 0)])
def test_watch_stops_cleanly_on_ctrl_c_and_sigterm(plan_dir: Path, signals: List[int], code: int,
                                                   tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "fusionizer", "watch", "-f", str(plan_dir / "fusionizer.yaml"), "--resync", "0"]
    lines: List[str] = []
    started = threading.Event()
    with subprocess.Popen(argv, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True) as watch:

        def read() -> None:
            assert watch.stderr is not None
            for line in watch.stderr:
                lines.append(line)
                if "[start]" in line:
                    started.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            assert started.wait(WAIT), "".join(lines)
            for signum in signals:  # a supervisor may repeat its signal: still a clean exit
                watch.send_signal(signum)
            assert watch.wait(WAIT) == code
        finally:
            if watch.poll() is None:
                watch.kill()
            reader.join(WAIT)
    log = "".join(lines)
    assert "ok: 2 created" in log and "stopping" in log and "Traceback" not in log and "error" not in log, log
    assert "stopped" in log or len(signals) > 1, log
