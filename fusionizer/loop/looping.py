"""The reconcile loop: ONE thread that takes coalesced triggers, runs, logs, re-arms timers.

Every reason to reconcile arrives through :class:`~fusionizer.loop.triggers.TriggerQueue`:
file saves (debounced), git polls (jittered), hook notifications, the periodic resync,
schedule boundaries (the timer is set to ``setup.next_due`` after each reconcile, so the
loop wakes exactly then), retries after failures (capped exponential backoff), and
anything :meth:`Loop.trigger` is called with (a future webhook). Triggers that arrive
while a run is in progress are taken together as the next run.

The run itself is :class:`~fusionizer.loop.reconciling.Runner`'s; wiring to watchdog and
signals is :mod:`fusionizer.loop.running`'s.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Optional, Set, Tuple

from fusionizer.loop import reports
from fusionizer.loop.backoff import jittered
from fusionizer.loop.reconciling import Runner, RunReport
from fusionizer.loop.timebase import SystemTime, Timebase
from fusionizer.loop.triggers import (
    FILE,
    IGNORED,
    POLL,
    RESYNC,
    RETRY,
    SCHEDULE,
    START,
    Trigger,
    TriggerQueue,
    describe,
)
from fusionizer.reconciler.state import RunResult

LOG = logging.getLogger("fusionizer.loop")

OnRun = Callable[[RunReport], None]
_NAMED_LIMIT = 1000  # ignored paths remembered as already logged


@dataclass(frozen=True)
class LoopSettings:
    poll_interval: Optional[float] = 30.0
    """Seconds between ``git ls-remote`` polls; None for sources that are watched instead
    (a directory). Argo CD polls every 120 s (+60 s jitter), Flux per ``.spec.interval``."""

    poll_jitter: float = 0.1
    """Each poll interval is moved by up to this fraction either way."""

    resync_interval: Optional[float] = 60.0
    """Seconds between drift checks (a function deleted or its process dead behind our
    back is redeployed); None disables them."""

    debounce: float = 0.15
    """Seconds of quiet after a file event before reconciling: an editor's save is several
    events (write temp, rename, chmod) and a ``git checkout`` is hundreds."""

    debounce_max: float = 2.0
    """A steady stream of file events still reconciles at least this often (seconds)."""


class Loop:
    """Reconcile on every trigger until :meth:`stop`. Thread-safe entry points:
    :meth:`trigger`, :meth:`file_changed`, :meth:`stop`."""

    def __init__(
        self,
        runner: Runner,
        settings: LoopSettings = LoopSettings(),
        timebase: Optional[Timebase] = None,
        on_run: Optional[OnRun] = None,
        log: logging.Logger = LOG,
    ) -> None:
        self.runner = runner
        self.settings = settings
        self.timebase = timebase or SystemTime()
        self.queue = TriggerQueue(self.timebase)
        self._on_run = on_run
        self._log = log
        self._named: Set[str] = set()  # ignored paths already logged (each is named once)

    # -- posting (any thread) ------------------------------------------------------------

    def trigger(self, kind: str, detail: str = "") -> None:
        """Ask for a run (a webhook, a hook notification, an operator); coalesced."""
        self.queue.post(Trigger(kind, detail))

    def file_changed(self, path: str) -> None:
        """A relevant file changed: reconcile once the burst of events is over."""
        self.queue.debounce(FILE, Trigger(FILE, path), self.settings.debounce, self.settings.debounce_max)

    def file_ignored(self, path: str) -> None:
        """A file the plan does not build from changed: logged once the burst is over, no run."""
        self.queue.debounce(IGNORED, Trigger(IGNORED, path), self.settings.debounce, self.settings.debounce_max)

    def stop(self) -> None:
        """End :meth:`run_forever` after the run in progress (if any) finishes."""
        self.queue.close()

    # -- the loop (one thread) -----------------------------------------------------------

    def run_forever(self) -> None:
        self.queue.post(Trigger(START))
        while True:
            batch = self.queue.take()
            if not batch:
                return
            work = tuple(t for t in batch if t.kind != IGNORED)
            if not work:
                self._log_ignored(batch)
                continue
            report = self._run_batch(work)
            self._arm(report)
            self._emit(report)

    def _run_batch(self, batch: Tuple[Trigger, ...]) -> RunReport:
        began = time.monotonic()
        try:
            return self.runner.run(batch)
        except Exception as e:  # a bug must not end the loop: log it, retry with backoff
            detail = "".join(traceback.format_exception(type(e), e, e.__traceback__)).rstrip()
            return self.runner.failed(batch, f"{type(e).__name__}: {e}\n{detail}", time.monotonic() - began)

    def _arm(self, report: RunReport) -> None:
        now = self.timebase.now()
        if report.retry_in is not None:
            self.queue.set_timer(RETRY, now + timedelta(seconds=report.retry_in), Trigger(RETRY))
        elif report.result in (RunResult.OK, RunResult.IN_SYNC):
            self.queue.set_timer(RETRY, None, Trigger(RETRY))
        if report.checked:
            # The schedule timer follows the plan that was just reconciled; None disarms it.
            self.queue.set_timer(SCHEDULE, report.next_due, Trigger(SCHEDULE))
        self._arm_poll(report, now)
        self._arm_resync(report, now)

    def _arm_poll(self, report: RunReport, now: datetime) -> None:
        interval = self.settings.poll_interval
        if not interval:
            return
        due = self.queue.timers().get(POLL) or now + timedelta(seconds=jittered(interval, self.settings.poll_jitter))
        if report.result == RunResult.UNREACHABLE and report.retry_in is not None:
            # The retry timer covers it: polling an unreachable remote faster than the
            # backoff would defeat the backoff.
            due = max(due, now + timedelta(seconds=report.retry_in))
        self.queue.set_timer(POLL, due, Trigger(POLL))

    def _arm_resync(self, report: RunReport, now: datetime) -> None:
        interval = self.settings.resync_interval
        if not interval:
            return
        # A run that listed the platform was a drift check: the next one is due a full
        # interval later.
        if report.checked or RESYNC not in self.queue.timers():
            self.queue.set_timer(RESYNC, now + timedelta(seconds=interval), Trigger(RESYNC))

    def _log_ignored(self, batch: Tuple[Trigger, ...]) -> None:
        """One debug line per burst that touched only files the plan does not build from.
        Each path is named once: with its output redirected into the plan directory, the
        loop's own line would otherwise be the next burst, forever."""
        new = tuple(t for t in batch if t.detail not in self._named)
        if not new:
            return
        if len(self._named) > _NAMED_LIMIT:
            self._named.clear()
        self._named.update(t.detail for t in new)
        self._log.debug(f"[{describe(new)}] not part of what the plan builds from: nothing to do")

    def _emit(self, report: RunReport) -> None:
        self._log.log(reports.level(report), reports.format_report(report))
        if self._on_run is not None:
            self._on_run(report)
