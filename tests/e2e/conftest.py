"""End-to-end fixtures: a private copy of the repo-root example and the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing.example import Cli, copy_example


@pytest.fixture
def example(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "example").parent


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], example: Path) -> Cli:
    return Cli(capsys, example / "fusionizer.yaml")
