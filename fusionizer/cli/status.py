"""``fusionizer status``: the plan's functions as the platform reports them, and recent runs.

A function that does not serve says why in the table (the platform's message, first line).
The runs are this platform's and namespace's: a local and a nuctl deployment of one plan
keep apart histories. When the source's newest revision is broken (an invalid plan), it
still shows the functions that keep serving, found through the name and platform the plan
file claims, says the source is broken, and exits 1.
"""

from __future__ import annotations

import json
from typing import Dict, List, Sequence

import click

from fusionizer.cli import render
from fusionizer.cli.context import Deployment, Target, source_options
from fusionizer.errors import FusionizerError
from fusionizer.platforms.base import ANNOTATION_APPLIED_AT, ANNOTATION_REVISION, FunctionRecord
from fusionizer.reconciler.state import PlanState, RunRecord, RunResult
from fusionizer.sources.base import short_revision


@click.command("status")
@source_options
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status(where: Target, output: str) -> None:
    """Show each function of the plan: its tasks, state (and why, when it does not serve),
    revision and URL; then the recent runs on this platform.

    \b
    Examples:
      fusionizer status
      fusionizer status --platform nuctl     the same plan's deployment on nuctl
      fusionizer status -o json
    """
    deployment = where.deployed(announce=False)  # the error at the end says it
    _show(deployment, output)
    if deployment.refused is not None:
        raise FusionizerError(f"{deployment.broken_note()}; the functions listed keep serving the last good revision")


def _show(deployment: Deployment, output: str) -> None:
    platform, plan = deployment.platform, deployment.plan
    records = deployment.records()
    served = {t for r in records.values() if r.serving for t in r.tasks()}
    unserved = sorted(set(deployment.tasks or ()) - served)
    history = PlanState.of(platform, plan).history(5)
    invalid = deployment.refused.errors if deployment.refused else []
    if output == "json":
        click.echo(json.dumps({
            "plan": plan, "platform": platform.kind, "namespace": platform.namespace, "valid": not invalid,
            "errors": invalid, "functions": [_function_json(r) for r in records.values()],
            "unservedTasks": unserved, "history": history,
        }, indent=2))
        return
    click.echo(f"Plan {plan} on the {platform.kind} platform, namespace {platform.namespace}")
    for line in invalid:
        click.echo(click.style(f"  invalid: {line}", fg="red"))
    click.echo(_functions_table(list(records.values())) if records else "No functions deployed.")
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


def _functions_table(records: Sequence[FunctionRecord]) -> str:
    headers = ["FUNCTION", "STATE", "TASKS", "REVISION", "URL"]
    rows = [[r.name, _state(r), ", ".join(r.tasks()), short_revision(r.annotations.get(ANNOTATION_REVISION, "")),
             _url(r)] for r in records]
    if any(_reason(r) for r in records):
        headers.append("REASON")
        for row, record in zip(rows, records):
            row.append(_reason(record))
    return render.table(rows, headers)


def _state(record: FunctionRecord) -> str:
    text = record.state or "unknown"
    return text if record.serving else click.style(text, fg="red")


def _reason(record: FunctionRecord) -> str:
    """Why a function does not serve: the first line of the platform's message."""
    lines = record.message.strip().splitlines()
    return lines[0] if lines and not record.serving else ""


def _url(record: FunctionRecord) -> str:
    urls = record.external_urls or record.internal_urls
    return f"http://{urls[-1]}" if urls else "-"


def _function_json(record: FunctionRecord) -> Dict[str, object]:
    return {
        "name": record.name, "state": record.state, "message": record.message, "reason": _reason(record),
        "tasks": list(record.tasks()), "revision": record.annotations.get(ANNOTATION_REVISION, ""),
        "appliedAt": record.annotations.get(ANNOTATION_APPLIED_AT, ""), "url": _url(record),
    }


def _run_row(run: RunRecord) -> List[str]:
    summary = run.get("summary") or {}
    changes = ", ".join(f"{n} {k}" for k, n in summary.items() if n and k != "noop") or "none"
    return [run["at"], short_revision(run["revision"]), run["result"], f"{run.get('seconds', 0.0):.1f}s", changes]
