"""One reconcile: resolve the setup at time t, build the desired functions, list the
platform ONCE, diff, and (for apply) prepare the platform, execute under the plan's lock
and record the run.

``compute`` only reads (the state dir and ``platform.list()``): ``fusionizer plan`` changes
nothing on any platform. ``apply`` starts what deploys need first (``platform.prepare()``,
e.g. the local gateway). Both ``fusionizer plan``/``apply`` and the watch loop go through here.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from fusionizer import filecache
from fusionizer.build.memo import described
from fusionizer.build.calls import cross_function_calls
from fusionizer.plan.model import Group, Plan
from fusionizer.plan.schedule import Setup, complete_groups, resolve_setup
from fusionizer.platforms.base import FunctionRecord, Platform
from fusionizer.reconciler.deployed import DeployedBuilds
from fusionizer.reconciler.diff import Change, ForeignFunctions, diff, foreign, summarize
from fusionizer.reconciler.execute import ChangeStatus, Outcome, Progress, execute
from fusionizer.reconciler.lock import PlanLock
from fusionizer.reconciler.state import PlanState, RunRecord, RunResult

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Options:
    parallel: int = 4
    prune: bool = True
    dry_run: bool = False
    at: Optional[datetime] = None  # evaluate the schedule at this instant instead of now
    lock_timeout: float = 0.0
    # A setup decided live (serve --auto-optimize) instead of the plan's groups and schedule.
    groups: Optional[Tuple[Group, ...]] = None
    adopt: bool = False  # take over functions of the plan's names that it does not own


@dataclass(frozen=True)
class PlanResult:
    plan: Plan
    setup: Setup
    anchor: datetime
    anchor_is_new: bool  # no apply of this schedule yet: the anchor is "now"
    changes: List[Change]
    warnings: Tuple[str, ...] = ()  # about the setup, e.g. calls that need a missing server

    @property
    def summary(self) -> Dict[str, int]:
        return summarize(self.changes)

    @property
    def has_changes(self) -> bool:
        return any(c.action != "noop" for c in self.changes)

    @property
    def desired(self) -> str:
        """A digest of the functions the plan wants (names and spec hashes): revisions with
        the same digest deploy exactly the same functions."""
        builds = sorted((c.function, c.build.spec_hash) for c in self.changes if c.build is not None)
        return hashlib.sha256(json.dumps(builds).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ApplyResult:
    planned: PlanResult
    outcomes: List[Outcome]
    revision: str
    seconds: float

    @property
    def ok(self) -> bool:
        return all(o.status != ChangeStatus.FAILED for o in self.outcomes)

    @property
    def failures(self) -> List[Outcome]:
        return [o for o in self.outcomes if o.status == ChangeStatus.FAILED]


def owned(records: List[FunctionRecord], plan: str) -> Dict[str, FunctionRecord]:
    """This plan's functions: only those carry both fusionizer labels with its name."""
    return {r.name: r for r in records if r.plan() == plan}


@contextlib.contextmanager
def no_collection() -> Iterator[None]:
    """Hold the garbage collector's passes while a reconcile builds its many long-lived
    objects (tens of thousands for a large plan): each full pass would walk them all again,
    for nothing, as they form no cycles. Garbage is collected after, as usual."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def compute(
    plan: Plan, platform: Platform, clock: Clock = utcnow, at: Optional[datetime] = None,
    groups: Optional[Tuple[Group, ...]] = None, adopt: bool = False,
) -> PlanResult:
    """The diff at ``at`` (default: now), of ``groups`` when a setup was decided live. Raises
    :class:`ForeignFunctions` when a function the plan wants is held by one it does not own,
    unless ``adopt``."""
    with no_collection():
        now = clock()
        stored = PlanState.of(platform, plan.name).anchor(plan)
        anchor = stored or now
        setup = resolve_setup(plan, anchor, at or now) if groups is None else Setup(complete_groups(groups, plan.tasks))
        desired = {build.function: build for build in described(plan, setup.groups)}
        filecache.save()  # what the describe learnt about the files, for the next run
        records = platform.list()
        held = foreign(desired, records, plan.name)
        if held and not adopt:
            raise ForeignFunctions(plan.name, held)
        warnings = _warnings(plan, setup, platform)
        changes = diff(desired, owned(records, plan.name), platform.server_url(), held)
        return PlanResult(plan, setup, anchor, stored is None, changes, warnings)


def _warnings(plan: Plan, setup: Setup, platform: Platform) -> Tuple[str, ...]:
    if platform.routes_calls():
        return ()
    return tuple(
        f"{call.describe()} in another function, but no Fusionizer server is set "
        f"(spec.platform.serverUrl): that call will be answered 503; set serverUrl or fuse them"
        for call in cross_function_calls(plan, setup.groups)
    )


def apply(
    plan: Plan,
    platform: Platform,
    revision: str,
    options: Options = Options(),
    clock: Clock = utcnow,
    progress: Optional[Progress] = None,
) -> ApplyResult:
    state = PlanState.of(platform, plan.name)
    with PlanLock(state.lock_path, plan.name, options.lock_timeout):
        began = time.monotonic()
        planned = compute(plan, platform, clock, options.at, options.groups, options.adopt)
        if options.dry_run:
            return ApplyResult(planned, [], revision, time.monotonic() - began)
        if planned.anchor_is_new:
            state.set_anchor(plan, planned.anchor)
        platform.prepare()
        applied_at = clock().isoformat(timespec="seconds")
        # What each function runs now is kept as it is deployed, for the next plan to compare with.
        kept = DeployedBuilds(state.deployed_dir)
        kept.collect()
        outcomes = execute(planned.changes, plan, platform, revision, applied_at, options.parallel,
                           options.prune, progress, kept)
        result = ApplyResult(planned, outcomes, revision, time.monotonic() - began)
        state.record_run(_run_record(result, applied_at))
        return result


def _run_record(result: ApplyResult, applied_at: str) -> RunRecord:
    return {
        "revision": result.revision,
        "at": applied_at,
        "result": RunResult.OK if result.ok else RunResult.FAILED,
        "seconds": round(result.seconds, 3),
        "summary": summarize([o.change for o in result.outcomes if o.status != ChangeStatus.KEPT]),
        "errors": [f"{o.change.function}: {o.detail.splitlines()[0] if o.detail else ''}" for o in result.failures],
        "desired": result.planned.desired,
    }


def destroy(plan: Plan, platform: Platform, lock_timeout: float = 0.0) -> List[str]:
    """Delete every function labelled as this plan's; returns their names."""
    state = PlanState.of(platform, plan.name)
    with PlanLock(state.lock_path, plan.name, lock_timeout):
        names = sorted(owned(platform.list(), plan.name))
        kept = DeployedBuilds(state.deployed_dir)
        for name in names:
            platform.delete(name)
            kept.forget(name)
        return names
