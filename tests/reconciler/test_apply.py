"""apply on the in-memory platform: create-before-delete, held-back ("kept") deletes, the
parallel bound, the plan's lock, and what prepares the platform. No processes, no sleeps."""

from __future__ import annotations

import os
import threading
from typing import Any, Dict, List, Optional, Tuple

import pytest

from fusionizer.build import fuser
from fusionizer.errors import LockedError
from fusionizer.platforms.base import FunctionRecord, FunctionSource, LogSink
from fusionizer.reconciler.execute import ChangeStatus
from fusionizer.reconciler.lock import PlanLock
from fusionizer.reconciler.reconcile import ApplyResult, Options, apply, compute, destroy
from fusionizer.reconciler.state import PlanRef, PlanState
from testing.memory_platform import MemoryPlatform
from tests.reconciler.conftest import PlanDir

WAIT = 30.0
# How long a test watches for a deploy the bound must keep out: it fails at once when the
# bound is broken (the extra deploy arrives within microseconds), and costs this when it holds.
NEGATIVE_WINDOW = 0.2


def statuses(result: ApplyResult) -> Dict[str, Tuple[str, str]]:
    return {o.change.function: (o.change.action, o.status) for o in result.outcomes}


def test_every_deploy_is_ready_before_the_first_delete(plans: PlanDir, memory: MemoryPlatform) -> None:
    assert apply(plans.plan([["a", "b"]]), memory, "r1").ok
    assert set(memory.records) == {"demo-a-b", "demo-c", "demo-d", "demo-e"}
    memory.events.clear()

    result = apply(plans.plan([["b", "c"], ["d", "e"]]), memory, "r2")
    assert result.ok
    assert statuses(result) == {
        "demo-a": ("create", ChangeStatus.DONE), "demo-b-c": ("create", ChangeStatus.DONE), "demo-d-e": ("create", ChangeStatus.DONE),
        "demo-a-b": ("delete", ChangeStatus.DONE), "demo-c": ("delete", ChangeStatus.DONE), "demo-d": ("delete", ChangeStatus.DONE),
        "demo-e": ("delete", ChangeStatus.DONE)}
    order = [call for call, _ in memory.order("deployed", "delete")]
    assert order == ["deployed"] * 3 + ["delete"] * 4  # create-before-delete


def test_a_delete_is_kept_while_it_serves_a_task_whose_new_function_failed(
        plans: PlanDir, memory: MemoryPlatform) -> None:
    assert apply(plans.plan([["a", "b"], ["c", "d"]]), memory, "r1").ok
    memory.failing = frozenset({"demo-b-c"})

    result = apply(plans.plan([["b", "c"]]), memory, "r2")
    assert not result.ok
    found = statuses(result)
    assert found["demo-b-c"] == ("create", ChangeStatus.FAILED)
    assert found["demo-a"] == ("create", ChangeStatus.DONE) and found["demo-d"] == ("create", ChangeStatus.DONE)
    # Both old functions still serve b or c, whose new function failed: neither is deleted.
    assert found["demo-a-b"] == ("delete", ChangeStatus.KEPT) and found["demo-c-d"] == ("delete", ChangeStatus.KEPT)
    assert found["demo-e"] == ("noop", ChangeStatus.UNCHANGED)
    kept = next(o for o in result.outcomes if o.change.function == "demo-a-b")
    assert kept.detail == "kept: it still serves b, whose new function failed to deploy"
    assert {"demo-a-b", "demo-c-d", "demo-a", "demo-d"} <= set(memory.records)
    assert memory.calls["delete"] == 0

    last = PlanState(PlanRef("local", "nuclio", "demo")).history()[-1]
    assert last["result"] == "failed" and last["summary"]["delete"] == 0
    assert last["errors"] == ["demo-b-c: deploy of demo-b-c failed"]

    memory.failing = frozenset()  # the next apply finishes the move
    healed = apply(plans.plan([["b", "c"]]), memory, "r2")
    assert healed.ok and set(memory.records) == {"demo-a", "demo-b-c", "demo-d", "demo-e"}


def test_independent_deletes_go_through_when_another_deploy_fails(plans: PlanDir, memory: MemoryPlatform) -> None:
    assert apply(plans.plan([["a", "b"], ["d", "e"]]), memory, "r1").ok
    memory.failing = frozenset({"demo-a-c"})
    result = apply(plans.plan([["a", "c"]]), memory, "r2")
    found = statuses(result)
    assert found["demo-a-c"] == ("create", ChangeStatus.FAILED) and found["demo-a-b"] == ("delete", ChangeStatus.KEPT)
    assert found["demo-d-e"] == ("delete", ChangeStatus.DONE)  # d and e have their new functions
    assert "demo-d-e" not in memory.records and "demo-c" in memory.records


@pytest.mark.parametrize("parallel", [1, 2, 3])
def test_no_more_deploys_run_at_once_than_parallel_allows(plans: PlanDir, parallel: int) -> None:
    gate = threading.Event()
    memory = MemoryPlatform(gate=gate)
    plan = plans.plan()  # five tasks, each alone: five creates
    applied = threading.Thread(target=apply, args=(plan, memory, "r1", Options(parallel=parallel)))
    applied.start()
    try:
        assert memory.wait_in_flight(parallel, WAIT), f"{parallel} deploys never ran at once"
        assert not memory.wait_in_flight(parallel + 1, NEGATIVE_WINDOW)
    finally:
        gate.set()
        applied.join(WAIT)
    assert memory.max_in_flight == parallel and len(memory.records) == 5


def test_the_applying_thread_writes_the_builds_a_bounded_way_ahead_of_the_deploys(
        plans: PlanDir, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    memory = MemoryPlatform(gate=gate)
    plan = plans.plan()  # five creates
    builders: List[threading.Thread] = []
    two, more = threading.Event(), threading.Event()
    prepare = fuser.prepare

    def watched(*args: Any, **kwargs: Any) -> Any:
        builders.append(threading.current_thread())
        (two if len(builders) == 2 else more if len(builders) > 2 else threading.Event()).set()
        return prepare(*args, **kwargs)

    monkeypatch.setattr(fuser, "prepare", watched)
    applied = threading.Thread(target=apply, args=(plan, memory, "r1", Options(parallel=1)))
    applied.start()
    try:
        assert memory.wait_in_flight(1, WAIT)
        assert two.wait(WAIT), "the next build was not written while the first deploy ran"
        assert not more.wait(NEGATIVE_WINDOW), "more than one build waited for the one worker"
    finally:
        gate.set()
        applied.join(WAIT)
    assert builders == [applied] * 5 and len(memory.records) == 5


def test_a_build_that_fails_is_reported_and_never_deployed(
        plans: PlanDir, memory: MemoryPlatform, monkeypatch: pytest.MonkeyPatch) -> None:
    prepare = fuser.prepare

    def failing(build: fuser.GroupBuild, *args: Any, **kwargs: Any) -> Any:
        if build.function != "demo-c":
            raise OSError(28, "No space left on device")
        return prepare(build, *args, **kwargs)

    monkeypatch.setattr(fuser, "prepare", failing)
    outcome: List[ApplyResult] = []
    # Four failed builds with one worker: each must give its place ahead back, or the apply stalls.
    applied = threading.Thread(target=lambda: outcome.append(apply(plans.plan(), memory, "r1", Options(parallel=1))))
    applied.start()
    applied.join(WAIT)
    assert not applied.is_alive() and not outcome[0].ok
    found = {o.change.function: (o.status, o.detail) for o in outcome[0].outcomes}
    assert found["demo-a"] == (ChangeStatus.FAILED, "cannot build demo-a: [Errno 28] No space left on device")
    assert [f for f, (status, _) in found.items() if status == ChangeStatus.DONE] == ["demo-c"]
    assert set(memory.records) == {"demo-c"} and memory.calls["deploy"] == 1


def test_a_deploy_that_crashes_stops_the_deploys_not_yet_under_way(plans: PlanDir) -> None:
    class Crashing(MemoryPlatform):
        def deploy(self, source: FunctionSource, log: Optional[LogSink] = None) -> FunctionRecord:
            if source.name == "demo-a":
                raise RuntimeError("a bug in the platform")
            return super().deploy(source, log)

    memory = Crashing()
    with pytest.raises(RuntimeError, match="a bug in the platform"):
        apply(plans.plan(), memory, "r1", Options(parallel=1))  # five creates, demo-a first
    # The one build that waited for the worker may have been deployed; none after it.
    assert set(memory.records) <= {"demo-b"} and memory.calls["deploy"] <= 1


def test_a_second_apply_of_the_plan_is_refused_naming_the_holder(plans: PlanDir, memory: MemoryPlatform) -> None:
    plan = plans.plan()
    with PlanLock(PlanState(PlanRef("local", "nuclio", "demo")).lock_path, "demo"):
        with pytest.raises(LockedError, match=rf"another apply of plan 'demo' is running \(pid {os.getpid()} on "):
            apply(plan, memory, "r1")
        with pytest.raises(LockedError):
            destroy(plan, memory)
    assert memory.calls["list"] == 0 and memory.calls["deploy"] == 0  # refused before it looked
    assert apply(plan, memory, "r1").ok  # released: the next one goes through


def test_an_apply_holds_the_lock_until_its_deploys_are_done(plans: PlanDir) -> None:
    gate = threading.Event()
    memory = MemoryPlatform(gate=gate)
    plan = plans.plan()
    first = threading.Thread(target=apply, args=(plan, memory, "r1"))
    first.start()
    try:
        assert memory.wait_in_flight(4, WAIT)
        with pytest.raises(LockedError):
            apply(plan, memory, "r1")
        waiting = threading.Thread(target=apply, args=(plan, memory, "r1", Options(lock_timeout=WAIT)))
        waiting.start()
    finally:
        gate.set()
        first.join(WAIT)
    waiting.join(WAIT)
    assert not waiting.is_alive()
    runs = PlanState(PlanRef("local", "nuclio", "demo")).history()
    assert [r["result"] for r in runs] == ["ok", "ok"]  # the waiting apply ran after the first
    assert runs[-1]["summary"]["noop"] == 5


def test_apply_prepares_the_platform_and_plan_never_does(plans: PlanDir, memory: MemoryPlatform) -> None:
    plan = plans.plan([["a", "b"]])
    compute(plan, memory)
    apply(plan, memory, "r1", Options(dry_run=True))
    assert memory.calls["prepare"] == 0 and memory.calls["deploy"] == 0
    apply(plan, memory, "r1")
    assert memory.order("prepare", "deploy")[0] == ("prepare", "")  # before the first deploy
    assert memory.calls["prepare"] == 1


def test_the_server_url_is_not_part_of_what_is_deployed(plans: PlanDir) -> None:
    plan = plans.plan([["a", "b"]])
    here = compute(plan, MemoryPlatform(server="http://127.0.0.1:8000"))
    moved = compute(plan, MemoryPlatform(server="http://127.0.0.1:9999"))
    assert [c.build.spec_hash for c in here.changes if c.build] == [c.build.spec_hash for c in moved.changes if c.build]


def test_a_function_deployed_with_another_server_url_is_updated(plans: PlanDir) -> None:
    plan = plans.plan([["a", "b"]])
    memory = MemoryPlatform(server="http://10.0.0.5:8000")
    assert apply(plan, memory, "r1").ok
    assert not compute(plan, memory).has_changes
    memory.server = "http://10.0.0.6:8000"  # e.g. the plan's serverUrl changed
    changes = {c.function: (c.action, c.reason) for c in compute(plan, memory).changes}
    assert changes["demo-a-b"] == ("update", "server URL changed (http://10.0.0.5:8000 -> http://10.0.0.6:8000)")
    assert apply(plan, memory, "r2").ok and not compute(plan, memory).has_changes
    memory.server = None  # no server known now (a local gateway not running): no opinion
    assert not compute(plan, memory).has_changes
