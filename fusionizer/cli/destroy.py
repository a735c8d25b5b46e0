"""``fusionizer destroy``: delete every function of the plan (and nothing else)."""

from __future__ import annotations

import json
import sys

import click

from fusionizer.cli.context import Target, source_options
from fusionizer.reconciler.reconcile import destroy as run_destroy
from fusionizer.reconciler.reconcile import owned


@click.command("destroy")
@source_options
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: the plan, namespace and the functions deleted.")
def destroy(where: Target, yes: bool, output: str) -> None:
    """Delete every function labelled as this plan's. Functions of other plans and
    functions the fusionizer does not manage are never touched. Lists what it will
    stop before asking.

    \b
    Examples:
      fusionizer destroy
      fusionizer destroy --yes -o json
    """
    loaded = where.load()
    if not yes:
        if not interactive():
            raise click.UsageError("destroy deletes every function of the plan: pass --yes to confirm.")
        names = sorted(owned(loaded.platform.list(), loaded.plan.name))
        if not names:
            click.echo(f"Plan {loaded.plan.name} has no function in namespace {loaded.platform.namespace}.")
            return
        click.echo(f"These functions of plan {loaded.plan.name} will be deleted (namespace {loaded.platform.namespace}):")
        for name in names:
            click.echo(f"  - {name}")
        click.confirm(f"Delete these {len(names)} function(s)?", abort=True)
    names = run_destroy(loaded.plan, loaded.platform)
    if output == "json":
        click.echo(json.dumps({"plan": loaded.plan.name, "namespace": loaded.platform.namespace, "deleted": names},
                              indent=2))
        return
    for name in names:
        click.echo(f"  - {name} deleted")
    click.echo(f"Destroyed {len(names)} function(s) of plan {loaded.plan.name}.")


def interactive() -> bool:
    """Can destroy ask? Only a terminal answers."""
    return sys.stdin.isatty()
