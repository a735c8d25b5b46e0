"""Commands that answer questions change nothing: on an empty FUSIONIZER_HOME, `plan`,
`status` and `validate` start no process and write no file."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusionizer.cli import main
from fusionizer.platforms.local import processes
from testing.example import copy_example


def test_plan_status_and_validate_on_an_empty_home_start_nothing_and_write_nothing(
        fusionizer_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = copy_example(tmp_path / "example")
    assert list(fusionizer_home.iterdir()) == []
    assert main(["plan", "-f", str(plan)]) == 0
    assert "Plan: 3 to create, 0 to update, 0 to delete, 0 unchanged." in capsys.readouterr().out
    assert main(["status", "-f", str(plan)]) == 0
    assert "No functions deployed." in capsys.readouterr().out
    assert main(["validate", "-f", str(plan)]) == 0
    assert list(fusionizer_home.rglob("*")) == []
    store = fusionizer_home / "local" / "nuclio"
    assert processes.find_by_argument(str(store)) == []  # no gateway (it is started with --store DIR)
