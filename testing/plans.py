"""Small plans for tests and benchmarks: every subdirectory of ``tasks/`` is a task."""

from __future__ import annotations

from pathlib import Path


def discovering_plan(name: str) -> str:
    """A ``fusionizer.yaml`` named ``name`` whose tasks are found under ``tasks/``."""
    return (f"apiVersion: fusionizer.io/v1\nkind: FusionPlan\nmetadata:\n  name: {name}\n"
            f"spec:\n  taskDirs: [tasks]\n")


def write_task(root: Path, name: str, body: str) -> None:
    """``root/tasks/NAME`` with a ``function.yaml`` and ``main.py`` holding ``body``."""
    task = root / "tasks" / name
    task.mkdir(parents=True, exist_ok=True)
    (task / "function.yaml").write_text(f"metadata:\n  name: {name}\nspec:\n  runtime: python:3.9\n  handler: main:handler\n")
    (task / "main.py").write_text(body)
