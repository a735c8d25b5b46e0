"""The optimizer API: what an optimizer is given, what it answers, and the protocol itself.

An optimizer is a class with a ``propose`` method. It is built once with the plan's
``spec.optimizer.options`` as keyword arguments, then asked again and again (``suggest``
asks once; ``serve --auto-optimize`` every period), so it may keep state between calls::

    class MyOptimizer:
        def __init__(self, budget: int = 3) -> None:
            self.budget = budget

        def propose(self, given: OptimizerInput) -> Proposal:
            ...
            return Proposal(groups=(Group(("a", "b")),), reasons=(Reason(("a", "b"), "why"),))

``given`` holds the plan (its tasks with their parsed ``function.yaml``), the setup in force
now and the call statistics observed in the functions (:class:`CallStats`). The answer is a
complete setup: tasks it names in no group run alone. Each :class:`Reason` explains the
tasks it names; the runner (:mod:`~fusionizer.optimize.running`) shows it next to the change
that covers those tasks. Everything here is an immutable value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping, Optional, Protocol, Sequence, Tuple, Union, runtime_checkable

from fusionizer.plan.model import Group, Plan, Task


@dataclass(frozen=True)
class EdgeStats:
    """Calls from one task to another, aggregated over every function that recorded them."""

    caller: str
    callee: str
    count: int
    local: int  # of them answered in-process (caller and callee fused)
    sync: int  # of them made by the caller's own invocation, which waited for the answer
    p50_s: float
    p95_s: float
    share: float  # this edge's part of all calls observed, 0..1
    remote_p50_s: Optional[float] = None  # over the calls that crossed functions, if any
    local_p50_s: Optional[float] = None  # over the in-process calls, if any

    @property
    def concurrent(self) -> int:
        """Calls made off the caller's invocation: a fan-out or fire-and-forget."""
        return self.count - self.sync


@dataclass(frozen=True)
class TaskStats:
    """Requests a task served from outside its function: how long its handler took."""

    task: str
    count: int
    p50_s: float
    p95_s: float


@dataclass(frozen=True)
class CallStats:
    """What the functions of a plan observed (see :mod:`~fusionizer.optimize.traces`)."""

    edges: Tuple[EdgeStats, ...] = ()  # by caller, then callee
    served: Mapping[str, TaskStats] = field(default_factory=dict)
    functions: Tuple[str, ...] = ()  # the functions whose traces are in here
    unreachable: Tuple[str, ...] = ()  # functions asked that did not answer, with why

    @property
    def calls(self) -> int:
        return sum(edge.count for edge in self.edges)


@dataclass(frozen=True)
class OptimizerInput:
    """Everything an optimizer is given."""

    plan: Plan
    current: Tuple[Group, ...]  # the setup in force now: every task in exactly one group
    stats: CallStats
    now: datetime  # timezone-aware
    anchor: datetime  # when the schedule's relative times (``after``) count from

    @property
    def tasks(self) -> Mapping[str, Task]:
        return self.plan.tasks


@dataclass(frozen=True)
class Reason:
    """Why the optimizer decided what it did about ``tasks``."""

    tasks: Tuple[str, ...]
    text: str


GroupLike = Union[Group, Sequence[str]]


@dataclass(frozen=True)
class Proposal:
    """A complete setup (``Group`` values, or plain lists of task names) and its reasons."""

    groups: Tuple[GroupLike, ...]
    reasons: Tuple[Reason, ...] = ()


@runtime_checkable
class Optimizer(Protocol):
    """Built as ``Class(**options)``; ``propose`` must return within the runner's time limit."""

    def propose(self, given: OptimizerInput) -> Proposal: ...
