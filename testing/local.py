"""Stopping everything the local platform started under one FUSIONIZER_HOME (tests, benches)."""

from __future__ import annotations

from pathlib import Path

from fusionizer.platforms.local import attempts, processes
from fusionizer.platforms.local.processes import PendingStart, ServingProcess
from fusionizer.platforms.local.store import read_json


def stop_local_processes(home: Path) -> None:
    """Functions, pending deploys (what they started, build commands included) and gateways
    of every namespace under ``home``."""
    local = home / "local"
    for path in [*local.glob("*/procs/*.json"), *local.glob("*/run/gateway.json")]:
        data = read_json(path)
        if data:
            processes.stop(ServingProcess.from_json(data).ref, grace=2.0)
    for path in [*local.glob("*/pending/*.json"), *local.glob("*/run/gateway-pending.json")]:
        data = read_json(path)
        if data:  # what it started and what it was retiring, never its deployer (the caller)
            pending = PendingStart.from_json(data)
            attempts.undo(pending, None)
            if pending.retiring:
                processes.stop(pending.retiring.ref, grace=2.0)
