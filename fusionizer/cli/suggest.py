"""``fusionizer suggest [--write]``: the optimizer's proposal from the call traces, as a plan diff.

Collects the traces of the plan's functions (as ``fusionizer traces``), asks the plan's
optimizer (``spec.optimizer``, else the built-in feedback optimizer) for a setup, and
prints each change with its reasons and the change to ``fusionizer.yaml`` as a unified
diff. ``--write`` makes that change to the file (comments and layout kept), so it becomes
a reviewable commit; nothing is deployed: ``fusionizer apply`` (or a push) does that.
A broken optimizer is reported and exits 1, and nothing is written.
"""

from __future__ import annotations

import difflib
import json
from datetime import datetime, timezone
from typing import List, Sequence

import click

from fusionizer.cli.context import Target, source_options
from fusionizer.cli.traces import unreachable_lines
from fusionizer.errors import FusionizerError
from fusionizer.optimize.api import CallStats, OptimizerInput
from fusionizer.optimize.collect import collect, plan_functions
from fusionizer.optimize.loading import DEFAULT_TIMEOUT_S, OptimizerError, load_optimizer, spec_of
from fusionizer.optimize.rewrite import groups_text, write_checked
from fusionizer.optimize.running import Change, Outcome, run_optimizer
from fusionizer.plan.model import Group
from fusionizer.plan.schedule import resolve_setup
from fusionizer.reconciler.revision import Loaded, shown_as
from fusionizer.reconciler.state import PlanState

MAX_NOTES = 10  # in text output; -o json has them all

SYMBOLS = {"fuse": ("+", "green"), "split": ("-", "red"), "regroup": ("~", "yellow"), "rename": ("~", "yellow")}


@click.command("suggest")
@source_options
@click.option("--write", is_flag=True, help="Rewrite spec.fusion.groups in the plan file (comments kept).")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--timeout", type=click.FloatRange(min=0.1), default=DEFAULT_TIMEOUT_S, show_default=True,
              help="Seconds the optimizer may take (import, construction, and the proposal each).")
def suggest(where: Target, write: bool, output: str, timeout: float) -> None:
    """Propose a fusion setup from the calls the plan's functions observed.

    Prints the changes with the optimizer's reasons and the plan diff; --write applies the
    diff to the plan file (not to the platform). Exits 1 when the optimizer fails.

    \b
    Examples:
      fusionizer suggest
      fusionizer suggest --write && git diff fusionizer.yaml
      fusionizer suggest -o json --timeout 30
    """
    if write and where.git_url is not None:
        raise FusionizerError("suggest --write edits a plan file; with --git, print the diff and commit it yourself")
    loaded = where.load()
    stats = collect(loaded.platform, plan_functions(loaded.platform, loaded.plan.name))
    outcome = propose(loaded, stats, timeout)
    text = loaded.plan.file.read_text(encoding="utf-8")
    new_text = groups_text(text, outcome.proposed) if outcome.changed else text
    diff = _diff(text, new_text, shown_as(loaded.snapshot).name)
    written = write and outcome.changed and outcome.error is None
    if written:
        write_checked(loaded.plan.file, new_text, shown_as(loaded.snapshot))
    if output == "json":
        click.echo(json.dumps({**outcome.to_json(), "diff": "\n".join(diff), "written": written, "traces": {
            "calls": stats.calls, "functions": list(stats.functions), "unreachable": list(stats.unreachable)}},
            indent=2))
    else:
        click.echo(f"Optimizer {outcome.optimizer} on plan {loaded.plan.name}: {stats.calls} call(s) recorded by "
                   f"{len(stats.functions)} function(s), proposal in {outcome.seconds * 1000:.0f} ms")
        for line in unreachable_lines(stats):
            click.echo(line)
        _print(loaded, outcome, diff, written, write)
    if outcome.error is not None:
        raise click.exceptions.Exit(1)


def propose(loaded: Loaded, stats: CallStats, timeout: float) -> Outcome:
    """Run the plan's optimizer on ``stats``; a broken one answers the current setup."""
    plan = loaded.plan
    now = datetime.now(timezone.utc)
    anchor = PlanState.of(loaded.platform, plan.name).anchor(plan) or now
    current = resolve_setup(plan, anchor, now).groups
    name = spec_of(plan).class_path
    try:
        optimizer = load_optimizer(plan, timeout)
    except OptimizerError as exc:
        return Outcome(name, current, current, error=exc)
    return run_optimizer(optimizer, OptimizerInput(plan, current, stats, now, anchor), name, timeout)


def _diff(old: str, new: str, name: str) -> List[str]:
    return [line.rstrip("\n") for line in difflib.unified_diff(
        old.splitlines(True), new.splitlines(True), f"a/{name}", f"b/{name}")]


def _print(loaded: Loaded, outcome: Outcome, diff: List[str], written: bool, write: bool) -> None:
    if outcome.error is not None:
        click.echo(click.style(f"Error: the optimizer failed ({outcome.error.kind}): {outcome.error}; "
                               f"the current setup stays", fg="red"), err=True)
        return
    if not outcome.changed:
        click.echo("No changes: the current setup is what the optimizer proposes.")
    for change in outcome.changes:
        click.echo("\n".join(change_lines(change)))
    notes = outcome.notes
    for note in notes[:MAX_NOTES]:
        click.echo(f"  note: {note}")
    if len(notes) > MAX_NOTES:
        click.echo(f"  ... and {len(notes) - MAX_NOTES} more note(s) (-o json has them all)")
    if diff:
        click.echo("")
        for line in diff:
            colour = "green" if line.startswith("+") else "red" if line.startswith("-") else None
            click.echo(click.style(line, fg=colour))
    if written:
        click.echo(f"\nWrote {loaded.plan.file}: review and commit it, then `fusionizer apply` (or push).")
    elif outcome.changed and not write:
        click.echo("\nRun again with --write to make this change to the plan file.")


def change_lines(change: Change) -> List[str]:
    symbol, colour = SYMBOLS[change.action]
    head = click.style(f"{symbol} {change.action}", fg=colour, bold=True)
    lines = [f"  {head}: {_groups(change.before)}  ->  {_groups(change.after)}"]
    lines += [f"      because {reason}" for reason in change.reasons]
    return lines


def _groups(groups: Sequence[Group]) -> str:
    return " + ".join(f"{g.name or ''}[{', '.join(g.tasks)}]" for g in groups)
