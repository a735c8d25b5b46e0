"""Fixtures for CLI tests: functions recorded in the local platform's store without starting
a process (so status, logs and destroy can be asked about them in milliseconds), and the
repo-root example."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pytest

from fusionizer.platforms.base import ANNOTATION_REVISION, ANNOTATION_TASKS, label_selector
from fusionizer.platforms.local.store import Store
from testing.example import copy_example


def record_function(name: str, tasks: Sequence[str], state: str = "error", message: str = "",
                    plan: str = "demo", log: str = "") -> Path:
    """A function of ``plan`` in the local store of namespace nuclio, as a deploy leaves it
    (no process); ``log`` becomes its log file. Returns the log file."""
    store = Store("nuclio")
    status = {"state": state, **({"message": message} if message else {})}
    store.write("functions", name, {
        "metadata": {"name": name, "namespace": "nuclio", "labels": label_selector(plan),
                     "annotations": {ANNOTATION_TASKS: ",".join(tasks), ANNOTATION_REVISION: "dir:0123456789abcdef"}},
        "spec": {}, "status": status,
    })
    path = store.log_file(name)
    path.write_text(log)
    return path


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of the example plan (``demo``: demo-storefront, demo-billing, demo-taska-taskb)."""
    return copy_example(tmp_path / "example")
