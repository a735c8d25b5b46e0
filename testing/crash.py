"""``kill -9`` of the CLI at a chosen step of its work on the local platform, for fault tests.

    python -m testing.crash --at N [--steps FILE] -- apply -f PLAN --parallel 1 ...

runs ``fusionizer ARGS`` in this process and counts its steps: every write and removal of a
record of the local platform's store, every removal of a directory tree, every process
spawned (function, gateway, build command) and every process stopped, each counted
once before and once after. At step N (1-based) the process sends itself SIGKILL, exactly as
``kill -9`` from outside would, leaving whatever the steps before made; ``--at 0`` never kills.
``--when TEXT`` (repeatable) instead dies at the first step whose label holds every TEXT.
``--steps FILE`` gets one line per step taken (``before write procs/NAME.json``, ``after
spawn ... fusionizer.platforms.local.gateway ...``), written as it goes, so a test can count
the steps of a run, or find the one it wants to die at. For a given state and ``--parallel 1``
the steps come in the same order every time: a step number names one instant.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable, List, Optional, TextIO

from fusionizer.platforms.local import processes, store

_lock = threading.Lock()
_taken = 0
_at = 0
_when: List[str] = []
_steps: Optional[TextIO] = None


def _step(label: str) -> None:
    global _taken
    with _lock:
        _taken += 1
        if _steps is not None:
            _steps.write(label.replace("\n", " ") + "\n")
            _steps.flush()
        if _taken == _at or (_when and all(text in label for text in _when)):
            os.kill(os.getpid(), signal.SIGKILL)


def _counted(owner: Any, attribute: str, what: str, describe: Callable[..., str]) -> None:
    original = getattr(owner, attribute)

    @functools.wraps(original)
    def counted(*args: Any, **kwargs: Any) -> Any:
        label = f"{what} {describe(*args, **kwargs)}"
        _step(f"before {label}")
        result = original(*args, **kwargs)
        _step(f"after {label}")
        return result

    setattr(owner, attribute, counted)


def _tail(path: Any, *rest: Any, **options: Any) -> str:
    return "/".join(Path(path).parts[-2:])


def _spawned(popen: Any, args: Any, *rest: Any, **options: Any) -> str:
    return args if isinstance(args, str) else " ".join(map(str, args))


def install(at: int, when: List[str], steps: Optional[TextIO]) -> None:
    """Count (and die at) the steps described in the module docstring, from now on."""
    global _at, _when, _steps
    _at, _when, _steps = at, when, steps
    _counted(store, "write_json", "write", _tail)
    _counted(store.Store, "remove", "remove", lambda self, kind, name: f"{kind}/{name}.json")
    _counted(shutil, "rmtree", "rmtree", _tail)
    _counted(subprocess.Popen, "__init__", "spawn", _spawned)
    _counted(processes, "stop", "stop", lambda ref, *a, **k: "process")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testing.crash", description=__doc__)
    parser.add_argument("--at", type=int, default=0, help="the step to die at (1-based); 0: never")
    parser.add_argument("--when", action="append", default=[], help="die at the first step whose label holds this")
    parser.add_argument("--steps", type=Path, help="write the label of every step taken here")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- and the fusionizer command line")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    steps = open(args.steps, "w") if args.steps else None
    install(args.at, args.when, steps)
    from fusionizer.cli import main as fusionizer

    try:
        return fusionizer(command)
    finally:
        if steps is not None:
            steps.close()


if __name__ == "__main__":
    sys.exit(main())
