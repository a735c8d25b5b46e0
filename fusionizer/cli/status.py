"""``fusionizer status``: the plan's functions as the platform reports them, and recent runs.

With an invalid plan (a refused revision), it still shows the functions that keep serving,
found through the name and platform the plan file claims, and exits 1.
"""

from __future__ import annotations

import json
from typing import Dict, List, Optional, Sequence

import click

from fusionizer.cli import render
from fusionizer.cli.context import Target, source_options
from fusionizer.errors import FusionizerError
from fusionizer.platforms.base import ANNOTATION_APPLIED_AT, ANNOTATION_REVISION, FunctionRecord, Platform
from fusionizer.reconciler.reconcile import owned
from fusionizer.reconciler.revision import Refused
from fusionizer.reconciler.state import PlanState, RunRecord, RunResult
from fusionizer.sources.base import short_revision


@click.command("status", short_help="The plan's functions, their state and recent runs.")
@source_options
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status(where: Target, output: str) -> None:
    """Show each function of the plan: its tasks, state, revision and URL; then recent runs."""
    loaded = where.read()
    if isinstance(loaded, Refused):
        if loaded.identity is None:
            raise loaded.error
        _show(loaded.identity.name, where.platforms.claimed_by(loaded.identity), None, output, loaded.errors)
        raise FusionizerError(f"the plan at {loaded.snapshot.short_revision} is invalid (see above); "
                              f"the functions listed keep serving the last good revision")
    _show(loaded.plan.name, loaded.platform, list(loaded.plan.tasks), output, [])


def _show(plan: str, platform: Platform, tasks: Optional[Sequence[str]], output: str, invalid: List[str]) -> None:
    records = owned(platform.list(), plan)
    served = {t for r in records.values() if r.serving for t in r.tasks()}
    unserved = sorted(set(tasks or ()) - served)
    history = PlanState(platform.namespace, plan).history(5)
    if output == "json":
        click.echo(json.dumps({
            "plan": plan, "namespace": platform.namespace, "valid": not invalid, "errors": invalid,
            "functions": [_function_json(r) for r in records.values()],
            "unservedTasks": unserved, "history": history,
        }, indent=2))
        return
    click.echo(f"Plan {plan} in namespace {platform.namespace}")
    for line in invalid:
        click.echo(click.style(f"  invalid: {line}", fg="red"))
    rows = [[r.name, _state(r), ", ".join(r.tasks()), short_revision(r.annotations.get(ANNOTATION_REVISION, "")),
             _url(r)] for r in records.values()]
    click.echo(render.table(rows, ["FUNCTION", "STATE", "TASKS", "REVISION", "URL"]) if rows else "No functions deployed.")
    if unserved:
        click.echo(click.style(f"Tasks with no ready function: {', '.join(unserved)}", fg="yellow"))
    if history:
        click.echo("\nRecent runs:")
        click.echo(render.table([_run_row(run) for run in reversed(history)],
                                ["AT", "REVISION", "RESULT", "DURATION", "CHANGES"]))
        latest = history[-1]
        if latest["result"] != RunResult.OK:
            for error in latest["errors"]:
                click.echo(click.style(f"  {latest['result']}: {error}", fg="red"))


def _state(record: FunctionRecord) -> str:
    text = record.state or "unknown"
    return text if record.serving else click.style(text, fg="red")


def _url(record: FunctionRecord) -> str:
    urls = record.external_urls or record.internal_urls
    return f"http://{urls[-1]}" if urls else "-"


def _function_json(record: FunctionRecord) -> Dict[str, object]:
    return {
        "name": record.name, "state": record.state, "message": record.message, "tasks": list(record.tasks()),
        "revision": record.annotations.get(ANNOTATION_REVISION, ""),
        "appliedAt": record.annotations.get(ANNOTATION_APPLIED_AT, ""), "url": _url(record),
    }


def _run_row(run: RunRecord) -> List[str]:
    summary = run.get("summary") or {}
    changes = ", ".join(f"{n} {k}" for k, n in summary.items() if n and k != "noop") or "none"
    return [run["at"], short_revision(run["revision"]), run["result"], f"{run.get('seconds', 0.0):.1f}s", changes]
