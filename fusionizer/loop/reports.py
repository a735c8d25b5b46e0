"""How a run reads in the log: one line per run (trigger reasons, revision, result, changes,
duration, what happens next), plus the diagnostics of a refused or failed run indented
below it. Called by :mod:`fusionizer.loop.looping`."""

from __future__ import annotations

import logging
from typing import List

from fusionizer.loop.reconciling import RunReport, counted
from fusionizer.loop.triggers import POLL, RESYNC, describe
from fusionizer.reconciler.state import RunResult
from fusionizer.sources.base import short_revision

_DETAIL_LINES = 25  # a deploy failure carries the function's log tail; keep the log readable


def format_report(report: RunReport) -> str:
    """``[file (tasks/a/main.py)] dir:1a2b3c4d5e6f: ok: 1 updated (demo-a) in 0.84s``."""
    line = f"[{describe(report.triggers)}] {short_revision(report.revision) if report.revision else '-'}: "
    line += _outcome(report)
    if report.kept:
        line += f"; last good {short_revision(report.serving)}: {report.kept}"
    line += f" in {report.seconds:.2f}s"
    if report.retry_in is not None:
        line += f"; retrying in {report.retry_in:g}s"
    details = _details(report)
    return line + "".join(f"\n    {d}" for d in details)


def level(report: RunReport) -> int:
    """Quiet when nothing happened on a periodic check; loud when something went wrong."""
    if report.result == RunResult.ERROR:
        return logging.ERROR
    if report.result in (RunResult.INVALID, RunResult.FAILED, RunResult.UNREACHABLE, RunResult.LOCKED) \
            or report.warnings:
        return logging.WARNING
    periodic = all(t.kind in (POLL, RESYNC) for t in report.triggers)
    if report.result == RunResult.UNCHANGED or (report.result == RunResult.IN_SYNC and periodic):
        return logging.DEBUG
    return logging.INFO


def _outcome(report: RunReport) -> str:
    result = report.result
    serving = short_revision(report.serving) if report.serving else ""
    if result == RunResult.OK:
        healed = all(t.kind == RESYNC for t in report.triggers) and report.done
        return ("drift healed: " if healed else "ok: ") + _changes(report)
    if result == RunResult.FAILED:
        done = f"; done: {_changes(report)}" if report.done else ""
        return f"failed, the previous versions keep serving{done}"
    if result == RunResult.INVALID:
        kept = f"{serving} keeps serving" if serving else "nothing was deployed"
        return f"refused: the plan is invalid; {kept}"
    if result == RunResult.UNREACHABLE:
        return "source unreachable" + (f"; {serving} keeps serving" if serving and not report.kept else "")
    if result == RunResult.LOCKED:
        return "skipped: another apply of this plan is running"
    words = {RunResult.IN_SYNC: "in sync", RunResult.UNCHANGED: "unchanged", RunResult.IDLE: "waiting for a valid plan"}
    return words.get(result, str(result))


def _changes(report: RunReport) -> str:
    counts = counted(report.done)
    if not counts:
        return "no changes"
    return f"{counts} ({', '.join(report.functions)})" if report.functions else counts


def _details(report: RunReport) -> List[str]:
    """The plan's warnings (as validate prints them), then why the run failed."""
    if report.result in (RunResult.OK, RunResult.IN_SYNC, RunResult.UNCHANGED) or not report.error:
        return list(report.warnings)
    lines = list(report.warnings) + report.error.strip().splitlines()
    if len(lines) > _DETAIL_LINES:
        lines = lines[:_DETAIL_LINES] + [f"... ({len(lines) - _DETAIL_LINES} more lines)"]
    return lines

