"""Running a local platform process (a function's processor, the gateway) with its output
in a bounded log.

    python -m fusionizer.platforms.local.capture --log FILE [--max-bytes N] [--backups K]
        [--line-bytes L] MODULE [ARGS...]

runs the Python module MODULE as ``python -m MODULE ARGS`` would, in this same process (one
pid: what the store records and stops is the module's own process), with file descriptors 1
and 2 on a pipe that a thread of this process copies into FILE through a
:class:`~fusionizer.platforms.local.logsize.RotatingLog`. Whatever the module, the tasks it
imports or the programs they start print, and however fast, the log stays within its limits:
a writer faster than the disk is slowed down by the pipe, never buffered in memory.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
import threading
import traceback
from pathlib import Path
from typing import List, Optional, Sequence

from fusionizer.platforms.local.logsize import LogLimits, RotatingLog, pump

_DRAIN_SECONDS = 2.0  # how long an exiting process waits for its last output to be logged


def argv(log_file: Path, limits: LogLimits, module: str, *args: str) -> List[str]:
    """The command line that runs ``python -m MODULE ARGS`` with its output in ``log_file``."""
    return [sys.executable, "-m", __name__, "--log", str(log_file), *limits.args(), module, *args]


def _parse(args: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__)
    parser.add_argument("--log", required=True, type=Path)
    parser.add_argument("--max-bytes", type=int, default=LogLimits().max_bytes)
    parser.add_argument("--backups", type=int, default=LogLimits().backups)
    parser.add_argument("--line-bytes", type=int, default=LogLimits().line_bytes)
    parser.add_argument("module")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    return parser.parse_args(args)


def _run(module: str, args: List[str]) -> int:
    sys.argv = [module, *args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        print(e.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def main(args: Optional[Sequence[str]] = None) -> int:
    options = _parse(args)
    limits = LogLimits(options.max_bytes, options.backups, options.line_bytes)
    read_end, write_end = os.pipe()
    copier = threading.Thread(target=pump, args=(read_end, RotatingLog(options.log, limits)),
                              name="log-pump", daemon=True)
    copier.start()
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)
    code = _run(options.module, options.args)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    # Close this process's ends of the pipe, so the pump sees the end once the programs the
    # module started (which may hold it too) are gone; it is not waited for beyond that.
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)
    copier.join(_DRAIN_SECONDS)
    return code


if __name__ == "__main__":
    sys.exit(main())
