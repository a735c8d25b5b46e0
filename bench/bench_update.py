"""Update hand-over on the local platform (a script, not a test): python bench/bench_update.py [--before REF]

A one-task function is deployed, then updated N times (its handler changes each time). For
each update: how long after the new process serves (its ready file read by the deploy) the
old process is gone (its exit, seen through a pidfd), and how long the whole deploy blocks.
Medians of N updates.

``--before REF`` (default ``main``) measures REF's code too, checked out in a temporary git
worktree and run by this interpreter, side by side (``--before ''`` skips it).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parent.parent
UPDATES = 15
PLAN = """apiVersion: fusionizer.io/v1
kind: FusionPlan
metadata:
  name: upd
spec:
  taskDirs: [tasks]
"""


def measure(updates: int) -> Dict[str, List[float]]:
    """Run in a child process whose path starts with the code to measure."""
    from fusionizer.plan.loader import load_plan
    from fusionizer.platforms.local import processes
    from fusionizer.platforms.local.platform import LocalPlatform
    from fusionizer.reconciler.reconcile import apply

    root = Path(tempfile.mkdtemp(prefix="bench-update-"))
    os.environ["FUSIONIZER_HOME"] = str(root / "home")
    task = root / "tasks" / "t"
    task.mkdir(parents=True)
    (task / "function.yaml").write_text("spec:\n  runtime: python:3.11\n  handler: main:handler\n")
    (root / "fusionizer.yaml").write_text(PLAN)
    served: List[float] = []
    start = processes.start

    def timed_start(*args, **kwargs):  # type: ignore[no-untyped-def]
        started = start(*args, **kwargs)
        served.append(time.monotonic())  # the new process serves: its ready file was read
        return started

    processes.start = timed_start
    platform = LocalPlatform("bench-update")
    gone_after: List[float] = []
    blocked: List[float] = []
    try:
        for version in range(updates + 1):
            (task / "main.py").write_text(f"def handler(context, event):\n    return 'v{version}'\n")
            old = (platform.store.read("procs", "upd-t") or {}).get("pid")
            watcher = _Exit(int(old)) if old else None
            began = time.monotonic()
            result = apply(load_plan(root / "fusionizer.yaml"), platform, f"r{version}")
            blocked.append(time.monotonic() - began)
            assert result.ok, [o.detail for o in result.failures]
            if watcher is not None:
                gone_after.append(watcher.wait() - served[-1])
    finally:
        for name in [r.name for r in platform.list()]:
            platform.delete(name)
        shutil.rmtree(root, ignore_errors=True)
    return {"gone_after": gone_after, "blocked": blocked[1:]}


class _Exit:
    """When a process exits (a pidfd becomes readable then), watched from a thread."""

    def __init__(self, pid: int) -> None:
        self.fd = os.pidfd_open(pid)
        self.at = 0.0
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        select.select([self.fd], [], [])
        self.at = time.monotonic()

    def wait(self) -> float:
        self.thread.join(60)
        os.close(self.fd)
        return self.at


def run(code: Path, updates: int) -> Dict[str, List[float]]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    env.pop("FUSIONIZER_HOME", None)
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(updates)], env=env,
                          cwd=tempfile.gettempdir(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"measuring {code} failed:\n{done.stderr[-3000:]}")
    result: Dict[str, List[float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", help="git ref of the code to compare with ('' for none)")
    parser.add_argument("--updates", type=int, default=UPDATES)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.child)))
        return
    codes = [("this tree", REPO)]
    with tempfile.TemporaryDirectory(prefix="fusionizer-before-") as tmp:
        if args.before:
            sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", args.before], check=True,
                                 capture_output=True, text=True).stdout.strip()
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", f"{tmp}/src", sha], check=True,
                           capture_output=True)
            codes.insert(0, (f"before ({args.before} {sha})", Path(tmp, "src")))
        try:
            print(f"Update of a one-task function on the local platform, median of {args.updates} updates "
                  f"(load {os.getloadavg()[0]:.1f})")
            print(f"  {'':<26} {'old gone after new serves':>26} {'max':>8} {'deploy blocks':>14}")
            for label, code in codes:
                found = run(code, args.updates)
                gone, blocked = found["gone_after"], found["blocked"]
                print(f"  {label:<26} {statistics.median(gone) * 1e3:>23.1f} ms {max(gone) * 1e3:>5.1f} ms "
                      f"{statistics.median(blocked) * 1e3:>11.0f} ms")
        finally:
            if args.before:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", f"{tmp}/src"],
                               capture_output=True)


if __name__ == "__main__":
    main()
