"""Finding processes the local platform left running under one FUSIONIZER_HOME (tests, benches).

Everything the fusionizer starts inherits ``FUSIONIZER_HOME`` in its environment (functions,
the gateway, build commands and what they start in turn), and functions and the gateway
also name paths under it on their command line; so a scan of /proc finds all of them,
recorded or not, whatever session or process group they moved to.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Set

from fusionizer.platforms.local import processes
from fusionizer.platforms.local.processes import ProcessRef
from fusionizer.platforms.local.store import read_json


def started_under(home: Path) -> Dict[int, str]:
    """Live processes (zombies excluded) whose environment or command line names ``home``,
    by pid, with their command line."""
    variable = f"FUSIONIZER_HOME={home}".encode()
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if pid != os.getpid() and (variable in environ.split(b"\0") or str(home).encode() in cmdline) \
                and processes.alive(ProcessRef(pid, "")):
            found[pid] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def recorded(home: Path) -> Set[int]:
    """The pids the local platform's stores under ``home`` name as serving: the processes of
    recorded functions, and gateways."""
    local = home / "local"
    procs = [p for p in local.glob("*/procs/*.json") if (p.parent.parent / "functions" / p.name).exists()]
    pids = set()
    for path in [*procs, *local.glob("*/run/gateway.json")]:
        data = read_json(path)
        if data and data.get("pid"):
            pids.add(int(data["pid"]))
    return pids


def orphans(home: Path) -> Dict[int, str]:
    """Processes started under ``home`` that serve no recorded function (nor are a gateway):
    nobody would ever stop them."""
    known = recorded(home)
    return {pid: cmd for pid, cmd in started_under(home).items() if pid not in known}
