"""Stopping everything the local platform started under one FUSIONIZER_HOME (tests, benches)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

from fusionizer.platforms.local import processes


def stop_local_processes(home: Path) -> None:
    """Functions, pending deploys and gateways of every namespace under ``home``."""
    local = home / "local"
    for state in [*local.glob("*/procs/*.json"), *local.glob("*/run/gateway.json"), *local.glob("*/pending/*.json")]:
        try:
            data: Dict[str, Any] = json.loads(state.read_text())
        except (OSError, ValueError):
            continue
        # A pending record names the process under "process" (its "deployer" is the caller).
        for ref in (data, data.get("process") or {}):
            if isinstance(ref, dict) and ref.get("pid"):
                processes.stop(processes.ProcessRef.from_json(ref), grace=2.0)
        for found in processes.find_by_argument(str(data.get("marker") or "")):
            processes.stop(found, grace=2.0)
