"""A large synthetic call graph for the optimizer (tests and bench_optimize): reproducible."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Tuple

from fusionizer.optimize.api import CallStats, EdgeStats, OptimizerInput, TaskStats
from fusionizer.plan.model import Group, Plan, Task
from fusionizer.plan.schedule import complete_groups

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


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
