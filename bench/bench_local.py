"""Local-platform benchmarks (a script, not a test): python bench/bench_local.py

1. Deploy -> ready: how long LocalPlatform.deploy blocks for a one-task function and for
   the example's four-task storefront function (fresh process, imports, init_context).
2. End-to-end latency of the example's longest call chain (checkout -> validate-order,
   price -> inventory, payment -> notify: 5 task-to-task calls) in three setups deployed
   side by side: every task alone (unfused), the example's default groups, and the whole
   pipeline in one function. Requests go straight to the function serving checkout.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import requests  # noqa: E402

from fusionizer import paths  # noqa: E402
from fusionizer.build import fuser  # noqa: E402
from fusionizer.plan.loader import load_plan  # noqa: E402
from fusionizer.plan.model import Group, Plan  # noqa: E402
from fusionizer.platforms.local.platform import LocalPlatform  # noqa: E402
from fusionizer.reconciler.reconcile import apply, owned  # noqa: E402

CALLS = 300
ORDER = (REPO / "samples" / "order.json").read_bytes()
PIPELINE = ("checkout", "validate-order", "price", "inventory", "payment", "notify")


def deploy_seconds(plan: Plan, group: Group, repeat: int = 5) -> float:
    platform = LocalPlatform("bench-deploy")
    builds = paths.home() / "bench-builds"  # the benchmark's home goes, and they with it
    times = []
    for _ in range(repeat):
        build = fuser.describe(plan, group)
        directory = fuser.materialize(build, plan, builds)
        source = fuser.finalize(build, directory, "bench", "now")
        platform.prepare()  # the gateway, as apply starts it: not part of the deploy measured
        began = time.perf_counter()
        platform.deploy(source)
        times.append(time.perf_counter() - began)
        platform.delete(build.function)
    return statistics.median(times)


def chain_latency(plan: Plan, namespace: str, groups: Tuple[Group, ...]) -> Tuple[int, float, float]:
    variant = dataclasses.replace(plan, groups=groups, schedule=())
    platform = LocalPlatform(namespace)
    result = apply(variant, platform, "bench")
    assert result.ok, [o.detail for o in result.failures]
    records = owned(platform.list(), plan.name)
    (entry,) = [r for r in records.values() if "checkout" in r.tasks()]
    url = f"http://127.0.0.1:{entry.http_port}/"
    headers = {"Task-Name": "checkout", "Content-Type": "application/json"}
    samples: List[float] = []
    with requests.Session() as session:
        for i in range(CALLS + 20):
            began = time.perf_counter()
            response = session.post(url, data=ORDER, headers=headers)
            elapsed = time.perf_counter() - began
            assert response.status_code == 200 and response.json()["status"] == "confirmed", response.text
            if i >= 20:  # warm-up
                samples.append(elapsed)
    for name in records:
        platform.delete(name)
    samples.sort()
    return len(records), statistics.median(samples) * 1e3, samples[int(len(samples) * 0.95)] * 1e3


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        os.environ["FUSIONIZER_HOME"] = home
        plan = load_plan(REPO / "fusionizer.yaml")
        print("Deploy -> ready on the local platform (median of 5)")
        print(f"  one task (taskb):              {deploy_seconds(plan, Group(('taskb',))) * 1e3:7.0f} ms")
        storefront = Group(("checkout", "inventory", "price", "validate-order"), "storefront")
        print(f"  four tasks (demo-storefront):  {deploy_seconds(plan, storefront) * 1e3:7.0f} ms")
        print()
        setups: Dict[str, Tuple[Group, ...]] = {
            "unfused (every task alone)": (),
            "example default groups": plan.groups,
            "whole pipeline fused": (Group(PIPELINE, "shop"),),
        }
        print(f"Longest call chain (checkout, 5 task-to-task calls), {CALLS} requests each")
        print(f"  {'setup':<28} {'functions':>9} {'median ms':>10} {'p95 ms':>8} {'vs unfused':>10}")
        base = 0.0
        for i, (label, groups) in enumerate(setups.items()):
            functions, median, p95 = chain_latency(plan, f"bench-{i}", groups)
            base = base or median
            print(f"  {label:<28} {functions:>9} {median:>10.2f} {p95:>8.2f} {base / median:>9.1f}x")


if __name__ == "__main__":
    main()
