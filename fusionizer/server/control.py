"""The server's reconcile loop, and what the HTTP side asks of it.

The loop is ``watch``'s (:class:`fusionizer.loop.looping.Loop` on its own thread, the
source's file or hook watchers attached). The HTTP side may ask for a run and wait for its
report (:meth:`Controller.reconcile`: an upload answers once its revision serves), poke
the loop without waiting (webhooks, coalesced), and read what the last runs saw. After
every run the routing table is rebuilt from ``platform.list()``, so the gateway routes to
whatever serves each task now.
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading
from dataclasses import dataclass
from typing import Callable, Deque, Dict, List, Optional, Tuple

from fusionizer.gateway.routes import RoutingTable
from fusionizer.loop import running
from fusionizer.loop.looping import Loop, LoopSettings
from fusionizer.loop.reconciling import Runner, RunReport
from fusionizer.loop.triggers import MANUAL, WEBHOOK, Trigger
from fusionizer.loop.watching import Watchers
from fusionizer.platforms.base import FunctionRecord, Platform
from fusionizer.platforms.routes import Address, route_entries
from fusionizer.reconciler.reconcile import owned
from fusionizer.sources.base import PollableSource

LOG = logging.getLogger("fusionizer.serve")
# How the gateway reaches a platform's functions: (address of a record, through another gateway?)
AddressFor = Callable[[Platform], Tuple[Address, bool]]
_RUNS_KEPT = 20
_WEBHOOK_DEBOUNCE = 0.5  # seconds of quiet that end a burst of deliveries
_WEBHOOK_DEBOUNCE_MAX = 3.0


@dataclass
class _Waiter:
    done: threading.Event
    report: Optional[RunReport] = None


class Controller:
    def __init__(
        self,
        runner: Runner,
        settings: LoopSettings,
        table: RoutingTable,
        address_for: AddressFor,
        on_run: Optional[Callable[[RunReport], None]] = None,
    ) -> None:
        self.runner = runner
        self.table = table
        self._address_for = address_for
        self._on_run = on_run
        self.loop = Loop(runner, settings, on_run=self._ran, log=logging.getLogger("fusionizer.loop"))
        self._watchers = Watchers()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self._waiters: Dict[Trigger, _Waiter] = {}
        self._ids = itertools.count(1)
        self.runs: Deque[RunReport] = collections.deque(maxlen=_RUNS_KEPT)
        self.first_run = threading.Event()  # set once the loop's first run has ended
        self.records: Tuple[FunctionRecord, ...] = ()

    @property
    def source(self) -> PollableSource:
        return self.runner.source

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> str:
        """Start the loop thread and the source's watchers; returns what is watched."""
        watched = running.attach(self.loop, self._watchers, self.source)
        self._watchers.start()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fusionizer-loop", daemon=True)
        self._thread.start()
        return watched

    def stop(self, timeout: Optional[float] = None) -> None:
        """Stop after the run in progress (waited for up to ``timeout`` seconds)."""
        self.loop.stop()
        self._watchers.stop()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- asking the loop -----------------------------------------------------------------------

    def reconcile(self, reason: str, timeout: float) -> Optional[RunReport]:
        """Run the loop now and wait for the report of the run that saw this request (None
        if it did not end within ``timeout`` seconds). Blocking: call it off the event loop."""
        trigger = Trigger(MANUAL, f"{reason} #{next(self._ids)}")
        waiter = _Waiter(threading.Event())
        with self._lock:
            self._waiters[trigger] = waiter
        self.loop.trigger(trigger.kind, trigger.detail)
        waiter.done.wait(timeout)
        with self._lock:
            self._waiters.pop(trigger, None)
        return waiter.report

    def poke(self, detail: str) -> None:
        """A webhook delivery: one run for a burst of them."""
        self.loop.queue.debounce(WEBHOOK, Trigger(WEBHOOK, detail), _WEBHOOK_DEBOUNCE, _WEBHOOK_DEBOUNCE_MAX)

    # -- reading ------------------------------------------------------------------------------

    def plan_records(self) -> List[FunctionRecord]:
        good = self.runner.good
        if good is None:
            return []
        return list(owned(list(self.records), good.plan.name).values())

    def refresh_routes(self) -> None:
        good = self.runner.good
        if good is None:
            return
        try:
            records = tuple(good.platform.list())
        except Exception as exc:  # noqa: BLE001 - the table keeps its last good state
            LOG.warning(f"cannot list functions for the routing table: {exc}")
            return
        self.records = records
        address, via_gateway = self._address_for(good.platform)
        self.table.replace(route_entries(records, address, via_gateway))

    def _ran(self, report: RunReport) -> None:
        self.runs.append(report)
        self.refresh_routes()
        self.first_run.set()
        if self._on_run is not None:
            self._on_run(report)
        with self._lock:
            for trigger in report.triggers:
                waiter = self._waiters.get(trigger)
                if waiter is not None:
                    waiter.report = report
                    waiter.done.set()
