"""One reconcile: resolve the setup at time t, build the desired functions, list the
platform ONCE, diff, and (for apply) execute under the plan's lock and record the run.

Both ``fusionizer plan``/``apply`` and the watch loop go through here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Dict, List, Optional

from fusionizer.build import fuser
from fusionizer.build.fuser import GroupBuild
from fusionizer.plan.model import Plan
from fusionizer.plan.schedule import Setup, resolve_setup
from fusionizer.platforms.base import FunctionRecord, Platform
from fusionizer.reconciler.diff import Change, ForeignFunctions, diff, foreign, summarize
from fusionizer.reconciler.execute import FAILED, KEPT, Outcome, Progress, execute
from fusionizer.reconciler.lock import PlanLock
from fusionizer.reconciler.state import PlanState

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
    adopt: bool = False  # take over functions of the plan's names that it does not own


@dataclass(frozen=True)
class PlanResult:
    plan: Plan
    setup: Setup
    anchor: datetime
    anchor_is_new: bool  # no apply of this schedule yet: the anchor is "now"
    changes: List[Change]

    @property
    def summary(self) -> Dict[str, int]:
        return summarize(self.changes)

    @property
    def has_changes(self) -> bool:
        return any(c.action != "noop" for c in self.changes)


@dataclass(frozen=True)
class ApplyResult:
    planned: PlanResult
    outcomes: List[Outcome]
    revision: str
    seconds: float

    @property
    def ok(self) -> bool:
        return all(o.status != FAILED for o in self.outcomes)

    @property
    def failures(self) -> List[Outcome]:
        return [o for o in self.outcomes if o.status == FAILED]


def owned(records: List[FunctionRecord], plan: str) -> Dict[str, FunctionRecord]:
    """This plan's functions: only those carry both fusionizer labels with its name."""
    return {r.name: r for r in records if r.plan() == plan}


def compute(
    plan: Plan, platform: Platform, clock: Clock = utcnow, at: Optional[datetime] = None, adopt: bool = False
) -> PlanResult:
    """The diff at ``at`` (default: now). Raises :class:`ForeignFunctions` when a function
    the plan wants is held by one it does not own, unless ``adopt``."""
    now = clock()
    stored = PlanState(platform.namespace, plan.name).anchor(plan)
    anchor = stored or now
    setup = resolve_setup(plan, anchor, at or now)
    server_url = platform.server_url()
    desired: Dict[str, GroupBuild] = {}
    for group in setup.groups:
        build = fuser.describe(plan, group, server_url)
        desired[build.function] = build
    records = platform.list()
    held = foreign(desired, records, plan.name)
    if held and not adopt:
        raise ForeignFunctions(plan.name, held)
    return PlanResult(plan, setup, anchor, stored is None, diff(desired, owned(records, plan.name), held))


def apply(
    plan: Plan,
    platform: Platform,
    revision: str,
    options: Options = Options(),
    clock: Clock = utcnow,
    progress: Optional[Progress] = None,
) -> ApplyResult:
    state = PlanState(platform.namespace, plan.name)
    with PlanLock(state.lock_path, plan.name, options.lock_timeout):
        began = time.monotonic()
        planned = compute(plan, platform, clock, options.at, options.adopt)
        if options.dry_run:
            return ApplyResult(planned, [], revision, time.monotonic() - began)
        if planned.anchor_is_new:
            state.set_anchor(plan, planned.anchor)
        applied_at = clock().isoformat(timespec="seconds")
        outcomes = execute(planned.changes, plan, platform, revision, applied_at, options.parallel,
                           options.prune, progress)
        result = ApplyResult(planned, outcomes, revision, time.monotonic() - began)
        state.record_run(_run_record(result, applied_at))
        return result


def _run_record(result: ApplyResult, applied_at: str) -> Dict[str, object]:
    return {
        "revision": result.revision,
        "at": applied_at,
        "result": "ok" if result.ok else "failed",
        "seconds": round(result.seconds, 3),
        "summary": summarize([o.change for o in result.outcomes if o.status != KEPT]),
        "errors": [f"{o.change.function}: {o.detail.splitlines()[0] if o.detail else ''}" for o in result.failures],
    }


def destroy(plan: Plan, platform: Platform, lock_timeout: float = 0.0) -> List[str]:
    """Delete every function labelled as this plan's; returns their names."""
    state = PlanState(platform.namespace, plan.name)
    with PlanLock(state.lock_path, plan.name, lock_timeout):
        names = sorted(owned(platform.list(), plan.name))
        for name in names:
            platform.delete(name)
        return names
