"""Optimizer inputs as values, for tests and bench_optimize: small plans and call statistics
built by hand, and a large reproducible synthetic call graph. No platform, no files."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

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


def given(the_plan: Plan, the_stats: CallStats = CallStats(),
          current: Optional[Sequence[Group]] = None) -> OptimizerInput:
    groups = complete_groups(the_plan.groups if current is None else current, the_plan.tasks)
    return OptimizerInput(the_plan, groups, the_stats, NOW, NOW)


def grouping(groups: Iterable[Group]) -> List[Tuple[str, ...]]:
    """The task sets of ``groups`` (lone tasks included), sorted: what a test compares."""
    return sorted(tuple(sorted(g.tasks)) for g in groups)


def synthetic_input(tasks: int, edges: int, seed: int = 13) -> OptimizerInput:
    """``tasks`` tasks, today in groups of five, and ``edges`` distinct caller -> callee edges:
    call counts long-tailed (many cold), one in five concurrent, half of them crossing
    functions (remote p50 a hop above the callee's own time)."""
    rng = random.Random(seed)
    names = [f"t{i}" for i in range(tasks)]
    table = {n: Task(n, Path("/plan/tasks") / n, "main:handler", "python:3.11", {"spec": {}}) for n in names}
    groups = tuple(Group(tuple(names[i:i + 5])) for i in range(0, tasks, 5))
    plan = Plan("synthetic", Path("/plan/fusionizer.yaml"), table, groups)
    pairs: Dict[Tuple[str, str], None] = {}
    while len(pairs) < edges:
        a, b = rng.sample(names, 2)
        pairs.setdefault((a, b), None)
    counts = [int(rng.paretovariate(1.2)) for _ in pairs]
    total = sum(counts)
    built: List[EdgeStats] = []
    for (caller, callee), count in zip(pairs, counts):
        sync = count if rng.random() > 0.2 else 0
        remote = rng.random() < 0.5
        own = rng.uniform(0.0002, 0.002)
        p50 = own + (rng.uniform(0.0005, 0.003) if remote else 0.00002)
        built.append(EdgeStats(caller, callee, count, 0 if remote else count, sync, p50, 2 * p50, count / total,
                               p50 if remote else None, None if remote else p50))
    served = {n: TaskStats(n, 100, 0.001, 0.002) for n in names}
    stats = CallStats(tuple(sorted(built, key=lambda e: (e.caller, e.callee))), served)
    return OptimizerInput(plan, complete_groups(groups, table), stats, NOW, NOW)
