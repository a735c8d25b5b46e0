"""A task whose function.yaml is gone for a moment (an editor's non-atomic save, a bad
rebase) is an invalid revision: its function keeps serving, nothing is deleted."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusionizer.platforms.base import InvokeRequest
from fusionizer.platforms.local.platform import LocalPlatform
from testing.example import Cli, copy_example


def deployed() -> dict[str, tuple[str, object]]:
    platform = LocalPlatform("nuclio")
    return {r.name: (r.state, (platform.store.read("procs", r.name) or {}).get("pid")) for r in platform.list()}


def test_a_task_that_lost_its_function_yaml_keeps_serving(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cli = Cli(capsys, copy_example(tmp_path / "example"))
    cli.ok("apply")
    before = deployed()
    config = cli.plan.parent / "tasks" / "taskb" / "function.yaml"
    saved = config.read_text()
    config.rename(config.with_name("function.yaml~"))  # vim's backup, mid-save

    refused = cli("apply")
    assert refused.code == 1
    assert "tasks/taskb holds function.yaml~ but no function.yaml" in refused.err
    assert deployed() == before  # demo-taska-taskb was neither replaced nor deleted
    platform = LocalPlatform("nuclio")
    fused = next(r for r in platform.list() if r.name == "demo-taska-taskb")
    assert platform.invoke(fused, "taska", InvokeRequest()).body == b"8"  # still serving

    config.with_name("function.yaml~").unlink()  # the save completes
    config.write_text(saved)
    assert cli("apply", "--detailed-exitcode").code == 0
