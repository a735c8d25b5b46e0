"""One log line per run: trigger reasons, revision, result, changes, duration, what next."""

from __future__ import annotations

import logging

from fusionizer.loop.reconciling import RunReport
from fusionizer.loop.reports import format_report, level
from fusionizer.loop.triggers import FILE, HOOK, POLL, RESYNC, Trigger
from fusionizer.reconciler.state import RunResult

SHA, OLD = "1a2b3c4d5e6f7a8b9c0d" * 2, "0f" * 20


def test_a_successful_run_names_reasons_revision_changes_and_duration() -> None:
    report = RunReport((Trigger(FILE, "tasks/a/main.py"), Trigger(HOOK, "1a2b3c")), RunResult.OK, SHA, SHA,
                       {"update": 1, "create": 1}, ("demo-a", "demo-b"), seconds=0.8412)
    assert format_report(report) == \
        "[file (tasks/a/main.py), hook (1a2b3c)] 1a2b3c4d5e6f: ok: 1 updated, 1 created (demo-a, demo-b) in 0.84s"
    assert level(report) == logging.INFO


def test_a_refused_revision_shows_what_keeps_serving_and_the_diagnostics() -> None:
    report = RunReport((Trigger(POLL),), RunResult.INVALID, SHA, OLD, error="fusionizer.yaml:3:1: error: bad\n1 error(s)",
                       seconds=0.05)
    assert format_report(report).splitlines() == [
        "[poll] 1a2b3c4d5e6f: refused: the plan is invalid; 0f0f0f0f0f0f keeps serving in 0.05s",
        "    fusionizer.yaml:3:1: error: bad",
        "    1 error(s)",
    ]
    assert level(report) == logging.WARNING


def test_failures_say_when_they_are_retried() -> None:
    failed = RunReport((Trigger("retry"),), RunResult.FAILED, SHA, SHA, {"create": 1}, ("demo-a",), "demo-b: deploy failed",
                       retry_in=4.0, seconds=1.5)
    assert format_report(failed).splitlines()[0] == (
        "[retry] 1a2b3c4d5e6f: failed, the previous versions keep serving; done: 1 created (demo-a) in 1.50s; "
        "retrying in 4s")
    down = RunReport((Trigger(RESYNC),), RunResult.UNREACHABLE, "", SHA, {"create": 1}, error="cannot reach x",
                     kept="healed: 1 created", retry_in=2.0)
    assert format_report(down).splitlines()[0] == \
        "[resync] -: source unreachable; last good 1a2b3c4d5e6f: healed: 1 created in 0.00s; retrying in 2s"


def test_periodic_checks_that_find_nothing_are_debug_only() -> None:
    assert level(RunReport((Trigger(RESYNC),), RunResult.IN_SYNC, SHA, SHA)) == logging.DEBUG
    assert level(RunReport((Trigger(POLL),), RunResult.UNCHANGED, SHA, SHA)) == logging.DEBUG
    assert level(RunReport((Trigger("schedule"),), RunResult.IN_SYNC, SHA, SHA)) == logging.INFO
    healed = RunReport((Trigger(RESYNC),), RunResult.OK, SHA, SHA, {"update": 1}, ("demo-a",))
    assert format_report(healed).startswith("[resync] 1a2b3c4d5e6f: drift healed: 1 updated (demo-a)")
