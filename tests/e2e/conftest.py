"""End-to-end fixtures: a private copy of the repo-root example and the real CLI."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict

import pytest

from fusionizer.cli import main

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """Runs ``fusionizer`` in-process against one plan file, capturing its output."""

    def __init__(self, capsys: pytest.CaptureFixture[str], plan: Path) -> None:
        self._capsys = capsys
        self.plan = plan

    def __call__(self, *argv: str) -> Run:
        self._capsys.readouterr()
        code = main([argv[0], "-f", str(self.plan), *argv[1:]])
        captured = self._capsys.readouterr()
        return Run(code, captured.out, captured.err)

    def ok(self, *argv: str) -> Run:
        run = self(*argv)
        assert run.code == 0, f"fusionizer {' '.join(argv)} exited {run.code}\n{run.out}\n{run.err}"
        return run

    def functions(self) -> Dict[str, Dict[str, Any]]:
        return {f["name"]: f for f in self.ok("status", "-o", "json").json()["functions"]}


@pytest.fixture
def example(tmp_path: Path) -> Path:
    root = tmp_path / "example"
    root.mkdir()
    shutil.copy(REPO / "fusionizer.yaml", root / "fusionizer.yaml")
    shutil.copytree(REPO / "tasks", root / "tasks", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "schemas").symlink_to(REPO / "fusionizer" / "schemas")
    return root


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], example: Path) -> Cli:
    return Cli(capsys, example / "fusionizer.yaml")


ORDER = json.loads((REPO / "samples" / "order.json").read_text())
