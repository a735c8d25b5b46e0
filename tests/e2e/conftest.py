"""End-to-end fixtures: a private copy of the repo-root example and the real CLI.

Every test here is marked ``e2e`` (real processes, seconds each): the default run leaves
them out, ``python -m pytest -q -m e2e`` runs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest

from testing.example import Cli, copy_example

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before -m selects by marker
def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "example").parent


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], example: Path) -> Cli:
    return Cli(capsys, example / "fusionizer.yaml")
