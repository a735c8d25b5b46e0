"""Fixtures for the plan tests: a scratch directory to write plans and task dirs into.

Each test gets its own directory as the working directory, and plans are checked through
the relative path ``fusionizer.yaml``, so diagnostics name files exactly as a user would
see them (``fusionizer.yaml:12:9``, ``tasks/a/function.yaml:3:12``).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from fusionizer.errors import Diagnostic
from fusionizer.plan.loader import check_plan
from fusionizer.plan.model import Plan

HANDLER = "def handler(context, event):\n    return 'ok'\n"


class Workspace:
    """Writes plans and tasks under ``root`` (the current directory) and checks them."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def plan(self, text: str, name: str = "fusionizer.yaml") -> Path:
        return self.write(name, text)

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return Path(relative)

    def task(
        self,
        name: str,
        runtime: str = "python:3.11",
        handler: Optional[str] = "main:handler",
        code: Optional[str] = HANDLER,
        env: Optional[Dict[str, str]] = None,
        under: str = "tasks",
        config: Optional[str] = None,
    ) -> Path:
        """A task dir ``under/name`` with a function.yaml (``config`` replaces the generated one)."""
        directory = Path(under) / name
        if config is None:
            lines = [f"metadata:\n  name: {name}\n", f"spec:\n  runtime: {runtime}\n"]
            if handler is not None:
                lines.append(f"  handler: {handler}\n")
            if env:
                lines.append("  env:\n" + "".join(f"    - name: {k}\n      value: {v}\n" for k, v in env.items()))
            config = "".join(lines)
        self.write(str(directory / "function.yaml"), config)
        if code is not None:
            self.write(str(directory / "main.py"), code)
        return directory

    def check(self, strict: bool = False, plan: str = "fusionizer.yaml") -> Tuple[Optional[Plan], List[Diagnostic]]:
        return check_plan(Path(plan), strict=strict)

    # Helpers as static methods: with --import-mode=importlib, tests cannot import conftest.
    @staticmethod
    def plan_text(groups: str = "      - [a, b]", extra: str = "") -> str:
        return plan_text(groups, extra)

    @staticmethod
    def one(diagnostics: List[Diagnostic], severity: str = "error") -> Diagnostic:
        return one(diagnostics, severity)


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.chdir(tmp_path)
    return Workspace(tmp_path)


def plan_text(groups: str = "      - [a, b]", extra: str = "") -> str:
    """A small valid plan (tasks discovered in tasks/) with the given fusion groups.

    Line numbers: groups start at line 9.
    """
    return (
        "apiVersion: fusionizer.io/v1\n"  # 1
        "kind: FusionPlan\n"  # 2
        "metadata:\n"  # 3
        "  name: shop\n"  # 4
        "spec:\n"  # 5
        "  taskDirs: [tasks]\n"  # 6
        "  fusion:\n"  # 7
        "    groups:\n"  # 8
        f"{groups}\n"  # 9...
        f"{extra}"
    )


def one(diagnostics: List[Diagnostic], severity: str = "error") -> Diagnostic:
    """The single diagnostic of ``severity``; fails listing them all otherwise."""
    found = [d for d in diagnostics if d.severity == severity]
    assert len(found) == 1, "\n".join(d.render() for d in diagnostics)
    return found[0]
