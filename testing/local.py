"""Stopping everything the local platform started under one FUSIONIZER_HOME (tests, benches)."""

from __future__ import annotations

from pathlib import Path
from typing import List

from fusionizer.platforms.local import processes
from fusionizer.platforms.local.processes import PendingStart, ProcessRef, ServingProcess
from fusionizer.platforms.local.store import read_json


def stop_local_processes(home: Path) -> None:
    """Functions, pending deploys (what they started, build commands included) and gateways
    of every namespace under ``home``."""
    local = home / "local"
    refs: List[ProcessRef] = []
    for path in [*local.glob("*/procs/*.json"), *local.glob("*/run/gateway.json")]:
        data = read_json(path)
        refs += [ServingProcess.from_json(data).ref] if data else []
    for path in [*local.glob("*/pending/*.json"), *local.glob("*/run/gateway-pending.json")]:
        data = read_json(path)
        if data:  # the process being started, not its deployer (the caller)
            pending = PendingStart.from_json(data)
            refs += [pending.process] if pending.process else []
            refs += [pending.retiring.ref] if pending.retiring else []
            refs += processes.find_by_marker(pending.marker)
    for ref in refs:
        if ref.pid:
            processes.stop(ref, grace=2.0)
