"""Loading one revision of a source: the one way every command and the watch loop read a plan.

:func:`load_revision` takes a snapshot of the source, validates the plan in it and makes the
platform the plan targets. It answers :class:`Loaded` (a valid plan, ready to reconcile) or
:class:`Refused` (an invalid plan: nothing may be built or deployed from it); a source that
cannot be read raises :class:`~fusionizer.sources.base.SourceError`.

Three rules are decided here and nowhere else:

* **How diagnostics name the plan file** (:func:`shown_as`): a git plan by its path in the
  repository (``--plan-path``); a directory plan relative to the working directory when it
  lies below it, else by its absolute path. Never by the git cache's checkout path.
* **Which platform and namespace** (:class:`Platforms`): ``--platform``, else
  ``$FUSIONIZER_PLATFORM``, else the plan's ``spec.platform.kind``, in the plan's
  ``spec.platform.namespace``. From then on the namespace is ``platform.namespace``.
* **Where a refusal is recorded** (:func:`record_refusal`): as an ``invalid`` run in the
  history of the plan the file names (its ``metadata.name`` in its namespace, read leniently),
  else, when the file names none (not YAML, no name), of the plan last applied from this
  source (:func:`apply_revision` remembers it); else nowhere, and it is only reported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, List, Mapping, Optional, Tuple, Union

from fusionizer import filecache
from fusionizer.errors import Diagnostic, FusionizerError, PlanError
from fusionizer.plan.identity import Identity, read_identity
from fusionizer.plan.memo import check_snapshot
from fusionizer.plan.model import Plan
from fusionizer.platforms.base import Platform
from fusionizer.platforms.factory import make_platform
from fusionizer.reconciler.execute import Progress
from fusionizer.reconciler.reconcile import ApplyResult, Clock, Options, apply, no_collection, utcnow
from fusionizer.reconciler.state import PlanRef, PlanState, RunResult, SourceMemory
from fusionizer.sources.base import PollableSource, Snapshot, Source
from fusionizer.sources.directory import DirectorySource
from fusionizer.sources.gitsource import GitSource

ENV_PLATFORM = "FUSIONIZER_PLATFORM"

PlatformFor = Callable[[Plan], Platform]
MakePlatform = Callable[[str, str, Mapping[str, Any]], Platform]


@dataclass(frozen=True)
class Platforms:
    """The platform a plan targets: ``--platform`` (``override``), else ``$FUSIONIZER_PLATFORM``,
    else the plan's ``spec.platform.kind``; always in the plan's namespace."""

    override: Optional[str] = None
    make: MakePlatform = field(default=make_platform, compare=False)

    def kind(self, declared: str) -> str:
        return self.override or os.environ.get(ENV_PLATFORM) or declared

    def __call__(self, plan: Plan) -> Platform:
        return self.make(self.kind(plan.platform.kind), plan.platform.namespace, plan.platform.options)

    def claimed_by(self, identity: Identity) -> Platform:
        """The platform an invalid plan file names: where its last good functions still run."""
        return self.make(self.kind(identity.kind), identity.namespace, identity.options)


@dataclass(frozen=True)
class Loaded:
    """A validated revision: its snapshot, its plan and the platform the plan targets."""

    snapshot: Snapshot
    plan: Plan
    platform: Platform
    source_key: str  # which source it came from, for "the plan last applied from this source"

    @property
    def ref(self) -> PlanRef:
        return PlanRef(self.platform.kind, self.platform.namespace, self.plan.name)

    @property
    def diagnostics(self) -> Tuple[Diagnostic, ...]:
        return self.plan.warnings


@dataclass(frozen=True)
class Refused:
    """An invalid revision: nothing is built or deployed from it; the last good state keeps serving."""

    snapshot: Snapshot
    diagnostics: Tuple[Diagnostic, ...]  # every finding, warnings included
    identity: Optional[Identity]  # who the plan file says it is, read leniently
    owner: Optional[PlanRef]  # whose history records the refusal (see the module docstring)

    @property
    def error(self) -> PlanError:
        return PlanError(self.diagnostics)

    @property
    def errors(self) -> List[str]:
        return [d.render() for d in self.diagnostics if d.severity == "error"]


Revision = Union[Loaded, Refused]


def load_revision(source: Source, platforms: PlatformFor, strict: bool = False) -> Revision:
    """Snapshot ``source``, validate its plan and make its platform; writes nothing but the
    file cache (:mod:`fusionizer.filecache`).

    Raises :class:`~fusionizer.sources.base.SourceError` when the source cannot be read.
    """
    with no_collection():
        snapshot = source.snapshot()
        shown = shown_as(snapshot)
        plan, diagnostics = check_snapshot(snapshot.plan_file, snapshot.revision, snapshot.listing,
                                           lambda: _still(source, snapshot), strict=strict,
                                           shown_as=shown, tree=snapshot.root)
        filecache.save()  # what the snapshot and the checks learnt about the files, for the next run
    key = source_key(source)
    if plan is not None:
        try:
            return Loaded(snapshot, plan, platforms(plan), key)
        except FusionizerError as e:  # platform settings the plan's schema could not judge
            diagnostics = [Diagnostic(str(e), str(shown), path="spec.platform")]
    identity = read_identity(snapshot.plan_file)
    owner = _claimed(identity, platforms) if identity else SourceMemory(key).last_applied()
    return Refused(snapshot, tuple(diagnostics), identity, owner)


def _still(source: Source, snapshot: Snapshot) -> bool:
    """Would a snapshot taken now record the same revision?"""
    return isinstance(source, PollableSource) and source.resolve() == snapshot.revision


def record_refusal(refused: Refused, clock: Clock = utcnow) -> Optional[PlanRef]:
    """Record the refusal in its owner's history (once: a repeat of the latest record is
    not written again); returns the owner, None when there is none to record it in."""
    if refused.owner is not None:
        PlanState(refused.owner).record_once({
            "at": _stamp(clock()), "revision": refused.snapshot.revision, "result": RunResult.INVALID,
            "errors": refused.errors,
        })
    return refused.owner


def apply_revision(
    loaded: Loaded, options: Options = Options(), clock: Clock = utcnow, progress: Optional[Progress] = None
) -> ApplyResult:
    """Apply a loaded revision (:func:`~fusionizer.reconciler.reconcile.apply`) and remember
    its plan as the one last applied from its source."""
    result = apply(loaded.plan, loaded.platform, loaded.snapshot.revision, options, clock, progress)
    if not options.dry_run:
        SourceMemory(loaded.source_key).remember(loaded.ref)
    return result


def _claimed(identity: Identity, platforms: PlatformFor) -> PlanRef:
    """The plan an invalid file names, on the platform it would go to (a bare function
    choosing platforms, as tests pass, has no override: the file's own kind counts)."""
    kind = platforms.kind(identity.kind) if isinstance(platforms, Platforms) else identity.kind
    return PlanRef(kind, identity.namespace, identity.name)


def shown_as(snapshot: Snapshot) -> Path:
    """How diagnostics name the plan file (see the module docstring)."""
    if snapshot.is_git:
        return snapshot.plan_file.relative_to(snapshot.root)
    try:
        return snapshot.plan_file.relative_to(Path.cwd())
    except (ValueError, OSError):  # outside the working directory, or it was deleted
        return snapshot.plan_file


def source_key(source: Source) -> str:
    """The same source whatever revision or ref is read from it: a git repository and the
    plan's path in it (the hook applies pushed shas, ``watch`` a branch), or the plan file."""
    if isinstance(source, GitSource):
        return f"git {source.fetch_url} {source.plan_path}"
    if isinstance(source, DirectorySource):
        return f"dir {source.plan_file}"
    return source.describe()


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
