"""A live setup (``serve --auto-optimize``) is what the loop reconciles while its revision is
the good one; a new revision starts from its plan again. On the in-memory platform."""

from __future__ import annotations

from pathlib import Path

from fusionizer.loop.reconciling import Runner
from fusionizer.loop.triggers import FILE, MANUAL, START, Trigger
from fusionizer.plan.model import Group
from fusionizer.reconciler.state import RunResult
from fusionizer.sources import DirectorySource
from testing.memory_platform import MemoryPlatform
from testing.plans import discovering_plan, write_task


def test_the_live_setup_holds_for_its_revision_only(tmp_path: Path) -> None:
    (tmp_path / "fusionizer.yaml").write_text(discovering_plan("live") + "  fusion:\n    groups: [[a, b]]\n")
    for task in "abc":
        write_task(tmp_path, task, "def handler(context, event):\n    return 'ok'\n")
    platform = MemoryPlatform()
    runner = Runner(DirectorySource(tmp_path / "fusionizer.yaml"), lambda plan: platform)
    first = runner.run((Trigger(START),))
    assert first.result == RunResult.OK and set(platform.records) == {"live-a-b", "live-c"}

    runner.use_setup((Group(("a",)), Group(("b", "c"), "bc")), "dir:some-other-revision")
    assert runner.run((Trigger(MANUAL, "stale"),)).result == RunResult.IN_SYNC  # not its revision

    runner.use_setup((Group(("b", "c"), "bc"),), first.serving)
    live = runner.run((Trigger(MANUAL, "auto-optimize"),))
    assert live.result == RunResult.OK and set(platform.records) == {"live-a", "live-bc"}
    assert runner.live_setup(first.serving) == (Group(("b", "c"), "bc"),)
    assert runner.run((Trigger(MANUAL, "again"),)).result == RunResult.IN_SYNC  # it stays

    (tmp_path / "fusionizer.yaml").write_text(discovering_plan("live") + "  fusion:\n    groups: [[a, c]]\n")
    edited = runner.run((Trigger(FILE, "fusionizer.yaml"),))
    assert edited.result == RunResult.OK and set(platform.records) == {"live-a-c", "live-b"}
    assert runner.live_setup(edited.serving) is None
