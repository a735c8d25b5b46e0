"""Optimizer benchmarks (a script, not a test): python bench/bench_optimize.py

1. The feedback loop on the example, in one run on the local platform: every task in its
   own function, traffic on the longest chain (checkout -> validate-order, price ->
   inventory, payment -> notify: 5 task-to-task calls), ``fusionizer suggest --write``,
   ``fusionizer apply``, the same traffic again. End-to-end latency before and after, and
   the ratio. Requests go straight to the function serving checkout.
2. The optimizer's own time on a synthetic graph of 1,000 tasks and 10,000 edges (target
   < 1 s), and the aggregation of 100,000 trace rows (ten full functions).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, List, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import requests  # noqa: E402

from fusionizer.cli import main as cli  # noqa: E402
from fusionizer.optimize.feedback import FeedbackOptimizer  # noqa: E402
from fusionizer.optimize.rewrite import rewrite_groups  # noqa: E402
from fusionizer.optimize.running import run_optimizer  # noqa: E402
from fusionizer.optimize.traces import Call, FunctionTraces, aggregate  # noqa: E402
from fusionizer.plan.loader import load_plan  # noqa: E402
from fusionizer.platforms.local.platform import LocalPlatform  # noqa: E402
from testing.optimizing import synthetic_input  # noqa: E402

CALLS = 300
WARM_UP = 20
ORDER = (REPO / "samples" / "order.json").read_bytes()


def fusionizer(*argv: str) -> str:
    """``fusionizer ARGV`` in-process; its output (raises on a non-zero exit)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli(list(argv))
    if code != 0:
        raise SystemExit(f"fusionizer {' '.join(argv)} exited {code}:\n{out.getvalue()}")
    return out.getvalue()


def chain_latency(plan_file: Path) -> Tuple[int, float, float]:
    """(functions, median ms, p95 ms) of CALLS orders sent to checkout's function."""
    plan = load_plan(plan_file)
    records = [r for r in LocalPlatform(plan.platform.namespace).list() if r.plan() == plan.name]
    (entry,) = [r for r in records if "checkout" in r.tasks()]
    url = f"http://127.0.0.1:{entry.http_port}/"
    headers = {"Task-Name": "checkout", "Content-Type": "application/json"}
    samples: List[float] = []
    with requests.Session() as session:
        for i in range(CALLS + WARM_UP):
            began = time.perf_counter()
            response = session.post(url, data=ORDER, headers=headers)
            elapsed = time.perf_counter() - began
            assert response.status_code == 200 and response.json()["status"] == "confirmed", response.text
            if i >= WARM_UP:
                samples.append(elapsed)
    samples.sort()
    return len(records), statistics.median(samples) * 1e3, samples[int(len(samples) * 0.95)] * 1e3


@contextlib.contextmanager
def example_apart() -> Iterator[Path]:
    """A private copy of the example with every task in its own function, and its own home."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        os.environ["FUSIONIZER_HOME"] = str(root / "home")
        shutil.copy(REPO / "fusionizer.yaml", root / "fusionizer.yaml")
        shutil.copytree(REPO / "tasks", root / "tasks", ignore=shutil.ignore_patterns("__pycache__"))
        (root / "schemas").symlink_to(REPO / "fusionizer" / "schemas")
        rewrite_groups(root / "fusionizer.yaml", [])
        try:
            yield root / "fusionizer.yaml"
        finally:
            fusionizer("destroy", "--yes", "-f", str(root / "fusionizer.yaml"))


def feedback_loop() -> None:
    print(f"The example's longest chain (checkout, 5 task-to-task calls), {CALLS} requests per setup")
    with example_apart() as plan:
        fusionizer("apply", "-f", str(plan))
        before = chain_latency(plan)
        began = time.perf_counter()
        suggestion = fusionizer("suggest", "--write", "-f", str(plan))
        suggest_s = time.perf_counter() - began
        fusionizer("apply", "-f", str(plan))
        after = chain_latency(plan)
    print(f"  {'setup':<34} {'functions':>9} {'median ms':>10} {'p95 ms':>8}")
    print(f"  {'every task apart':<34} {before[0]:>9} {before[1]:>10.2f} {before[2]:>8.2f}")
    print(f"  {'after suggest --write; apply':<34} {after[0]:>9} {after[1]:>10.2f} {after[2]:>8.2f}")
    print(f"  end-to-end latency ratio (apart / suggested): {before[1] / after[1]:.1f}x median, "
          f"{before[2] / after[2]:.1f}x p95; suggest took {suggest_s * 1e3:.0f} ms")
    for line in suggestion.splitlines():
        if line.lstrip().startswith(("+ fuse", "- split", "~ ")):
            print(f"  {line.strip()}")


def best_of(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return min(times)


def optimizer_time() -> None:
    print("\nThe feedback optimizer's own time (best of 5)")
    given = synthetic_input(1000, 10_000)
    for label, options in (("1,000 tasks, 10,000 edges", {}), ("the same, maxTasks 20", {"maxTasks": 20})):
        optimizer = FeedbackOptimizer(**options)
        outcome = run_optimizer(optimizer, given, "feedback")
        assert outcome.error is None
        seconds = best_of(5, lambda: run_optimizer(optimizer, given, "feedback"))  # noqa: B023 - run at once
        print(f"  {label:<28} {seconds * 1e3:8.1f} ms  ({len(outcome.changes)} changes, "
              f"{len(outcome.proposed)} functions; target < 1000 ms)")
    functions = [FunctionTraces(f"f{f}", tuple(
        Call(f"t{i % 1000}", f"t{(i * 7 + f) % 1000}", i % 3 == 0, i % 5 != 0, 0.001 + (i % 97) / 1e5, 1.0 + i)
        for i in range(10_000)), (), 10_000) for f in range(10)]
    seconds = best_of(5, lambda: aggregate(functions))
    print(f"  {'aggregating 100,000 calls':<28} {seconds * 1e3:8.1f} ms  (ten functions' full traces)")


if __name__ == "__main__":
    feedback_loop()
    optimizer_time()
