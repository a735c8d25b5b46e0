"""``fusionizer destroy``: delete every function of the plan (and nothing else)."""

from __future__ import annotations

import sys

import click

from fusionizer.cli.context import Target, source_options
from fusionizer.reconciler.reconcile import destroy as run_destroy


@click.command("destroy")
@source_options
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def destroy(where: Target, yes: bool) -> None:
    """Delete every function labelled as this plan's. Functions of other plans and
    functions the fusionizer does not manage are never touched."""
    loaded = where.load()
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("destroy deletes every function of the plan: pass --yes to confirm.")
        click.confirm(f"Delete every function of plan {loaded.plan.name} in namespace "
                      f"{loaded.platform.namespace}?", abort=True)
    names = run_destroy(loaded.plan, loaded.platform)
    for name in names:
        click.echo(f"  - {name} deleted")
    click.echo(f"Destroyed {len(names)} function(s) of plan {loaded.plan.name}.")
