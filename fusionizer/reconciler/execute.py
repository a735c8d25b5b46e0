"""Carrying out a diff: creates and updates in parallel (each blocks until ready), then
deletes, create-before-delete.

A delete is held back while the function still serves a task whose new function failed to
deploy, so a task is never left without a ready function; independent changes still go
through.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Set, Tuple, Union

from fusionizer.build import fuser
from fusionizer.enums import StrEnum
from fusionizer.errors import FusionizerError
from fusionizer.paths import builds_dir, private_dir
from fusionizer.plan.model import Plan
from fusionizer.platforms.base import FunctionSource, Platform
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
    outcomes.extend(_deploy_all(deploys, plan, platform, revision, applied_at, max(1, parallel), progress, kept))
    unserved = {t for o in outcomes if o.status == ChangeStatus.FAILED for t in o.change.tasks}
    for change in (c for c in changes if c.action == DELETE and prune):
        progress.started(change)
        outcome = _delete(change, platform, unserved)
        if kept is not None and outcome.status == ChangeStatus.DONE:
            kept.forget_quietly(change.function)
        progress.finished(outcome)
        outcomes.append(outcome)
    return outcomes


def _deploy_all(deploys: Sequence[Change], plan: Plan, platform: Platform, revision: str, applied_at: str,
                workers: int, progress: Progress, kept: Optional[DeployedBuilds]) -> List[Outcome]:
    """Build dirs are written by this thread, one after another, while ``workers`` threads
    deploy those written before: writing a build is work for the interpreter, which threads
    would only take turns at (four writers take twice as long as one); a deploy is mostly
    waiting, which they overlap."""
    root = builds_dir(plan.name)
    private_dir(root)  # build dirs hold env values: the root is made, or tightened, once per apply
    old = fuser.OldBuilds(root)  # under the plan's lock: no other apply makes any meanwhile
    # At most one build waits per worker: none waits for the next build, and a platform that
    # refuses every deploy stops the building soon after.
    ahead = threading.BoundedSemaphore(2 * workers)
    crashed = threading.Event()

    def deploy(built: Union[_Built, Outcome]) -> Outcome:  # a failed build comes as its outcome
        try:
            progress.started(built.change)
            outcome = _deploy(built, platform, old, kept) if isinstance(built, _Built) else built
            progress.finished(outcome)
            return outcome
        except BaseException:
            crashed.set()  # not an outcome but a bug: no more builds
            raise
        finally:
            ahead.release()

    submitted: List[Tuple[Future[Outcome], Union[_Built, Outcome]]] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deploy") as pool:
        try:
            for change in deploys:
                ahead.acquire()
                if crashed.is_set():
                    break
                built = _build(change, plan, root, revision, applied_at, kept)
                submitted.append((pool.submit(deploy, built), built))
            return [future.result() for future, _ in submitted]
        except BaseException:  # Ctrl-C or a bug: what has not started yet never does
            _cancel(submitted)
            raise


def _cancel(submitted: Sequence[Tuple[Future[Outcome], Union[_Built, Outcome]]]) -> None:
    for future, built in submitted:
        if future.cancel() and isinstance(built, _Built) and built.staged is not None:
            DeployedBuilds.discard(built.staged)


@dataclass(frozen=True)
class _Built:
    """A change's build dir, written and ready to deploy."""

    change: Change
    source: FunctionSource
    staged: Optional[Path]  # its kept build, made before the platform may take the build dir
    seconds: float  # spent building it


def _build(change: Change, plan: Plan, root: Path, revision: str, applied_at: str,
           kept: Optional[DeployedBuilds]) -> Union[_Built, Outcome]:
    assert change.build is not None
    began = time.monotonic()
    try:
        source = fuser.prepare(change.build, plan, root, revision, applied_at)
    except FusionizerError as e:
        return _failed(change, str(e), began, None)
    except OSError as e:
        return _failed(change, f"cannot build {change.function}: {e}", began, None)
    staged = None
    if kept is not None:
        staged = kept.stage_quietly(change.build, source.path, plan.handlers(change.build.tasks))
    return _Built(change, source, staged, time.monotonic() - began)


def _deploy(built: _Built, platform: Platform, old: fuser.OldBuilds, kept: Optional[DeployedBuilds]) -> Outcome:
    change = built.change
    assert change.build is not None
    began = time.monotonic() - built.seconds
    try:
        platform.deploy(built.source)
    except FusionizerError as e:
        return _failed(change, str(e), began, built.staged)
    except OSError as e:
        return _failed(change, f"cannot deploy {change.function}: {e}", began, built.staged)
    if kept is not None:
        kept.commit_quietly(change.function, built.staged)
    old.prune(change.function, keep=change.build.dir_name)
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
