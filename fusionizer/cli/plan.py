"""``fusionizer plan``: show what apply would change, and change nothing.

For each update it says what changed against the build last deployed from here (tasks
added or removed, files by path, env/build/config keys; ``--diff`` the text itself), in
text and in ``-o json``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Dict, Optional

import click

from fusionizer.cli import render
from fusionizer.cli.context import Target, describe, source_options
from fusionizer.cli.timearg import TIME
from fusionizer.platforms.base import ANNOTATION_SPEC_HASH, Platform
from fusionizer.reconciler.deployed import DeployedBuilds, Details, compare
from fusionizer.reconciler.diff import UPDATE
from fusionizer.reconciler.reconcile import PlanResult, compute
from fusionizer.reconciler.state import PlanState


@click.command("plan")
@source_options
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--diff", "with_diff", is_flag=True, help="Show a unified diff of the text files each update changes.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when none, 1 on error.")
@click.option("--at", "at", type=TIME, help="Evaluate the fusion schedule at this instant (ISO 8601, or +40s).")
@click.pass_context
def plan(ctx: click.Context, where: Target, output: str, with_diff: bool, detailed_exitcode: bool,
         at: Optional[datetime]) -> None:
    """Show the changes apply would make, without making them: per function the tasks
    added or removed, the files changed and the env/build/config keys changed.

    \b
    Examples:
      fusionizer plan
      fusionizer plan --diff                      the changed lines of every file
      fusionizer plan --at 2030-01-02T00:00:00Z   what the scheduled setup would change
      fusionizer plan -o json --detailed-exitcode
    """
    loaded = where.load()
    result = compute(loaded.plan, loaded.platform, at=at)
    details = change_details(result, loaded.platform, with_diff)
    if output == "json":
        click.echo(json.dumps(plan_json(result, details), indent=2))
    else:
        click.echo(f"Planning {describe(loaded)}")
        click.echo(render.setup_line(result))
        for line in render.warning_lines(result) + render.change_lines(result.changes, details):
            click.echo(line)
        click.echo(render.summary_line(result.summary))
    if detailed_exitcode and result.has_changes:
        ctx.exit(2)


def change_details(result: PlanResult, platform: Platform, with_diff: bool = False) -> Dict[str, Details]:
    """What each update of a changed spec changes, against the build last deployed from here."""
    kept = DeployedBuilds(PlanState.of(platform, result.plan.name).deployed_dir)
    details: Dict[str, Details] = {}
    for change in result.changes:
        if change.action != UPDATE or change.build is None or change.record is None:
            continue
        deployed_hash = change.record.annotations.get(ANNOTATION_SPEC_HASH, "")
        if deployed_hash == change.build.spec_hash:
            continue  # not a new spec: the reason (a dead function, a new server URL) says it all
        details[change.function] = compare(change.build, result.plan.handlers(change.build.tasks), deployed_hash,
                                           kept.read(change.function), with_diff)
    return details


def plan_json(result: PlanResult, details: Optional[Dict[str, Details]] = None) -> dict[str, object]:
    changes = []
    for change in result.changes:
        item = change.to_json()
        if details and change.function in details:
            item["details"] = details[change.function].to_json()
        changes.append(item)
    return {
        "plan": result.plan.name,
        "changes": changes,
        "summary": result.summary,
        "warnings": list(result.warnings),
        "setup": {"entry": result.setup.entry, "nextDue": render.iso(result.setup.next_due) if result.setup.next_due else None},
    }
