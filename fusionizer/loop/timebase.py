"""The loop's sense of time: what time it is, and how to wait on a condition until then.

The loop never sleeps to synchronise: :class:`~fusionizer.loop.triggers.TriggerQueue` waits
on its condition until the earliest timer is due, and a post wakes it at once. Production
uses :class:`SystemTime`; tests and benchmarks use :class:`ManualTime`, whose ``advance()``
moves the clock and wakes every waiter, so schedules, polls and backoffs are exercised
without waiting for them.
"""

from __future__ import annotations

import threading
import weakref
from datetime import datetime, timedelta, timezone
from typing import Optional, Protocol

# A deadline far away is waited for in slices: the wall clock can jump (NTP, suspend) and
# schedule entries are wall-clock instants, so re-read it at least this often.
MAX_REAL_WAIT = 30.0


class Timebase(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...

    def wait(self, cond: threading.Condition, deadline: Optional[datetime]) -> None:
        """Wait on ``cond`` (held by the caller) until notified or ``deadline`` passes
        (None: until notified). Spurious returns are allowed: callers re-check."""
        ...


class SystemTime:
    """The real clock (UTC) and real waits."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def wait(self, cond: threading.Condition, deadline: Optional[datetime]) -> None:
        if deadline is None:
            cond.wait(MAX_REAL_WAIT)
            return
        remaining = (deadline - self.now()).total_seconds()
        if remaining > 0:
            cond.wait(min(remaining, MAX_REAL_WAIT))


class ManualTime:
    """A clock that moves only when told to: ``advance(seconds)``.

    Every condition that ever waited here is woken on each move, so a waiter whose deadline
    has come returns at once, and one whose deadline has not re-waits.
    """

    # A waiter is also woken this often (real seconds), as a safety net only.
    SAFETY_WAIT = 5.0

    def __init__(self, start: Optional[datetime] = None) -> None:
        self._now = start or datetime(2030, 1, 1, tzinfo=timezone.utc)
        self._lock = threading.Lock()
        self._conds: "weakref.WeakSet[threading.Condition]" = weakref.WeakSet()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def wait(self, cond: threading.Condition, deadline: Optional[datetime]) -> None:
        # Register before reading the time: a concurrent advance() either happened before
        # (we see its time and return) or will notify us (it needs ``cond``, which we hold
        # until cond.wait releases it), so no wake-up is lost.
        with self._lock:
            self._conds.add(cond)
            due = deadline is not None and self._now >= deadline
        if not due:
            cond.wait(self.SAFETY_WAIT)

    def advance(self, seconds: float) -> datetime:
        """Move the clock on and wake every waiter; returns the new time."""
        with self._lock:
            self._now += timedelta(seconds=seconds)
            now, conds = self._now, list(self._conds)
        for cond in conds:
            with cond:
                cond.notify_all()
        return now
