"""Reconciler benchmarks (a script, not a test): python bench/bench_reconcile.py [--before REF]

Generated plans of N tasks in groups of 4 (10,000 tasks = 2,500 functions) on the local
platform, with every process start faked: a deploy does everything it does (build dir,
staging copy, records, gateway bookkeeping) except spawn the process, whose records point at
one idle stand-in process so that they look alive.

1. First apply through the CLI (``fusionizer apply``, a fresh process, process start
   faked): wall, CPU, peak RSS.
2. No-op ``fusionizer plan`` and ``fusionizer apply`` through the CLI: wall and CPU (median
   of the runs), peak RSS and how many times the platform was listed; with the file cache
   warm (every run after the first) and cold (``$FUSIONIZER_HOME/cache`` removed first).
3. The same no-op in one process (library calls, the file cache dropped from memory before
   each run): the reconciler's own cost without interpreter start-up and imports.

``--before REF`` (default ``main``) runs 1 and 2 with REF's code too, checked out in a
temporary git worktree and run by this interpreter, side by side (``--before ''`` skips it).
Each code's modules are compiled to bytecode first, as an installed package has them: an
editable install run with PYTHONDONTWRITEBYTECODE set would compile every module again in
every run, which measures the environment, not the reconcile.
``--quick`` stops at 1,000 tasks. An update's process hand-over is measured in bench_local.py.

After the first applies it says what a new file cost, right after, where each made its
builds: a first apply makes about 22 per function, and on some disks that cost is not steady
(ext4 without a journal, as on the machine the README's figures come from, makes new files
slower for minutes in a block group where many were deleted, e.g. by a previous run's cleanup).
The first applies are then run again in memory (``/dev/shm``, where there is one): the same
work without the disk.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fusionizer import filecache  # noqa: E402
from fusionizer.platforms.base import Platform  # noqa: E402
from fusionizer.reconciler.reconcile import compute  # noqa: E402
from fusionizer.reconciler.revision import Loaded, Platforms, load_revision  # noqa: E402
from fusionizer.sources import DirectorySource  # noqa: E402

HANDLER = "import json\n\n\ndef handler(context, event):\n    return {'ok': True}\n"
PER_GROUP = 4
RUNS = 3

# What a CLI process runs: `fusionizer ARGS`, counting platform lists; with BENCH_STAND_IN
# set, every process start (functions, gateway) is faked as that process, on a port of its own.
_CLI = """
import atexit, os, sys
from fusionizer.platforms.local import processes
from fusionizer.platforms.local.platform import LocalPlatform
lists = [0]
listing = LocalPlatform.list
def counted(self):
    lists[0] += 1
    return listing(self)
LocalPlatform.list = counted
if os.environ.get("BENCH_STAND_IN"):
    stand_in = processes.identify(int(os.environ["BENCH_STAND_IN"]))
    ports = iter(range(20000, 60000))
    def start(*args, **kwargs):  # whatever its parameters: the callback that learns the process is last
        on_spawn = kwargs.get("on_spawn", args[-1] if args and callable(args[-1]) else None)
        if on_spawn is not None:
            on_spawn(stand_in)
        return processes.Started(stand_in, {"port": next(ports)})
    processes.start = start
atexit.register(lambda: os.write(2, f"\\nBENCH_LISTS={lists[0]}\\n".encode()))
from fusionizer.cli import main
sys.exit(main(sys.argv[1:]))
"""


def generate(root: Path, tasks: int, per_group: int = PER_GROUP) -> Path:
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


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float  # user + system
    rss_mb: float  # peak resident set
    lists: int  # platform lists (counted runs only; -1 otherwise)
    out: str


@dataclass(frozen=True)
class Code:
    """The fusionizer a CLI process imports: this tree, or REF's in a worktree."""

    label: str
    root: Path

    def compile(self) -> None:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(self.root / "fusionizer")], check=True,
                       stdout=subprocess.DEVNULL)

    def cli(self, home: Path, args: List[str], stand_in: Optional[int] = None, counted: bool = False) -> Run:
        env = {**os.environ, "FUSIONIZER_HOME": str(home), "PYTHONPATH": str(self.root)}
        env.pop("FUSIONIZER_PLATFORM", None)
        if stand_in is not None:
            env["BENCH_STAND_IN"] = str(stand_in)
        tool = ["-c", _CLI] if counted or stand_in is not None else ["-m", "fusionizer"]
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            began = time.perf_counter()
            # From the work directory: python puts the current directory first on its path.
            proc = subprocess.Popen([sys.executable, *tool, *args], env=env, stdout=out, stderr=err, cwd=home.parent)
            _, status, usage = os.wait4(proc.pid, 0)  # not proc.wait(): wait4 keeps the child's usage
            wall = time.perf_counter() - began
            proc.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(), err.read().decode()
        if proc.returncode not in (0, 2):
            raise SystemExit(f"{self.label}: fusionizer {' '.join(args)} failed:\n{stderr[-3000:]}")
        lists = [int(line.split("=")[1]) for line in stderr.splitlines() if line.startswith("BENCH_LISTS=")]
        return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, lists[0] if lists else -1, stdout)


@contextmanager
def stand_in() -> Iterator[int]:
    """An idle process every faked function and gateway is said to be."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1e6)"], start_new_session=True)
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


@contextmanager
def worktree(ref: str) -> Iterator[Tuple[Path, str]]:
    """REF checked out in a temporary git worktree, and its short commit id."""
    tmp = Path(tempfile.mkdtemp(prefix="fusionizer-before-"))
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", ref], check=True, capture_output=True,
                         text=True).stdout.strip()
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tmp / "src"), sha], check=True,
                   capture_output=True)
    try:
        yield tmp / "src", sha
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tmp / "src")], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass(frozen=True)
class Noop:
    plan: Run
    apply: Run
    plan_lists: int
    apply_lists: int


def median_run(runs: List[Run]) -> Run:
    return Run(statistics.median(r.wall for r in runs), statistics.median(r.cpu for r in runs),
               max(r.rss_mb for r in runs), runs[0].lists, runs[0].out)


def noop(code: Code, home: Path, plan: Path, cold: bool = False, runs: int = RUNS) -> Noop:
    """No-op plan and apply through the CLI; ``cold``: each run starts without the file cache."""
    def timed(command: str) -> Run:
        found = []
        for _ in range(runs):
            if cold:
                shutil.rmtree(home / "cache", ignore_errors=True)
            found.append(code.cli(home, [command, "-f", str(plan)]))
        return median_run(found)

    planned, applied = timed("plan"), timed("apply")
    _check_noop(code, planned.out, applied.out)
    counted_plan = code.cli(home, ["plan", "-f", str(plan)], counted=True)
    counted_apply = code.cli(home, ["apply", "-f", str(plan)], counted=True)
    return Noop(planned, applied, counted_plan.lists, counted_apply.lists)


def _check_noop(code: Code, plan_out: str, apply_out: str) -> None:
    if "0 to create, 0 to update, 0 to delete" not in plan_out or "0 created, 0 updated, 0 deleted" not in apply_out:
        raise SystemExit(f"{code.label}: not a no-op:\n{plan_out[-500:]}\n{apply_out[-500:]}")


def first_apply(code: Code, work: Path, tasks: int, pid: int) -> Tuple[Path, Path, Run]:
    """A plan of ``tasks`` generated in ``work`` and applied by ``code``: (its home, the plan
    file, the run)."""
    home, plan = work / "home", generate(work, tasks)
    run = code.cli(home, ["apply", "-f", str(plan)], stand_in=pid)
    if "Apply complete" not in run.out:
        raise SystemExit(f"{code.label}: first apply failed:\n{run.out[-2000:]}")
    return home, plan, run


def new_file_cost(directory: Path, files: int = 2000) -> float:
    """Seconds to make one empty file in ``directory`` (made now): what this disk charges
    there for the files a deploy makes. The files stay until the benchmark's directory goes:
    removing them would make the next files there slower still."""
    directory.mkdir()
    began = time.perf_counter()
    for i in range(files):
        os.close(os.open(directory / str(i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return (time.perf_counter() - began) / files


def first_applies(codes: List[Code], after: Code, work: Path, tasks: int, pid: int, probe: bool = True) -> None:
    """A row per code (``after`` compared with the first), then, with ``probe``, what a new
    file cost where each made its builds, right after."""
    first: Optional[Run] = None
    costs = []
    for code in codes:
        home, _, run = first_apply(code, work / f"first-{code.label[:6]}", tasks, pid)
        print(row(code.label, run, tasks=tasks, before=first if code is after else None))
        first = first or run
        if probe:
            costs.append(f"{code.label.split(' (')[0]} {new_file_cost(home / 'builds' / 'gen' / 'probe') * 1e6:.0f} us")
    if costs:
        print(f"  a new file where the builds were made, right after: {', '.join(costs)}")


def in_process(home: Path, plan: Path, runs: int = RUNS) -> Tuple[float, float, int]:
    """(load, compute) seconds, median of ``runs``, and platform lists per compute."""
    os.environ["FUSIONIZER_HOME"] = str(home)
    loads, computes, lists = [], [], 0
    for _ in range(runs):
        filecache.forget()  # what a new process knows: the cache on disk only
        began = time.perf_counter()
        loaded = load_revision(DirectorySource(plan), Platforms())
        middle = time.perf_counter()
        assert isinstance(loaded, Loaded)
        counting = _Counting(loaded.platform)
        result = compute(loaded.plan, counting)  # type: ignore[arg-type]
        loads.append(middle - began)
        computes.append(time.perf_counter() - middle)
        assert not result.has_changes
        lists = counting.lists
    return statistics.median(loads), statistics.median(computes), lists


class _Counting:
    """The platform, counting its lists."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.lists = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.platform, name)

    def list(self) -> object:
        self.lists += 1
        return self.platform.list()


def row(label: str, run: Run, lists: Optional[int] = None, tasks: Optional[int] = None,
        before: Optional[Run] = None) -> str:
    """One line of a table; ``before``: the same run of the code compared with, for the ratio
    of their wall times."""
    per = f"{run.cpu / tasks * 1e6:>7.0f}" if tasks else f"{'':>7}"
    ratio = f"{before.wall / run.wall:>8.1f}x" if before is not None else f"{'':>9}"
    return (f"  {label:<34} {run.wall:>7.3f} {run.cpu:>7.3f} {per} {run.rss_mb:>7.0f} "
            f"{'' if lists is None else lists:>5} {ratio}").rstrip()


HEADER = f"  {'':<34} {'wall s':>7} {'cpu s':>7} {'us/task':>7} {'RSS MB':>7} {'lists':>5} {'vs before':>9}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", help="git ref of the code to compare with ('' for none)")
    parser.add_argument("--quick", action="store_true", help="1,000 tasks only")
    args = parser.parse_args()
    sizes = [1000] if args.quick else [1000, 10000]
    first_groups = 250 if args.quick else 1000
    after = Code("this tree", REPO)
    with ExitStack() as stack:
        codes = [after]
        if args.before:
            root, sha = stack.enter_context(worktree(args.before))
            codes.insert(0, Code(f"before ({args.before} {sha})", root))
        for code in codes:
            code.compile()
        pid = stack.enter_context(stand_in())
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-reconcile-")))
        print(f"Machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; python {sys.version.split()[0]}; "
              f"CLI runs: median of {RUNS}")
        print()
        print(f"First apply of {first_groups:,} groups ({first_groups * PER_GROUP:,} tasks) through the CLI, "
              f"process start faked")
        print(HEADER)
        first_applies(codes, after, tmp, first_groups * PER_GROUP, pid)
        memory = Path("/dev/shm")
        if memory.is_dir():
            print(f"  the same in memory ({memory}: no disk)")
            with tempfile.TemporaryDirectory(prefix="bench-reconcile-", dir=memory) as in_memory:
                first_applies(codes, after, Path(in_memory), first_groups * PER_GROUP, pid, probe=False)
        for tasks in sizes:
            print()
            print(f"No-op reconcile of {tasks:,} tasks in {tasks // PER_GROUP:,} groups through the CLI "
                  f"(each code on a platform its own first apply set up)")
            print(HEADER)
            compared: Optional[Noop] = None
            for code in codes:
                home, plan, _ = first_apply(code, tmp / f"noop-{tasks}-{code.label[:6]}", tasks, pid)
                found = noop(code, home, plan)
                theirs = compared if code is after else None
                print(row(f"{code.label}: plan", found.plan, found.plan_lists, tasks, theirs.plan if theirs else None))
                print(row(f"{code.label}: apply", found.apply, found.apply_lists, tasks,
                          theirs.apply if theirs else None))
                compared = compared or found
            cold = noop(after, home, plan, cold=True, runs=1)
            print(row(f"{after.label}: plan, cold cache", cold.plan, cold.plan_lists, tasks))
            print(row(f"{after.label}: apply, cold cache", cold.apply, cold.apply_lists, tasks))
            load, rest, lists = in_process(home, plan)
            print(f"  in one process: load {load:.3f} s + compute {rest:.3f} s = {load + rest:.3f} s "
                  f"({(load + rest) / tasks * 1e6:.0f} us/task), {lists} list")
            filecache.forget()


if __name__ == "__main__":
    main()
