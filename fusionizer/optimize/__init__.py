"""Optimizers: decide the fusion setup from the plan, the current setup and observed calls.

The API (:mod:`~fusionizer.optimize.api`): an optimizer is a class built with the plan's
``spec.optimizer.options`` as keyword arguments, whose ``propose(OptimizerInput)`` returns a
:class:`Proposal` (a complete setup, and a :class:`Reason` per decision). Built in:

- :class:`StaticOptimizer` (:mod:`~fusionizer.optimize.static`): the plan's time schedule;
- :class:`FeedbackOptimizer` (:mod:`~fusionizer.optimize.feedback`): fuses tasks joined by
  synchronous calls, keeps concurrent calls apart, within constraints; the default.

Around them: :mod:`~fusionizer.optimize.loading` (the plan's optimizer, imported next to
the plan without polluting ``sys.modules``; checked by ``validate``),
:mod:`~fusionizer.optimize.running` (a time limit, a checked answer, the changes),
:mod:`~fusionizer.optimize.traces` (the functions' call traces, aggregated per edge) and
:mod:`~fusionizer.optimize.collect` (asking every function of a plan for them). The plan
file is rewritten by :mod:`~fusionizer.optimize.rewrite`.
"""

from fusionizer.optimize.api import (
    CallStats,
    EdgeStats,
    Optimizer,
    OptimizerInput,
    Proposal,
    Reason,
    TaskStats,
)
from fusionizer.optimize.feedback import FeedbackOptimizer
from fusionizer.optimize.static import StaticOptimizer
from fusionizer.plan.model import Group

__all__ = [
    "CallStats", "EdgeStats", "FeedbackOptimizer", "Group", "Optimizer", "OptimizerInput", "Proposal", "Reason",
    "StaticOptimizer", "TaskStats",
]
