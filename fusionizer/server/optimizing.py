"""``serve --auto-optimize``: the plan's optimizer, every period, its proposal applied live.

As the original Fusionizer's optimizers did, on a thread of its own: every ``every``
seconds it collects the call traces of the plan's functions, asks the plan's optimizer
(``spec.optimizer``, else the feedback one) for a setup given the one in force (the live
one, else the plan's own at this instant), and when the proposal differs, hands it to the
loop's runner (:meth:`~fusionizer.loop.reconciling.Runner.use_setup`) and waits for the
reconcile that deploys it. Nothing is written anywhere: the live setup holds while the
plan's revision stays the same (a new revision starts from its plan again, and the next
period re-optimizes). Each period is kept for ``/-/status``; a broken optimizer is
reported there and in the log, and the setup in force stays. Only a directory source may
be optimized live: on git, git decides.

The optimizer is built once per revision of the plan (a custom module may change with it)
and asked again every period, so it may keep state between calls.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Deque, Dict, Optional, Tuple

from fusionizer.optimize.api import CallStats, Optimizer, OptimizerInput
from fusionizer.optimize.collect import collect
from fusionizer.optimize.loading import DEFAULT_TIMEOUT_S, OptimizerError, load_optimizer, spec_of
from fusionizer.optimize.running import Outcome, run_optimizer
from fusionizer.plan.model import Group
from fusionizer.plan.schedule import resolve_setup
from fusionizer.reconciler.reconcile import Clock, utcnow
from fusionizer.reconciler.revision import Loaded
from fusionizer.reconciler.state import PlanState
from fusionizer.server.control import LOG, Controller

_PERIODS_KEPT = 10


@dataclass(frozen=True)
class Period:
    """One period: what the optimizer was given and answered, and what became of it."""

    at: datetime
    revision: str
    calls: int
    unreachable: Tuple[str, ...]
    outcome: Outcome
    applied: str = ""  # the reconcile's result when the proposal was handed over

    def to_json(self) -> Dict[str, Any]:
        return {"at": self.at.isoformat(timespec="seconds"), "revision": self.revision, "calls": self.calls,
                "unreachable": list(self.unreachable), "applied": self.applied or None, **self.outcome.to_json()}


class AutoOptimizer:
    def __init__(self, controller: Controller, every_s: float, timeout_s: float = DEFAULT_TIMEOUT_S,
                 deploy_timeout_s: float = 900.0, clock: Clock = utcnow) -> None:
        self.controller = controller
        self.every_s = every_s
        self._timeout_s = timeout_s
        self._deploy_timeout_s = deploy_timeout_s
        self._clock = clock
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._built: Optional[Tuple[str, Optimizer]] = None  # (revision, the optimizer built for it)
        self.periods: Deque[Period] = collections.deque(maxlen=_PERIODS_KEPT)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fusionizer-optimizer-loop", daemon=True)
        self._thread.start()

    def stop(self, timeout: Optional[float] = None) -> None:
        """Stop after the period in progress (waited for up to ``timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.period()
            except Exception as exc:  # noqa: BLE001 - a bug here must not end the periods
                LOG.exception(f"auto-optimize: the period failed: {type(exc).__name__}: {exc}")

    def period(self) -> Optional[Period]:
        """One period, now (the thread calls it every ``every_s``); None before a valid plan."""
        good = self.controller.runner.good
        if good is None:
            return None
        revision = good.snapshot.revision
        stats = collect(good.platform, [r for r in self.controller.plan_records() if r.serving])
        outcome = self._propose(good, stats)
        period = Period(self._clock(), revision, stats.calls, stats.unreachable, outcome)
        if outcome.changed and outcome.error is None:
            self.controller.runner.use_setup(outcome.proposed, revision)
            report = self.controller.reconcile("auto-optimize", self._deploy_timeout_s)
            period = replace(period, applied=str(report.result) if report is not None else "not finished in time")
        self.periods.append(period)
        LOG.info(_line(period))
        return period

    def live(self) -> Optional[Tuple[Group, ...]]:
        """The live setup in force now, if any."""
        good = self.controller.runner.good
        return self.controller.runner.live_setup(good.snapshot.revision) if good is not None else None

    def _propose(self, good: Loaded, stats: CallStats) -> Outcome:
        plan = good.plan
        now = self._clock()
        anchor = PlanState.of(good.platform, plan.name).anchor(plan) or now
        current = self.controller.runner.live_setup(good.snapshot.revision) or resolve_setup(plan, anchor, now).groups
        name = spec_of(plan).class_path
        try:
            optimizer = self._optimizer(good)
        except OptimizerError as exc:
            return Outcome(name, current, current, error=exc)
        return run_optimizer(optimizer, OptimizerInput(plan, current, stats, now, anchor), name, self._timeout_s)

    def _optimizer(self, good: Loaded) -> Optimizer:
        revision = good.snapshot.revision
        if self._built is None or self._built[0] != revision:
            self._built = (revision, load_optimizer(good.plan, self._timeout_s))
        return self._built[1]

    def to_json(self) -> Dict[str, Any]:
        live = self.live()
        return {
            "every": self.every_s,
            "live": None if live is None else [{"name": g.name, "tasks": list(g.tasks)} for g in live],
            "periods": [p.to_json() for p in reversed(self.periods)],
        }


def _line(period: Period) -> str:
    outcome = period.outcome
    head = f"auto-optimize ({outcome.optimizer}, {period.calls} calls): "
    if outcome.error is not None:
        return head + f"the optimizer failed ({outcome.error.kind}): {outcome.error}; the setup in force stays"
    if not outcome.changed:
        return head + "no change"
    changes = "; ".join(f"{c.action} [{', '.join(c.tasks)}]" for c in outcome.changes)
    return head + f"{changes}: {period.applied}"
