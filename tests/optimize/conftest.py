"""Helpers for the optimizer tests: plans and call statistics built as values, no platform."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import pytest

from fusionizer.optimize.api import CallStats, EdgeStats, OptimizerInput, TaskStats
from fusionizer.plan.model import Group, Plan, Task
from fusionizer.plan.schedule import complete_groups

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def task(name: str, runtime: str = "python:3.11", env: Optional[Mapping[str, str]] = None,
         memory: Optional[str] = None, build: Optional[Mapping[str, Any]] = None) -> Task:
    spec: Dict[str, Any] = {"runtime": runtime, "handler": "main:handler"}
    if env:
        spec["env"] = [{"name": k, "value": v} for k, v in env.items()]
    if memory:
        spec["resources"] = {"limits": {"memory": memory}}
    if build:
        spec["build"] = dict(build)
    return Task(name, Path("/plan/tasks") / name, "main:handler", runtime, {"metadata": {"name": name}, "spec": spec})


def plan(tasks: Iterable[Any], groups: Sequence[Group] = (), name: str = "shop") -> Plan:
    table = {t.name: t for t in (x if isinstance(x, Task) else task(x) for x in tasks)}
    return Plan(name, Path("/plan/fusionizer.yaml"), dict(sorted(table.items())), tuple(groups))


def edge(caller: str, callee: str, count: int = 100, *, sync: Optional[int] = None, local: int = 0,
         remote_ms: Optional[float] = 2.0, local_ms: Optional[float] = None) -> EdgeStats:
    """``count`` calls, all synchronous unless ``sync`` says how many were; remote unless ``local``."""
    p50 = (remote_ms if remote_ms is not None else local_ms) or 1.0
    return EdgeStats(caller, callee, count, local, count if sync is None else sync, p50 / 1000, 2 * p50 / 1000,
                     0.0, None if remote_ms is None else remote_ms / 1000,
                     None if local_ms is None else local_ms / 1000)


def stats(edges: Sequence[EdgeStats], served_ms: Optional[Mapping[str, float]] = None) -> CallStats:
    total = sum(e.count for e in edges) or 1
    shared = tuple(EdgeStats(e.caller, e.callee, e.count, e.local, e.sync, e.p50_s, e.p95_s, e.count / total,
                             e.remote_p50_s, e.local_p50_s) for e in edges)
    served = {t: TaskStats(t, 100, ms / 1000, 2 * ms / 1000) for t, ms in (served_ms or {}).items()}
    return CallStats(shared, served)


def given(the_plan: Plan, the_stats: CallStats = CallStats(), current: Optional[Sequence[Group]] = None) -> OptimizerInput:
    groups = complete_groups(the_plan.groups if current is None else current, the_plan.tasks)
    return OptimizerInput(the_plan, groups, the_stats, NOW, NOW)


def grouping(groups: Iterable[Group]) -> List[Tuple[str, ...]]:
    """The task sets of ``groups`` (lone tasks included), sorted: what a test compares."""
    return sorted(tuple(sorted(g.tasks)) for g in groups)


class Helpers:
    task = staticmethod(task)
    plan = staticmethod(plan)
    edge = staticmethod(edge)
    stats = staticmethod(stats)
    given = staticmethod(given)
    grouping = staticmethod(grouping)
    NOW = NOW


@pytest.fixture(scope="session")
def op() -> "type[Helpers]":
    return Helpers
