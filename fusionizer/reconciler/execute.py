"""Carrying out a diff: creates and updates in parallel (each blocks until ready), then
deletes, create-before-delete.

A delete is held back while the function still serves a task whose new function failed to
deploy, so a task is never left without a ready function; independent changes still go
through.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Set

from fusionizer.build import fuser
from fusionizer.enums import StrEnum
from fusionizer.errors import FusionizerError
from fusionizer.paths import builds_dir
from fusionizer.plan.model import Plan
from fusionizer.platforms.base import Platform
from fusionizer.reconciler.deployed import DeployedBuilds
from fusionizer.reconciler.diff import CREATE, DELETE, NOOP, UPDATE, Change


class ChangeStatus(StrEnum):
    """What became of one change of a diff."""

    DONE = "done"
    FAILED = "failed"  # the deploy or delete failed; what it was to replace keeps serving
    KEPT = "kept"  # a delete held back: the function still serves a task whose new function failed
    UNCHANGED = "unchanged"  # a no-op


@dataclass(frozen=True)
class Outcome:
    change: Change
    status: ChangeStatus
    detail: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {**self.change.to_json(), "status": self.status, "detail": self.detail, "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class Progress:
    """Callbacks the CLI uses to show progress; both may be called from worker threads."""

    started: Callable[[Change], None] = lambda change: None
    finished: Callable[[Outcome], None] = lambda outcome: None


def execute(
    changes: Sequence[Change],
    plan: Plan,
    platform: Platform,
    revision: str,
    applied_at: str,
    parallel: int,
    prune: bool = True,
    progress: Optional[Progress] = None,
    kept: Optional[DeployedBuilds] = None,
) -> List[Outcome]:
    """Carry out ``changes``; with ``kept``, each function deployed is remembered there by
    the worker that deployed it, alongside the other deploys, and each one deleted forgotten."""
    progress = progress or Progress()
    deploys = [c for c in changes if c.action in (CREATE, UPDATE)]
    outcomes = [Outcome(c, ChangeStatus.UNCHANGED) for c in changes if c.action == NOOP]

    def run(change: Change) -> Outcome:
        progress.started(change)
        outcome = _deploy(change, plan, platform, revision, applied_at, kept)
        progress.finished(outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="deploy") as pool:
        outcomes.extend(pool.map(run, deploys))
    unserved = {t for o in outcomes if o.status == ChangeStatus.FAILED for t in o.change.tasks}
    for change in (c for c in changes if c.action == DELETE and prune):
        progress.started(change)
        outcome = _delete(change, platform, unserved)
        if kept is not None and outcome.status == ChangeStatus.DONE:
            kept.forget_quietly(change.function)
        progress.finished(outcome)
        outcomes.append(outcome)
    return outcomes


def _deploy(change: Change, plan: Plan, platform: Platform, revision: str, applied_at: str,
            kept: Optional[DeployedBuilds]) -> Outcome:
    assert change.build is not None
    began = time.monotonic()
    root = builds_dir(plan.name)
    staged: Optional[Path] = None  # the kept build, made before the platform may take the build dir
    try:
        source = fuser.prepare(change.build, plan, root, revision, applied_at)
        staged = kept.stage_quietly(change.build, source.path) if kept is not None else None
        platform.deploy(source)
    except FusionizerError as e:
        return _failed(change, str(e), began, staged)
    except OSError as e:
        return _failed(change, f"cannot build {change.function}: {e}", began, staged)
    if kept is not None:
        kept.commit_quietly(change.function, staged)
    fuser.prune(root, change.function, keep=[change.build.dir_name])
    return Outcome(change, ChangeStatus.DONE, "", time.monotonic() - began)


def _failed(change: Change, detail: str, began: float, staged: Optional[Path]) -> Outcome:
    if staged is not None:
        DeployedBuilds.discard(staged)
    return Outcome(change, ChangeStatus.FAILED, detail, time.monotonic() - began)


def _delete(change: Change, platform: Platform, unserved: Set[str]) -> Outcome:
    still_needed = sorted(set(change.tasks) & unserved)
    if still_needed:
        detail = f"kept: it still serves {', '.join(still_needed)}, whose new function failed to deploy"
        return Outcome(change, ChangeStatus.KEPT, detail)
    began = time.monotonic()
    try:
        platform.delete(change.function)
    except FusionizerError as e:
        return Outcome(change, ChangeStatus.FAILED, str(e), time.monotonic() - began)
    return Outcome(change, ChangeStatus.DONE, "", time.monotonic() - began)
