"""Reconciler benchmarks (a script, not a test): python bench/bench_reconcile.py

1. No-op reconcile of generated plans (100 / 1,000 / 5,000 tasks in groups of 4): load and
   validate the plan, hash every group, ONE platform list, diff; cold caches each time.
2. Apply of N changed groups whose deploy takes D seconds, against ceil(N/parallel) x D.

Both run against the in-memory platform (testing/memory_platform.py) so the figures are the
reconciler's own cost; the local-platform figures are in bench_local.py.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fusionizer.build import hashing  # noqa: E402
from fusionizer.plan.loader import load_plan  # noqa: E402
from fusionizer.reconciler.reconcile import Options, apply  # noqa: E402
from testing.memory_platform import MemoryPlatform  # noqa: E402

HANDLER = "import json\n\n\ndef handler(context, event):\n    return {'ok': True}\n"


def generate(root: Path, tasks: int, per_group: int = 4) -> Path:
    names = [f"t{i:05d}" for i in range(tasks)]
    for name in names:
        d = root / "tasks" / name
        d.mkdir(parents=True)
        (d / "function.yaml").write_text(
            f"metadata:\n  name: {name}\nspec:\n  runtime: python:3.11\n  handler: main:handler\n")
        (d / "main.py").write_text(HANDLER)
    groups = "\n".join(f"      - [{', '.join(names[i:i + per_group])}]" for i in range(0, tasks, per_group))
    plan = root / "fusionizer.yaml"
    plan.write_text(
        "apiVersion: fusionizer.io/v1\nkind: FusionPlan\nmetadata:\n  name: gen\nspec:\n"
        f"  taskDirs: [tasks]\n  fusion:\n    groups:\n{groups}\n")
    return plan


def noop(tasks: int) -> Tuple[float, int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FUSIONIZER_HOME"] = str(Path(tmp) / "home")
        plan_file = generate(Path(tmp), tasks)
        platform = MemoryPlatform()
        apply(load_plan(plan_file), platform, "rev1")
        hashing._file_digests.clear()  # measure cold, as a fresh `fusionizer plan` process would
        before = platform.calls.copy()
        began = time.perf_counter()
        result = apply(load_plan(plan_file), platform, "rev1")
        seconds = time.perf_counter() - began
        assert not result.planned.has_changes
        return seconds, platform.calls["list"] - before["list"], platform.calls["deploy"] - before["deploy"]


def parallel_apply(groups: int, deploy_seconds: float, parallel: int) -> Tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FUSIONIZER_HOME"] = str(Path(tmp) / "home")
        plan = load_plan(generate(Path(tmp), groups * 2, per_group=2))
        platform = MemoryPlatform(deploy_seconds=deploy_seconds)
        began = time.perf_counter()
        result = apply(plan, platform, "rev1", Options(parallel=parallel))
        wall = time.perf_counter() - began
        assert result.ok and platform.calls["deploy"] == groups
        return wall, math.ceil(groups / parallel) * deploy_seconds


def main() -> None:
    print("No-op reconcile (load + validate + hash + 1 list + diff), cold caches, best of 3")
    print(f"{'tasks':>6} {'groups':>6} {'seconds':>8} {'us/task':>8} {'lists':>5} {'deploys':>7}")
    rows: List[Tuple[int, float]] = []
    for tasks in (100, 1000, 5000):
        seconds, lists, deploys = min(noop(tasks) for _ in range(3))
        rows.append((tasks, seconds))
        print(f"{tasks:>6} {tasks // 4:>6} {seconds:>8.3f} {seconds / tasks * 1e6:>8.0f} {lists:>5} {deploys:>7}")
    growth = (rows[2][1] / rows[1][1]) / (rows[2][0] / rows[1][0])
    print(f"growth 1,000 -> 5,000 tasks: time x{rows[2][1] / rows[1][1]:.2f} for tasks x5 "
          f"(ratio to linear: {growth:.2f}; <= 1 means linear or better)")
    print()
    print("Apply of N changed groups, each deploy taking D seconds")
    print(f"{'N':>3} {'D':>5} {'parallel':>8} {'wall s':>7} {'ideal s':>7} {'ratio':>6}")
    for groups, d, parallel in ((8, 0.5, 4), (10, 0.5, 4), (16, 0.25, 8)):
        wall, ideal = parallel_apply(groups, d, parallel)
        print(f"{groups:>3} {d:>5} {parallel:>8} {wall:>7.3f} {ideal:>7.3f} {wall / ideal:>6.2f}")


if __name__ == "__main__":
    main()
