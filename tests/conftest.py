"""Shared fixtures: every test gets its own FUSIONIZER_HOME, so nothing touches
~/.fusionizer, and every process the local platform started there is stopped afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from testing.local import stop_local_processes


@pytest.fixture(autouse=True)
def fusionizer_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("fusionizer-home")
    monkeypatch.setenv("FUSIONIZER_HOME", str(home))
    monkeypatch.delenv("FUSIONIZER_PLATFORM", raising=False)
    yield home
    stop_local_processes(home)
