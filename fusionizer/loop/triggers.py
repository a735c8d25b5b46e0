"""Why the loop runs: triggers, and the one queue every source of them posts into.

Anything may post, from any thread: the file watcher (debounced), the hook notification
watcher, the loop's own timers (git poll, resync, schedule boundary, retry), and later the
HTTP webhook (``Loop.trigger(kind, detail)``). The loop takes everything pending at once,
so triggers that arrive while a reconcile runs are coalesced into ONE more run.

Timers live in the queue too (named, one per name): a timer that comes due simply becomes
a pending trigger. So the loop has exactly one place to wait, and waits on a condition
(through the :class:`~fusionizer.loop.timebase.Timebase`), never in a sleep.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Dict, Iterable, List, Optional, Tuple

from fusionizer.loop.timebase import Timebase

# Trigger kinds. The source-facing ones make the loop look at the source first; the others
# reconcile the last good plan against the platform (see fusionizer.loop.reconciling).
START = "start"  # the loop began
FILE = "file"  # a file the plan builds from changed (detail: its path)
IGNORED = "ignored"  # a file the plan does not build from changed (detail: what); logged, never run
POLL = "poll"  # the git poll interval passed
HOOK = "hook"  # a post-receive hook told us about a push (detail: the sha)
WEBHOOK = "webhook"  # an HTTP webhook delivery (fusionizer serve)
MANUAL = "manual"  # someone asked explicitly (API, tests)
SCHEDULE = "schedule"  # a schedule entry of the plan takes effect now
RESYNC = "resync"  # the periodic drift check
RETRY = "retry"  # backoff after a failed run has passed


@dataclass(frozen=True)
class Trigger:
    kind: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.detail}" if self.detail else self.kind


@dataclass(frozen=True)
class _Timer:
    due: datetime
    triggers: Tuple[Trigger, ...]
    first_armed: datetime  # debounce never postpones past first_armed + max delay


@dataclass
class _State:
    pending: Dict[Trigger, None] = field(default_factory=dict)  # an ordered set
    timers: Dict[str, _Timer] = field(default_factory=dict)
    closed: bool = False


class TriggerQueue:
    """Pending triggers plus named timers; thread-safe. One consumer (the loop) calls
    :meth:`take`; any thread may post, arm timers or close."""

    def __init__(self, timebase: Timebase) -> None:
        self._timebase = timebase
        self._cond = threading.Condition()
        self._state = _State()

    def post(self, trigger: Trigger) -> None:
        with self._cond:
            self._state.pending[trigger] = None
            self._cond.notify_all()

    def set_timer(self, name: str, due: Optional[datetime], trigger: Trigger) -> None:
        """Arm (or re-arm) timer ``name`` to post ``trigger`` at ``due``; None disarms it."""
        with self._cond:
            if due is None:
                self._state.timers.pop(name, None)
            else:
                self._state.timers[name] = _Timer(due, (trigger,), due)
            self._cond.notify_all()

    def debounce(self, name: str, trigger: Trigger, delay: float, max_delay: float) -> None:
        """Post ``trigger`` once nothing was debounced under ``name`` for ``delay`` seconds,
        but no later than ``max_delay`` after the first one (a steady stream of saves must
        not starve the loop). Triggers gathered meanwhile are posted together."""
        with self._cond:
            now = self._timebase.now()
            old = self._state.timers.get(name)
            first, gathered = (old.first_armed, old.triggers) if old else (now, ())
            due = min(now + timedelta(seconds=delay), first + timedelta(seconds=max_delay))
            if trigger not in gathered:
                gathered += (trigger,)
            self._state.timers[name] = _Timer(due, gathered, first)
            self._cond.notify_all()

    def close(self) -> None:
        """Make :meth:`take` return an empty batch; later posts are dropped."""
        with self._cond:
            self._state.closed = True
            self._cond.notify_all()

    def take(self) -> Tuple[Trigger, ...]:
        """Block until something is pending, then return ALL of it (coalesced) and clear it.
        Returns ``()`` once the queue is closed."""
        with self._cond:
            while True:
                if self._state.closed:
                    return ()
                self._fire_due(self._timebase.now())
                if self._state.pending:
                    batch = tuple(self._state.pending)
                    self._state.pending.clear()
                    return batch
                self._timebase.wait(self._cond, self._next_due())

    def timers(self) -> Dict[str, datetime]:
        """When each armed timer is due (a copy, for status output and tests)."""
        with self._cond:
            return {name: timer.due for name, timer in self._state.timers.items()}

    def pending(self) -> Tuple[Trigger, ...]:
        with self._cond:
            return tuple(self._state.pending)

    def _fire_due(self, now: datetime) -> None:
        due = [name for name, timer in self._state.timers.items() if timer.due <= now]
        for name in sorted(due, key=lambda n: self._state.timers[n].due):
            for trigger in self._state.timers.pop(name).triggers:
                self._state.pending[trigger] = None

    def _next_due(self) -> Optional[datetime]:
        return min((t.due for t in self._state.timers.values()), default=None)


def describe(triggers: Iterable[Trigger], max_details: int = 3) -> str:
    """``file (a/main.py, b/main.py +1), poll``: kinds in order of arrival, details grouped."""
    details: Dict[str, List[str]] = {}
    for trigger in triggers:
        bucket = details.setdefault(trigger.kind, [])
        if trigger.detail and trigger.detail not in bucket:
            bucket.append(trigger.detail)
    parts = []
    for kind, found in details.items():
        shown = ", ".join(found[:max_details]) + (f" +{len(found) - max_details}" if len(found) > max_details else "")
        parts.append(f"{kind} ({shown})" if shown else kind)
    return ", ".join(parts)
