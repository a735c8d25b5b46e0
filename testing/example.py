"""The repo-root example as test material: a private copy, and the real CLI run in-process."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict

import pytest

from fusionizer.cli import main

REPO = Path(__file__).resolve().parent.parent
ORDER: Dict[str, Any] = json.loads((REPO / "samples" / "order.json").read_text())


def copy_example(dest: Path) -> Path:
    """A copy of fusionizer.yaml and tasks/ in ``dest``; returns the plan file."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "fusionizer.yaml", dest / "fusionizer.yaml")
    shutil.copytree(REPO / "tasks", dest / "tasks", ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "schemas").symlink_to(REPO / "fusionizer" / "schemas")
    return dest / "fusionizer.yaml"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """Runs ``fusionizer COMMAND -f PLAN ...`` in-process, capturing its output."""

    def __init__(self, capsys: pytest.CaptureFixture[str], plan: Path, *extra: str) -> None:
        self._capsys = capsys
        self.plan = plan
        self.extra = extra  # options added to every command, e.g. ("--platform", "nuctl")

    def __call__(self, *argv: str) -> Run:
        self._capsys.readouterr()
        code = main([argv[0], "-f", str(self.plan), *self.extra, *argv[1:]])
        captured = self._capsys.readouterr()
        return Run(code, captured.out, captured.err)

    def ok(self, *argv: str) -> Run:
        run = self(*argv)
        assert run.code == 0, f"fusionizer {' '.join(argv)} exited {run.code}\n{run.out}\n{run.err}"
        return run

    def functions(self) -> Dict[str, Dict[str, Any]]:
        return {f["name"]: f for f in self.ok("status", "-o", "json").json()["functions"]}
