"""The static optimizer: the plan's own time schedule, on the optimizer API.

As the original Fusionizer's StaticOptimizer, it changes the setup on a predefined
schedule: the setup it proposes is exactly :func:`~fusionizer.plan.schedule.resolve_setup`'s
at ``given.now`` (the entry due last wins; before any, ``spec.fusion.groups``), so the
reconciler and this optimizer can never disagree. It takes no options and ignores the
call statistics.
"""

from __future__ import annotations

from fusionizer.optimize.api import OptimizerInput, Proposal, Reason
from fusionizer.plan.schedule import resolve_setup


class StaticOptimizer:
    def propose(self, given: OptimizerInput) -> Proposal:
        setup = resolve_setup(given.plan, given.anchor, given.now)
        if setup.entry is None:
            why = "the default setup (spec.fusion.groups): no schedule entry is due yet"
        else:
            due = given.plan.schedule[setup.entry].due(given.anchor)
            why = f"schedule entry #{setup.entry + 1} took effect at {due.isoformat()}"
        if setup.next_due is not None:
            why += f"; the next one is due at {setup.next_due.isoformat()}"
        return Proposal(setup.groups, tuple(Reason(group.tasks, why) for group in setup.groups))
