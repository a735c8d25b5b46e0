"""``fusionizer plan``: show what apply would change, and change nothing."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Optional

import click

from fusionizer.cli import render
from fusionizer.cli.context import Target, source_options
from fusionizer.cli.timearg import TIME
from fusionizer.reconciler.reconcile import PlanResult, compute


@click.command("plan")
@source_options
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when none, 1 on error.")
@click.option("--at", "at", type=TIME, help="Evaluate the fusion schedule at this instant (ISO 8601, or +40s).")
@click.pass_context
def plan(ctx: click.Context, where: Target, output: str, detailed_exitcode: bool, at: Optional[datetime]) -> None:
    """Show the changes apply would make, without making them."""
    loaded = where.load()
    result = compute(loaded.plan, loaded.platform, at=at)
    if output == "json":
        click.echo(json.dumps(plan_json(result), indent=2))
    else:
        click.echo(f"Planning {where.describe(loaded)}")
        click.echo(render.setup_line(result))
        for line in render.warning_lines(result) + render.change_lines(result.changes):
            click.echo(line)
        click.echo(render.summary_line(result.summary))
    if detailed_exitcode and result.has_changes:
        ctx.exit(2)


def plan_json(result: PlanResult) -> dict[str, object]:
    return {
        "plan": result.plan.name,
        "changes": [c.to_json() for c in result.changes],
        "summary": result.summary,
        "warnings": list(result.warnings),
        "setup": {"entry": result.setup.entry, "nextDue": render.iso(result.setup.next_due) if result.setup.next_due else None},
    }
