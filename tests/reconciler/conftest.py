"""Fixtures for the reconciler's unit tests: a plan directory whose fusion groups a test
rewrites, loaded the way every command loads it, and the in-memory platform (no processes,
so the whole suite runs in a few seconds)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pytest

from fusionizer.plan.loader import load_plan
from fusionizer.plan.model import Plan
from testing.memory_platform import MemoryPlatform

TASKS = ("a", "b", "c", "d", "e")
PLAN = """\
apiVersion: fusionizer.io/v1
kind: FusionPlan
metadata:
  name: {name}
spec:
  taskDirs: [tasks]
  fusion:
    groups: {groups}
"""


class PlanDir:
    """``tasks/a`` .. ``tasks/e`` and a ``fusionizer.yaml`` whose groups :meth:`plan` sets."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.file = root / "fusionizer.yaml"
        for task in TASKS:
            (root / "tasks" / task).mkdir(parents=True)
            (root / "tasks" / task / "function.yaml").write_text("spec:\n  runtime: python:3.11\n  handler: main:handler\n")
            (root / "tasks" / task / "main.py").write_text(f"def handler(context, event):\n    return {task!r}\n")

    def write(self, groups: Sequence[Sequence[str]] = (), name: str = "demo") -> Path:
        listed = "[" + ", ".join("[" + ", ".join(g) + "]" for g in groups) + "]"
        self.file.write_text(PLAN.format(name=name, groups=listed))
        return self.file

    def plan(self, groups: Sequence[Sequence[str]] = (), name: str = "demo") -> Plan:
        return load_plan(self.write(groups, name))


@pytest.fixture
def plans(tmp_path: Path) -> PlanDir:
    return PlanDir(tmp_path / "plan")


@pytest.fixture
def memory() -> MemoryPlatform:
    return MemoryPlatform()
