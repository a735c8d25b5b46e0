"""load_revision, the one way a revision is read, and the one refusal rule: an invalid
revision is recorded in the history of the plan its file names, else of the plan last
applied from the same source, else nowhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusionizer.errors import PlanError
from fusionizer.platforms.base import Platform
from fusionizer.reconciler.reconcile import Options
from fusionizer.reconciler.revision import (
    Loaded,
    Platforms,
    Refused,
    apply_revision,
    load_revision,
    record_refusal,
    shown_as,
)
from fusionizer.reconciler.state import PlanRef, PlanState, RunResult
from fusionizer.sources import DirectorySource
from testing.memory_platform import MemoryPlatform
from tests.reconciler.conftest import PlanDir

BROKEN_YAML = "metadata: {name: [unclosed\n"


def test_a_valid_revision_is_loaded_with_its_platform(plans: PlanDir, memory: MemoryPlatform) -> None:
    plans.write([["a", "b"]])
    loaded = load_revision(DirectorySource(plans.file), lambda plan: memory)
    assert isinstance(loaded, Loaded)
    assert loaded.plan.name == "demo" and loaded.platform is memory and loaded.snapshot.revision.startswith("dir:")
    assert loaded.ref == PlanRef("local", "nuclio", "demo") and loaded.diagnostics == ()


def test_an_invalid_revision_is_refused_with_every_diagnostic(plans: PlanDir, memory: MemoryPlatform) -> None:
    plans.write([["a", "b"], ["b", "c"], ["ghost"]])
    refused = load_revision(DirectorySource(plans.file), lambda plan: memory)
    assert isinstance(refused, Refused)
    assert sorted(d.severity for d in refused.diagnostics) == ["error", "warning"]
    assert len(refused.errors) == 1 and "task 'b' is already in group" in refused.errors[0]
    assert isinstance(refused.error, PlanError) and memory.calls["list"] == 0
    assert refused.owner == PlanRef("local", "nuclio", "demo")


def test_unusable_platform_settings_are_a_refusal_not_a_crash(plans: PlanDir) -> None:
    plans.write([["a", "b"]])
    text = plans.file.read_text().replace("spec:\n", "spec:\n  platform: {kind: nuctl, nuctlPlatform: mars}\n")
    plans.file.write_text(text)
    refused = load_revision(DirectorySource(plans.file), Platforms())
    assert isinstance(refused, Refused)
    assert any("nuctlPlatform" in e for e in refused.errors), refused.errors


def test_a_refusal_goes_to_the_plan_the_file_names_once(plans: PlanDir, memory: MemoryPlatform) -> None:
    source = DirectorySource(plans.file)
    plans.write([["a", "b"]])
    loaded = load_revision(source, lambda plan: memory)
    assert isinstance(loaded, Loaded) and apply_revision(loaded).ok
    plans.write([["a", "b"], ["b"]], name="other")  # a rename AND an error: the file names "other"
    refused = load_revision(source, lambda plan: memory)
    assert isinstance(refused, Refused) and record_refusal(refused) == PlanRef("local", "nuclio", "other")
    assert record_refusal(refused) == PlanRef("local", "nuclio", "other")  # the same refusal again ...
    runs = PlanState(PlanRef("local", "nuclio", "other")).history()
    assert len(runs) == 1 and runs[0]["result"] == RunResult.INVALID  # ... is recorded once
    assert runs[0]["revision"] == refused.snapshot.revision and "already in group" in runs[0]["errors"][0]
    assert [r["result"] for r in PlanState(PlanRef("local", "nuclio", "demo")).history()] == ["ok"]


def test_a_file_that_names_no_plan_is_recorded_for_the_plan_last_applied_from_the_source(
        plans: PlanDir, memory: MemoryPlatform) -> None:
    source = DirectorySource(plans.file)
    plans.write([["a", "b"]])
    loaded = load_revision(source, lambda plan: memory)
    assert isinstance(loaded, Loaded)
    apply_revision(loaded)
    plans.file.write_text(BROKEN_YAML)
    refused = load_revision(DirectorySource(plans.file), lambda plan: memory)  # another process, same source
    assert isinstance(refused, Refused) and refused.identity is None
    assert record_refusal(refused) == PlanRef("local", "nuclio", "demo")
    assert [r["result"] for r in PlanState(PlanRef("local", "nuclio", "demo")).history()] == ["ok", RunResult.INVALID]


def test_a_refusal_with_no_plan_to_record_it_in_is_only_reported(
        plans: PlanDir, memory: MemoryPlatform, fusionizer_home: Path) -> None:
    plans.write([["a", "b"]])
    loaded = load_revision(DirectorySource(plans.file), lambda plan: memory)
    assert isinstance(loaded, Loaded)
    apply_revision(loaded, Options(dry_run=True))
    plans.file.write_text(BROKEN_YAML)  # a dry run applied nothing: nothing to fall back to
    refused = load_revision(DirectorySource(plans.file), lambda plan: memory)
    assert isinstance(refused, Refused) and refused.owner is None and record_refusal(refused) is None
    assert not list(fusionizer_home.rglob("history.jsonl"))


def test_diagnostics_name_a_directory_plan_relative_to_the_working_directory(
        plans: PlanDir, memory: MemoryPlatform, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    plans.write([["a", "b"], ["b"]])
    monkeypatch.chdir(plans.root)
    refused = load_revision(DirectorySource(plans.file), lambda plan: memory)
    assert refused.errors[0].startswith("fusionizer.yaml:")
    monkeypatch.chdir(tmp_path)
    assert shown_as(refused.snapshot) == Path("plan/fusionizer.yaml")
    monkeypatch.chdir(plans.root / "tasks")
    assert shown_as(refused.snapshot) == plans.file  # not below: the absolute path


def test_the_platform_is_the_override_then_the_environment_then_the_plan(
        plans: PlanDir, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = plans.plan([["a", "b"]])
    made = []

    def make(kind: str, namespace: str, options: object) -> Platform:
        made.append((kind, namespace))
        return MemoryPlatform(namespace)

    platforms = Platforms(make=make)
    platforms(plan)
    monkeypatch.setenv("FUSIONIZER_PLATFORM", "nuctl")
    platforms(plan)
    Platforms("local", platforms.make)(plan)
    assert made == [("local", "nuclio"), ("nuctl", "nuclio"), ("local", "nuclio")]
