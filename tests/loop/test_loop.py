"""The loop's rules against the in-memory platform (no processes): schedules switch at the
exact instant, drift is healed by the resync, triggers during a run are coalesced, bad
revisions are refused and recorded, failures back off. Time is a ManualTime: no waiting."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any, Dict, List

import pytest

from fusionizer.cli import main
from fusionizer.loop.looping import LoopSettings
from fusionizer.loop.triggers import FILE, HOOK, MANUAL, POLL, RESYNC, RETRY, SCHEDULE, START, WEBHOOK, Trigger
from fusionizer.reconciler.state import PlanState, RunResult
from fusionizer.sources import DirectorySource, GitSource
from fusionizer.sources.base import Snapshot
from testing.memory_platform import MemoryPlatform
from tests.loop.conftest import (
    PLAN_NAME,
    SCHEDULE_AFTER_40S,
    WAIT,
    MakeHarness,
    Repo,
    handler_source,
    kinds,
    plan_files,
    write_files,
)

FUSED, ALPHA, BETA, GAMMA = f"{PLAN_NAME}-alpha-beta", f"{PLAN_NAME}-alpha", f"{PLAN_NAME}-beta", f"{PLAN_NAME}-gamma"

def history(platform: MemoryPlatform) -> List[Dict[str, Any]]:
    return PlanState.of(platform, PLAN_NAME).history()


def test_start_applies_then_a_resync_heals_a_deleted_function(plan_dir: Path, make_harness: MakeHarness) -> None:
    platform = MemoryPlatform()
    harness = make_harness(DirectorySource(plan_dir / "fusionizer.yaml"), lambda plan: platform)
    first = harness.start()
    assert first is not None and first.result == RunResult.OK and kinds(first) == [START]
    assert set(platform.records) == {FUSED, GAMMA}
    resync_due = harness.loop.queue.timers()[RESYNC]
    assert resync_due == harness.time.now() + timedelta(seconds=60)

    del platform.records[GAMMA]  # behind the reconciler's back
    harness.advance(60)
    healed = harness.recorder.next("the resync")
    assert kinds(healed) == [RESYNC] and healed.result == RunResult.OK and healed.done == {"create": 1}
    assert healed.functions == (GAMMA,) and set(platform.records) == {FUSED, GAMMA}

    harness.advance(60)
    quiet = harness.recorder.next("the next resync")
    assert quiet.result == RunResult.IN_SYNC and platform.calls["deploy"] == 3


def test_the_schedule_switches_exactly_when_it_is_due(plan_dir: Path, make_harness: MakeHarness) -> None:
    write_files(plan_dir, {"fusionizer.yaml": plan_files(schedule=SCHEDULE_AFTER_40S)["fusionizer.yaml"]})
    platform = MemoryPlatform()
    harness = make_harness(DirectorySource(plan_dir / "fusionizer.yaml"), lambda plan: platform)
    start = harness.time.now()
    harness.start()
    assert set(platform.records) == {FUSED, GAMMA}
    assert harness.loop.queue.timers()[SCHEDULE] == start + timedelta(seconds=40)

    harness.advance(39.999)
    harness.loop.trigger(MANUAL, "a moment before")  # still the default setup
    before = harness.recorder.next("the manual run")
    assert kinds(before) == [MANUAL] and before.result == RunResult.IN_SYNC

    harness.advance(0.001)
    switched = harness.recorder.next("the schedule boundary")
    assert kinds(switched) == [SCHEDULE] and switched.result == RunResult.OK
    assert switched.done == {"create": 2, "delete": 1}
    assert set(platform.records) == {ALPHA, BETA, GAMMA}
    assert SCHEDULE not in harness.loop.queue.timers()  # no later entry: nothing more to wake for


def test_triggers_during_a_run_are_coalesced_into_one_more_run(plan_dir: Path, make_harness: MakeHarness) -> None:
    entered, release = threading.Event(), threading.Event()

    class Gated(DirectorySource):
        """Holds the first run inside resolve() until the test has posted its triggers."""

        def resolve(self) -> str:
            if not release.is_set():
                entered.set()
                release.wait(WAIT)
            return super().resolve()

    platform = MemoryPlatform()
    harness = make_harness(Gated(plan_dir / "fusionizer.yaml"), lambda plan: platform)
    harness.start(wait=False)
    assert entered.wait(WAIT)
    posted = [Trigger(WEBHOOK, "delivery-1"), Trigger(HOOK, "1a2b3c"), Trigger(WEBHOOK, "delivery-2"),
              Trigger(MANUAL), Trigger(WEBHOOK, "delivery-1")]
    for trigger in posted:
        harness.loop.trigger(trigger.kind, trigger.detail)
    release.set()
    harness.recorder.wait(lambda r: kinds(r) == [START], "the start run")
    second = harness.recorder.wait(lambda r: kinds(r) != [START], "the coalesced run")
    assert second.triggers == (Trigger(WEBHOOK, "delivery-1"), Trigger(HOOK, "1a2b3c"),
                               Trigger(WEBHOOK, "delivery-2"), Trigger(MANUAL))
    # Four distinct triggers waited while the first run went on; none were left after the second.
    assert harness.recorder.count() == 2 and harness.recorder.pending_after == [4, 0]


def test_an_invalid_revision_is_refused_recorded_and_the_good_plan_still_reconciled(
        plan_dir: Path, make_harness: MakeHarness, capsys: pytest.CaptureFixture[str]) -> None:
    platform = MemoryPlatform()
    harness = make_harness(DirectorySource(plan_dir / "fusionizer.yaml"), lambda plan: platform)
    good = harness.start()
    assert good is not None and good.result == RunResult.OK
    deployed = dict(platform.records)

    plan = plan_dir / "fusionizer.yaml"
    plan.write_text(plan.read_text().replace("- [alpha, beta]", "- [alpha, beta]\n      - [beta, gamma]"))
    harness.loop.trigger(FILE, "fusionizer.yaml")
    refused = harness.recorder.next("the refusal")
    assert refused.result == RunResult.INVALID and refused.serving == good.revision
    assert "beta" in refused.error and refused.retry_in is None
    assert platform.records == deployed  # nothing applied
    assert history(platform)[-1]["result"] == RunResult.INVALID
    assert history(platform)[-1]["revision"] == refused.revision
    assert "beta" in " ".join(history(platform)[-1]["errors"])

    harness.loop.trigger(FILE, "fusionizer.yaml")  # a save that changes nothing: no second record
    assert harness.recorder.next().result == RunResult.UNCHANGED and len(history(platform)) == 2

    del platform.records[GAMMA]  # drift while the source is broken: the last good plan heals it
    harness.advance(60)
    healed = harness.recorder.next("the resync")
    assert healed.result == RunResult.OK and healed.functions == (GAMMA,) and healed.serving == good.revision

    plan.write_text(plan.read_text().replace("- [alpha, beta]\n      - [beta, gamma]", "- [alpha, beta, gamma]"))
    harness.loop.trigger(FILE, "fusionizer.yaml")
    fixed = harness.recorder.next("the fixed revision")
    assert fixed.result == RunResult.OK and fixed.serving == fixed.revision != good.revision
    assert set(platform.records) == {f"{PLAN_NAME}-alpha-beta-gamma"}

    assert main(["status", "-f", str(plan), "--platform", "local"]) == 0  # status shows the refusal
    out = capsys.readouterr().out
    assert "invalid" in out and refused.revision[4:16] in out


def test_a_failed_heal_is_retried_even_when_its_run_also_refused_a_new_revision(
        plan_dir: Path, make_harness: MakeHarness) -> None:
    platform = MemoryPlatform()
    harness = make_harness(DirectorySource(plan_dir / "fusionizer.yaml"), lambda plan: platform)
    assert harness.start() is not None
    del platform.records[GAMMA]
    platform.failing = frozenset({GAMMA})  # the heal itself will fail
    plan = plan_dir / "fusionizer.yaml"
    plan.write_text(plan.read_text().replace("- [alpha, beta]", "- [alpha, beta]\n      - [beta, gamma]"))
    harness.loop.file_changed("fusionizer.yaml")
    harness.advance(60)  # the debounce and the resync fall due together: one run for both
    report = harness.recorder.next("the run with both triggers")
    assert {"file", "resync"} <= set(kinds(report))
    assert report.result == RunResult.FAILED and "beta" in report.error  # the refusal is still reported
    assert report.retry_in is not None  # ... and the failed heal is retried with backoff


def test_failed_deploys_back_off_and_a_new_revision_resets_the_backoff(
        plan_dir: Path, make_harness: MakeHarness) -> None:
    platform = MemoryPlatform(failing=frozenset({GAMMA}))
    harness = make_harness(DirectorySource(plan_dir / "fusionizer.yaml"), lambda plan: platform)
    first = harness.start()
    assert first is not None and first.result == RunResult.FAILED and first.retry_in == 1.0
    assert FUSED in platform.records and "gamma" in first.error

    delays = []
    for expected in (1.0, 2.0, 4.0):
        assert harness.loop.queue.timers()[RETRY] == harness.time.now() + timedelta(seconds=expected)
        harness.advance(expected)
        retried = harness.recorder.next("a retry")
        assert kinds(retried) == [RETRY] and retried.result == RunResult.FAILED
        delays.append(retried.retry_in)
    assert delays == [2.0, 4.0, 8.0]

    write_files(plan_dir, {"tasks/gamma/main.py": handler_source("gamma", "v2")})
    harness.loop.trigger(FILE, "tasks/gamma/main.py")
    assert harness.recorder.next("the new revision").retry_in == 1.0  # reset by the new revision

    platform.failing = frozenset()
    harness.advance(1.0)
    recovered = harness.recorder.next("the successful retry")
    assert recovered.result == RunResult.OK and recovered.functions == (GAMMA,)
    assert RETRY not in harness.loop.queue.timers()


def test_a_bug_in_a_run_is_logged_and_retried_not_fatal(plan_dir: Path, make_harness: MakeHarness) -> None:
    platform = MemoryPlatform()
    crashes = [RuntimeError("boom"), OSError("store not writable yet")]

    def platform_for(plan: object) -> MemoryPlatform:
        if crashes:
            raise crashes.pop(0)
        return platform

    harness = make_harness(DirectorySource(plan_dir / "fusionizer.yaml"), platform_for)
    first = harness.start()
    assert first is not None and first.result == RunResult.ERROR and "RuntimeError: boom" in first.error
    assert first.retry_in == 1.0
    harness.advance(1.0)  # the retry reads the revision the crash cut short again ...
    again = harness.recorder.next("the first retry")
    assert kinds(again) == [RETRY] and again.result == RunResult.ERROR and "OSError" in again.error
    assert again.retry_in == 2.0  # ... and the same revision does not reset the backoff
    harness.advance(2.0)
    recovered = harness.recorder.next("the second retry")
    assert recovered.result == RunResult.OK and set(platform.records) == {FUSED, GAMMA}
    assert RETRY not in harness.loop.queue.timers()
    harness.loop.trigger(FILE, "tasks/alpha/main.py")  # a save of the same content re-reads nothing
    assert harness.recorder.next().result == RunResult.UNCHANGED


def test_git_polls_skip_work_until_the_branch_moves_and_follow_a_force_push(
        repo: Repo, make_harness: MakeHarness, tmp_path: Path) -> None:
    platform = MemoryPlatform()
    snapshots: List[str] = []

    class Counting(GitSource):
        def snapshot(self) -> Snapshot:
            taken = super().snapshot()
            snapshots.append(taken.revision)
            return taken

    settings = LoopSettings(poll_interval=30.0, poll_jitter=0.0, resync_interval=None)
    harness = make_harness(Counting(str(repo.bare), "main", cache_dir=tmp_path / "cache"), lambda p: platform,
                           settings)
    first = harness.start()
    assert first is not None and first.result == RunResult.OK and first.revision == repo.sha()
    assert harness.loop.queue.timers()[POLL] == harness.time.now() + timedelta(seconds=30)

    harness.advance(30)
    assert harness.recorder.next("an idle poll").result == RunResult.UNCHANGED and len(snapshots) == 1

    repo.commit({"tasks/gamma/main.py": handler_source("gamma", "v2")}, "v2")
    repo.push()
    harness.advance(30)
    moved = harness.recorder.next("the poll after the push")
    assert moved.result == RunResult.OK and moved.revision == repo.sha() and moved.functions == (GAMMA,)

    rewritten = repo.commit({"tasks/gamma/main.py": handler_source("gamma", "v3")}, "v2 rewritten", amend=True)
    repo.push(force=True)
    harness.advance(30)
    forced = harness.recorder.next("the poll after the force push")
    assert forced.result == RunResult.OK and forced.revision == rewritten and forced.functions == (GAMMA,)
    assert snapshots == [first.revision, moved.revision, rewritten]


def test_an_unreachable_remote_backs_off_keeps_serving_and_recovers(
        repo: Repo, make_harness: MakeHarness, tmp_path: Path) -> None:
    platform = MemoryPlatform()
    settings = LoopSettings(poll_interval=30.0, poll_jitter=0.0, resync_interval=60.0)
    harness = make_harness(GitSource(str(repo.bare), "main", cache_dir=tmp_path / "cache"), lambda p: platform,
                           settings)
    good = harness.start()
    assert good is not None and good.result == RunResult.OK
    moved = repo.bare.with_name("moved.git")
    repo.bare.rename(moved)

    harness.advance(30)
    down = harness.recorder.next("the failed poll")
    assert kinds(down) == [POLL] and down.result == RunResult.UNREACHABLE and down.retry_in == 1.0
    assert "cannot reach" in down.error and set(platform.records) == {FUSED, GAMMA}
    assert history(platform)[-1]["result"] == RunResult.UNREACHABLE

    del platform.records[GAMMA]
    harness.advance(30)  # retries at +1, +2, +4, +8, +16 s and the resync at +60 s ...
    harness.advance(30)
    healed = harness.recorder.wait(lambda r: RESYNC in kinds(r), "the resync during the outage")
    assert healed.result == RunResult.UNREACHABLE and healed.kept.startswith("healed") and GAMMA in platform.records
    assert sum(1 for r in history(platform) if r["result"] == RunResult.UNREACHABLE) == 1  # recorded once, not per retry

    moved.rename(repo.bare)
    harness.advance(300)
    back = harness.recorder.wait(lambda r: r.result in (RunResult.IN_SYNC, RunResult.OK), "the recovery")
    assert back.retry_in is None and harness.runner.failures == 0


def test_a_file_that_names_no_plan_is_refused_where_apply_records_it_too(
        plan_dir: Path, make_harness: MakeHarness, capsys: pytest.CaptureFixture[str]) -> None:
    platform = MemoryPlatform()
    harness = make_harness(DirectorySource(plan_dir / "fusionizer.yaml"), lambda plan: platform)
    assert harness.start() is not None
    plan = plan_dir / "fusionizer.yaml"
    plan.write_text("metadata: {name: [unclosed\n")  # not YAML: the file names no plan
    harness.loop.trigger(FILE, "fusionizer.yaml")
    refused = harness.recorder.next("the refusal")
    assert refused.result == RunResult.INVALID
    # Recorded for the plan last applied from this source (the loop's) ...
    assert [r["result"] for r in history(platform)] == [RunResult.OK, RunResult.INVALID]
    assert main(["apply", "-f", str(plan)]) == 1  # ... the same refusal by apply is not recorded twice ...
    assert [r["result"] for r in history(platform)] == [RunResult.OK, RunResult.INVALID]
    plan.write_text("metadata: [still, not: a plan\n")
    assert main(["apply", "-f", str(plan)]) == 1  # ... and apply records the next one in the same place
    assert "error" in capsys.readouterr().err
    runs = history(platform)
    assert [r["result"] for r in runs] == [RunResult.OK, RunResult.INVALID, RunResult.INVALID] and runs[-1]["revision"] != refused.revision
