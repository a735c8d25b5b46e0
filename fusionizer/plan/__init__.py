"""The plan layer: ``fusionizer.yaml`` -> validated immutable model -> setup at a time.

- :mod:`~fusionizer.plan.model`: the frozen dataclasses everyone else reads.
- :mod:`~fusionizer.plan.loader`: :func:`load_plan` / :func:`check_plan` (schema + semantic checks).
- :mod:`~fusionizer.plan.schedule`: :func:`resolve_setup`, the setup in force at an instant.
- :mod:`~fusionizer.plan.boundary`: what a plan may read (its own tree, regular files, bounded).
- :mod:`~fusionizer.plan.naming`: the function name of each group.

A task's directory (``Task.path``) is resolved in :mod:`~fusionizer.plan.tasks`, relative to
the plan file, and nowhere else; see :mod:`fusionizer.reconciler` for its way to the platform.
"""

from fusionizer.plan.loader import check_plan, load_plan
from fusionizer.plan.model import Group, OptimizerSpec, Plan, PlatformSettings, ScheduleEntry, Task
from fusionizer.plan.schedule import Setup, complete_groups, resolve_setup

__all__ = [
    "Group", "OptimizerSpec", "Plan", "PlatformSettings", "ScheduleEntry", "Setup", "Task",
    "check_plan", "complete_groups", "load_plan", "resolve_setup",
]
