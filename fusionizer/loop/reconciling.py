"""One run of the loop, and the failure rules that make it safe to run forever.

:class:`Runner` is called by :mod:`fusionizer.loop.looping` with a coalesced batch of
triggers and returns a :class:`RunReport` (a value; the loop logs it and arms timers from
it). A run has two steps:

1. **Source** (for ``start``/``file``/``poll``/``hook``/``webhook``/``manual``/``retry``):
   ``source.resolve()`` (cheap: ``git ls-remote`` or a directory digest); nothing more when
   the revision is the one already attempted. A new revision is loaded the one way every
   command loads one (:func:`~fusionizer.reconciler.revision.load_revision`). An invalid
   plan (or a broken task the validator catches) is REFUSED: nothing is applied, the last
   good plan keeps serving, and the refusal is recorded as ``invalid`` by the one refusal
   rule (:func:`~fusionizer.reconciler.revision.record_refusal`). An unreachable source is
   recorded once (``unreachable``, in the last good plan's history) and retried with backoff.
2. **Reconcile** the last good plan (after a new revision, or for ``start``/``resync``/
   ``schedule``/``retry``/``manual``): ``compute`` the diff at the current time, and
   ``apply`` only when something differs (drift, schedule, new code) or a new revision
   has not been recorded yet; otherwise the platform is only prepared (a dead local gateway
   comes back). A failed deploy leaves the old function serving (the reconciler's
   create-before-delete) and is retried with backoff.

Backoff counts consecutive failed runs and is reset by a success or a new revision.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import List, Mapping, Optional, Tuple

from fusionizer.errors import FusionizerError, LockedError
from fusionizer.loop.backoff import Backoff
from fusionizer.loop.triggers import FILE, HOOK, MANUAL, POLL, RESYNC, RETRY, SCHEDULE, START, WEBHOOK, Trigger
from fusionizer.plan.model import Group
from fusionizer.reconciler.diff import summarize
from fusionizer.reconciler.execute import ChangeStatus
from fusionizer.reconciler.reconcile import ApplyResult, Clock, Options, PlanResult, compute, utcnow
from fusionizer.reconciler.revision import (
    Loaded,
    PlatformFor,
    Refused,
    apply_revision,
    load_revision,
    record_refusal,
)
from fusionizer.reconciler.state import PlanState, RunResult
from fusionizer.sources.base import PollableSource, SourceError

SOURCE_KINDS = frozenset({START, FILE, POLL, HOOK, WEBHOOK, MANUAL, RETRY})
RECONCILE_KINDS = frozenset({START, RESYNC, SCHEDULE, RETRY, MANUAL})

RETRIED = frozenset({RunResult.FAILED, RunResult.UNREACHABLE, RunResult.LOCKED, RunResult.ERROR})

_VERBS = {"create": "created", "update": "updated", "delete": "deleted"}


@dataclass(frozen=True)
class RunReport:
    """What one run saw and did; the loop logs it as one line and arms its timers from it."""

    triggers: Tuple[Trigger, ...]
    result: RunResult
    revision: str = ""  # the source's revision this run saw ("" when not read)
    serving: str = ""  # the revision of the plan reconciled / kept serving ("" when none)
    done: Mapping[str, int] = field(default_factory=dict)  # changes carried out, by action
    functions: Tuple[str, ...] = ()  # the functions those changes touched
    error: str = ""  # why it failed or was refused (diagnostics, platform words)
    warnings: Tuple[str, ...] = ()  # the plan's warnings, when this run read a new valid revision
    kept: str = ""  # extra note when the source step failed but the good plan was reconciled
    retry_in: Optional[float] = None  # seconds until the retry timer fires
    next_due: Optional[datetime] = None  # next schedule boundary of the reconciled plan
    checked: bool = False  # the platform was listed (drift checked) in this run
    seconds: float = 0.0


@dataclass(frozen=True)
class _SourceStep:
    """Outcome of looking at the source: ``result`` is None when it is fine."""

    revision: str = ""
    new: bool = False
    result: Optional[RunResult] = None
    error: str = ""
    warnings: Tuple[str, ...] = ()


class Runner:
    """Holds what the loop knows between runs: the last attempted revision, the last good
    plan and the count of consecutive failures. Used by one thread at a time."""

    def __init__(
        self,
        source: PollableSource,
        platform_for: PlatformFor,
        options: Options = Options(),
        backoff: Backoff = Backoff(),
        clock: Optional[Clock] = None,
        strict: bool = False,
    ) -> None:
        self.source = source
        self._strict = strict  # warnings refuse a revision, as `--strict` does everywhere
        self._platform_for = platform_for
        # The lock is never waited for: a concurrent apply (the post-receive hook, CI) is
        # retried with backoff instead, so the loop thread stays free to stop promptly.
        self._options = replace(options, dry_run=False, at=None, lock_timeout=0.0)
        self._backoff = backoff
        self._clock = clock or utcnow
        self._attempted: Optional[str] = None  # the last revision snapshotted
        self._settled = False  # ... and loaded or refused (not cut short by a crash)
        self._good: Optional[Loaded] = None
        self._live: Optional[Tuple[str, Tuple[Group, ...]]] = None  # (revision, its live setup)
        self.failures = 0

    @property
    def good(self) -> Optional[Loaded]:
        """The last valid revision read: what is reconciled until a newer one is. Any thread
        may read it (``serve``'s HTTP side does); only runs replace it."""
        return self._good

    def use_setup(self, groups: Optional[Tuple[Group, ...]], revision: str) -> None:
        """Reconcile ``groups`` instead of the plan's own setup for as long as ``revision``
        is the good one (``serve --auto-optimize``; a new revision starts from its plan
        again); None: the plan's own. Any thread may call it; the next run applies it."""
        self._live = (revision, groups) if groups is not None else None

    def live_setup(self, revision: str) -> Optional[Tuple[Group, ...]]:
        """The live setup in force for ``revision``, if any."""
        live = self._live
        return live[1] if live is not None and live[0] == revision else None

    def run(self, triggers: Tuple[Trigger, ...]) -> RunReport:
        began = time.monotonic()
        report = self._run(triggers)
        return self._account(replace(report, seconds=time.monotonic() - began))

    def failed(self, triggers: Tuple[Trigger, ...], error: str, seconds: float) -> RunReport:
        """A run that crashed with a bug: counted as a failure, so it is retried with backoff."""
        report = RunReport(triggers, RunResult.ERROR, serving=self._serving(), error=error, seconds=seconds)
        return self._account(report)

    # -- the two steps -------------------------------------------------------------------

    def _run(self, triggers: Tuple[Trigger, ...]) -> RunReport:
        kinds = {t.kind for t in triggers}
        step = self._check_source() if kinds & SOURCE_KINDS else _SourceStep()
        reconcile = step.new or bool(kinds & RECONCILE_KINDS)
        if step.result and not (reconcile and self._good is not None):
            return RunReport(triggers, step.result, step.revision, self._serving(), error=step.error)
        if not reconcile:
            return RunReport(triggers, RunResult.UNCHANGED, step.revision, self._serving())
        if self._good is None:
            return RunReport(triggers, RunResult.IDLE, step.revision,
                             error="no valid plan yet; waiting for a new revision")
        report = replace(self._reconcile(triggers, self._good, step), warnings=step.warnings)
        if step.result:  # the source failed, but the good plan was still reconciled (self-heal)
            # A failed heal must still be retried, even when the run also refused a revision.
            result = report.result if report.result in RETRIED else step.result
            return replace(report, result=result, revision=step.revision, error=step.error,
                           kept=_kept_note(report))
        return report

    def _check_source(self) -> _SourceStep:
        try:
            revision = self.source.resolve()
        except SourceError as e:
            return self._unreachable("", str(e))
        if revision == self._attempted and self._settled:
            return _SourceStep(revision)
        self._attempt(revision)
        try:
            loaded = load_revision(self.source, self._platform_for, self._strict)
        except SourceError as e:
            return self._unreachable(revision, str(e))
        # The ref may have moved between resolve and the snapshot: the snapshot is what was read.
        self._attempt(loaded.snapshot.revision)
        if isinstance(loaded, Refused):
            step = self._refuse(loaded)
        else:
            warnings = tuple(d.render() for d in loaded.diagnostics)
            self._good, step = loaded, _SourceStep(loaded.snapshot.revision, new=True, warnings=warnings)
        self._settled = True
        return step

    def _attempt(self, revision: str) -> None:
        """A revision is settled once loaded or refused. A crash (a bug, an OSError) leaves
        it unsettled, so that the retry reads it again instead of waiting for the next
        revision; the same revision does not reset the backoff."""
        if revision != self._attempted:
            self.failures = 0
        self._attempted, self._settled = revision, False

    def _reconcile(self, triggers: Tuple[Trigger, ...], good: Loaded, step: _SourceStep) -> RunReport:
        revision = good.snapshot.revision
        base = RunReport(triggers, RunResult.IN_SYNC, step.revision or self._attempted or "", revision)
        options = replace(self._options, groups=self.live_setup(revision))
        try:
            planned = compute(good.plan, good.platform, self._clock, groups=options.groups)
            base = replace(base, next_due=planned.setup.next_due, checked=True)
            if not planned.has_changes and not (step.new and not self._recorded(good, planned)):
                good.platform.prepare()  # in sync; what the functions need around them runs too
                return base
            result = apply_revision(good, options, self._clock)
        except LockedError as e:
            return replace(base, result=RunResult.LOCKED, error=str(e))
        except FusionizerError as e:  # the platform could not be listed or refused outright
            self._record_once(good, revision, RunResult.FAILED, [_first_line(str(e))])
            return replace(base, result=RunResult.FAILED, error=str(e))
        return _applied(base, result)

    # -- refusals and failures -----------------------------------------------------------

    def _refuse(self, refused: Refused) -> _SourceStep:
        record_refusal(refused, self._clock)
        return _SourceStep(refused.snapshot.revision, result=RunResult.INVALID, error=str(refused.error))

    def _unreachable(self, revision: str, error: str) -> _SourceStep:
        self._record_once(self._good, revision, RunResult.UNREACHABLE, [error])
        return _SourceStep(revision, result=RunResult.UNREACHABLE, error=error)

    def _account(self, report: RunReport) -> RunReport:
        """Count failures; a retried result gets its backoff delay."""
        if report.result in RETRIED:
            self.failures += 1
            return replace(report, retry_in=self._backoff.delay(self.failures))
        if report.result in (RunResult.OK, RunResult.IN_SYNC):
            self.failures = 0
        return report

    # -- history -------------------------------------------------------------------------

    def _record_once(self, good: Optional[Loaded], revision: str, result: RunResult, errors: List[str]) -> None:
        """Record a run the reconciler did not record itself (an unreachable source, a
        platform that could not be listed) in the last good plan's history. A repeat of the
        latest record (same result, revision and errors: a long outage) is not recorded."""
        if good is None:
            return
        state = PlanState.of(good.platform, good.plan.name)
        at = self._clock().isoformat(timespec="seconds")
        state.record_once({"at": at, "revision": revision, "result": result, "errors": errors})

    def _recorded(self, good: Loaded, planned: PlanResult) -> bool:
        """Does the latest successful record stand for this revision already: the same one
        (e.g. the hook applied it), or one with exactly these functions (a comment in the
        plan, a file only the build ignores)? Then a new revision is not recorded again."""
        history = PlanState.of(good.platform, good.plan.name).history(1)
        if not history or history[-1]["result"] != RunResult.OK:
            return False
        return history[-1]["revision"] == good.snapshot.revision or history[-1].get("desired") == planned.desired

    def _serving(self) -> str:
        return self._good.snapshot.revision if self._good else ""


def _applied(base: RunReport, result: ApplyResult) -> RunReport:
    done = [o.change for o in result.outcomes if o.status == ChangeStatus.DONE]
    counts = {k: n for k, n in summarize(done).items() if n and k != "noop"}
    report = replace(base, result=RunResult.OK if result.ok else RunResult.FAILED, done=counts,
                     functions=tuple(sorted({c.function for c in done})),
                     next_due=result.planned.setup.next_due)
    if not result.ok:  # the whole detail: a failed deploy carries the function's log tail
        report = replace(report, error="\n".join(f"{o.change.function}: {o.detail.strip()}" for o in result.failures))
    return report


def _kept_note(report: RunReport) -> str:
    if report.result == RunResult.OK and report.done:
        return "healed: " + counted(report.done)
    if report.result in (RunResult.OK, RunResult.IN_SYNC):
        return "in sync"
    return f"{report.result}: {report.error}"


def counted(done: Mapping[str, int]) -> str:
    """``1 updated, 2 created`` ("" when nothing was done)."""
    return ", ".join(f"{n} {_VERBS.get(k, k)}" for k, n in done.items() if n)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""
