"""Shared fixtures: every test gets its own FUSIONIZER_HOME, so nothing touches
~/.fusionizer, and every process the local platform started there is stopped afterwards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from fusionizer.platforms.local import processes


@pytest.fixture(autouse=True)
def fusionizer_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("fusionizer-home")
    monkeypatch.setenv("FUSIONIZER_HOME", str(home))
    monkeypatch.delenv("FUSIONIZER_PLATFORM", raising=False)
    yield home
    stop_local_processes(home)


def stop_local_processes(home: Path) -> None:
    for state in list((home / "local").glob("*/procs/*.json")) + list((home / "local").glob("*/run/gateway.json")) \
            + list((home / "local").glob("*/pending/*.json")):
        try:
            data = json.loads(state.read_text())
        except (OSError, ValueError):
            continue
        for ref in (data, data.get("process") or {}):
            if ref.get("pid"):
                processes.stop(processes.ProcessRef.from_json(ref), grace=2.0)
