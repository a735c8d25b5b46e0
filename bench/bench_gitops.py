"""GitOps latency benchmark (a script, not a test): python bench/bench_gitops.py [--repeat N]

How long from a change to the changed function serving the new code, on the embedded local
platform, for a private copy of the repo-root example (8 tasks, 3 functions) under a
temporary FUSIONIZER_HOME. The change edits taskb (fused with taska in demo-taska-taskb),
so exactly one function is redeployed; "served" means an invoke of taskb answers with the
new code.

1. file save: the watch loop on the directory (in-process: watchdog, 150 ms debounce).
2. git push: ``git push`` to a bare repo whose post-receive hook runs ``fusionizer apply``
   (the push returns once the hook is done, as the pusher experiences it).

Reported per path (median of N repetitions, columns add up to the total): waiting
(debounce + event delivery; the hook path waits for nothing); git + start-up (hook path:
transfer, two python start-ups, ls-remote/fetch/checkout, plan load); reconcile + deploy
(digest, load, diff, build, deploy until the new process serves). Argo CD polls every
120 s (+ up to 60 s jitter), Flux every ``.spec.interval`` (often 1-10 min).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fusionizer.errors import FusionizerError  # noqa: E402
from fusionizer.loop import posthook  # noqa: E402
from fusionizer.loop.looping import Loop, LoopSettings  # noqa: E402
from fusionizer.loop.reconciling import Runner, RunReport  # noqa: E402
from fusionizer.loop.running import attach  # noqa: E402
from fusionizer.loop.triggers import FILE  # noqa: E402
from fusionizer.loop.watching import Watchers  # noqa: E402
from fusionizer.platforms.base import InvokeRequest  # noqa: E402
from fusionizer.platforms.local.platform import LocalPlatform  # noqa: E402
from fusionizer.reconciler.reconcile import owned  # noqa: E402
from fusionizer.reconciler.state import PlanState  # noqa: E402
from fusionizer.sources import DirectorySource  # noqa: E402
from testing.local import stop_local_processes  # noqa: E402

PLAN, FUNCTION, TASK = "demo", "demo-taska-taskb", "taskb"
TASKB = '"""taskb, benchmark version {n}."""\n\n\ndef handler(context, event, requests_session):\n' \
        '    return event.body["value1"] + event.body["value2"] + {n}\n'
REQUEST = InvokeRequest("POST", "/", {"Content-Type": "application/json"}, b'{"value1": 5, "value2": 3}')
DEADLINE = 30.0  # per change; a change that is not served by then fails the benchmark


@dataclass(frozen=True)
class Sample:
    total: float  # change -> first invoke answered by the new code
    waiting: float  # before the loop started working: debounce + event delivery
    startup: float  # hook path: git transfer, python start-ups, fetch + checkout, plan load

    @property
    def deploy(self) -> float:
        """The rest: reconcile (digest, load, diff, build) and deploy until the new process serves."""
        return self.total - self.waiting - self.startup


def expected(n: int) -> str:
    return str(8 + n)


def answer(platform: LocalPlatform) -> Optional[str]:
    record = owned(platform.list(), PLAN).get(FUNCTION)
    if record is None or not record.serving:
        return None
    try:
        return platform.invoke(record, TASK, REQUEST).body.decode()
    except FusionizerError:
        return None  # between the old process stopping and the record naming the new one


def wait_served(platform: LocalPlatform, want: str) -> float:
    """perf_counter() when ``want`` is first answered (polled every 5 ms: a measurement)."""
    deadline = time.perf_counter() + DEADLINE
    while time.perf_counter() < deadline:
        if answer(platform) == want:
            return time.perf_counter()
        time.sleep(0.005)
    raise SystemExit(f"the new code ({want}) was not served within {DEADLINE:g}s")


def copy_example(root: Path) -> Path:
    root.mkdir(parents=True)
    shutil.copy(REPO / "fusionizer.yaml", root / "fusionizer.yaml")
    shutil.copytree(REPO / "tasks", root / "tasks", ignore=shutil.ignore_patterns("__pycache__"))
    return root


# -- 1. file save under the watch loop -----------------------------------------------------


class Reports:
    def __init__(self) -> None:
        self.items: List[Tuple[float, RunReport]] = []
        self.cond = threading.Condition()

    def __call__(self, report: RunReport) -> None:
        with self.cond:
            self.items.append((time.perf_counter(), report))
            self.cond.notify_all()

    def wait(self, predicate: Callable[[RunReport], bool], after: int) -> Tuple[float, RunReport]:
        with self.cond:
            ok = self.cond.wait_for(lambda: any(predicate(r) for _, r in self.items[after:]), DEADLINE)
            if not ok:
                raise SystemExit("the watch loop did not report the run in time")
            return next((t, r) for t, r in self.items[after:] if predicate(r))


def bench_file_save(work: Path, repeat: int) -> List[Sample]:
    example = copy_example(work / "dir-example")
    platform = LocalPlatform()
    source = DirectorySource(example / "fusionizer.yaml")
    reports = Reports()
    loop = Loop(Runner(source, lambda plan: platform), LoopSettings(poll_interval=None, resync_interval=None),
                on_run=reports)
    watchers = Watchers()
    attach(loop, watchers, source)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    samples = []
    with watchers:
        thread.start()
        reports.wait(lambda r: True, 0)
        for n in range(1, repeat + 1):
            seen = len(reports.items)
            began = time.perf_counter()
            (example / "tasks" / TASK / "main.py").write_text(TASKB.format(n=n))
            served = wait_served(platform, expected(n))
            at, report = reports.wait(lambda r: any(t.kind == FILE for t in r.triggers), seen)
            if report.result != "ok":
                raise SystemExit(f"the run failed: {report}")
            samples.append(Sample(served - began, (at - report.seconds) - began, 0.0))
        loop.stop()
        thread.join(DEADLINE)
    return samples


# -- 2. git push with the post-receive hook ------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    """git in ``cwd``, which never looks for a repository above ``cwd``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CEILING_DIRECTORIES": str(cwd.parent)})
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout + done.stderr


def bench_git_push(work: Path, repeat: int) -> List[Sample]:
    bare, clone = work / "origin.git", copy_example(work / "clone")
    git(work, "init", "-q", "--bare", "-b", "main", str(bare))
    git(clone, "init", "-q", "-b", "main")
    for key, value in (("user.name", "Bench"), ("user.email", "bench@example.invalid"), ("commit.gpgsign", "false")):
        git(clone, "config", key, value)
    git(clone, "remote", "add", "origin", str(bare))
    posthook.install(str(bare), branch="main", home=os.environ["FUSIONIZER_HOME"])
    platform = LocalPlatform()
    state = PlanState(platform.namespace, PLAN)
    samples = []
    for n in range(0, repeat + 1):  # push 0 deploys the whole example; it is not measured
        (clone / "tasks" / TASK / "main.py").write_text(TASKB.format(n=n))
        git(clone, "add", "-A")
        git(clone, "commit", "-qm", f"bench {n}")
        began = time.perf_counter()
        out = git(clone, "push", "-q", "origin", "main")
        pushed = time.perf_counter()
        served = wait_served(platform, expected(n))
        if "fusionizer: applied" not in out:
            raise SystemExit(f"the hook did not apply:\n{out}")
        apply_seconds = float(state.history(1)[-1]["seconds"])  # measured inside apply: lock to record
        if n:
            samples.append(Sample(served - began, 0.0, pushed - began - apply_seconds))
    return samples


# -- report --------------------------------------------------------------------------------


def row(name: str, samples: List[Sample]) -> List[str]:
    def med(values: List[float]) -> str:
        return f"{statistics.median(values):.3f}s"

    totals = [s.total for s in samples]
    return [name, med(totals), med([s.waiting for s in samples]), med([s.startup for s in samples]),
            med([s.deploy for s in samples]), f"{min(totals):.3f}-{max(totals):.3f}s",
            "yes" if statistics.median(totals) < 2.0 else "NO"]


def table(rows: List[List[str]]) -> str:
    header = ["path", "total", "waiting", "git + start-up", "reconcile + deploy", "range", "< 2 s"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def isolate(work: Path) -> Path:
    """Everything under ``work``: the fusionizer's state (returned), and a HOME whose empty
    git config cannot send ``hook install`` to a global core.hooksPath; no GIT_* leaks in."""
    for key in [k for k in os.environ if k.startswith("GIT_")]:
        del os.environ[key]
    home = work / "home"
    os.environ.update({"FUSIONIZER_HOME": str(home), "HOME": str(work / "user"),
                       "XDG_CONFIG_HOME": str(work / "user" / ".config"), "GIT_CONFIG_NOSYSTEM": "1"})
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="changes measured per path (median reported)")
    args = parser.parse_args()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-gitops-") as tmp:
        work = Path(tmp)
        home = isolate(work)
        try:
            rows = [row("file save (watch -f)", bench_file_save(work, args.repeat))]
            stop_local_processes(home)
            rows.append(row("git push (post-receive hook)", bench_git_push(work, args.repeat)))
        finally:
            stop_local_processes(home)
    print(f"GitOps latency, change -> new code served; local platform, {args.repeat} changes per path, medians")
    print(table(rows))
    print(f"(ran {time.perf_counter() - began:.0f}s; for scale: Argo CD polls every 120 s + jitter, Flux per interval)")


if __name__ == "__main__":
    main()
