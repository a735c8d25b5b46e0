"""``fusionizer apply``: reconcile the platform to the plan, once (e.g. in CI).

While deploys run it says so every few seconds (``still deploying demo-billing [10s]``),
on a terminal and off it (CI logs, the git hook's ``remote:`` lines).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from typing import Callable, Dict, Iterator, Optional, Tuple

import click

from fusionizer.cli import render
from fusionizer.cli.context import Target, describe, source_options, warn
from fusionizer.cli.plan import plan_json
from fusionizer.cli.timearg import TIME
from fusionizer.errors import FusionizerError
from fusionizer.reconciler.diff import Change, summarize
from fusionizer.reconciler.execute import ChangeStatus, Outcome, Progress
from fusionizer.reconciler.reconcile import ApplyResult, Options
from fusionizer.reconciler.revision import Refused, apply_revision, record_refusal

_VERBS = {"create": "created", "update": "updated", "delete": "deleted"}
_ONGOING = {"create": "deploying", "update": "deploying", "delete": "deleting"}
TICK_SECONDS = 5.0  # how often a deploy in progress is reported


@click.command("apply")
@source_options
@click.option("--dry-run", is_flag=True, help="Compute and show the changes; deploy nothing.")
@click.option("--parallel", default=4, show_default=True, type=click.IntRange(1, 64),
              help="How many functions to deploy at once.")
@click.option("--no-prune", is_flag=True, help="Keep functions that are no longer in the plan.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when something changed, 0 when nothing did.")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--at", "at", type=TIME, help="Apply the fusion setup scheduled for this instant.")
@click.option("--lock-timeout", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Seconds to wait for another apply of this plan to finish.")
@click.option("--adopt", is_flag=True, help="Take over functions of the plan's names that it does not own.")
@click.pass_context
def apply(ctx: click.Context, where: Target, dry_run: bool, parallel: int, no_prune: bool, detailed_exitcode: bool,
          output: str, at: Optional[datetime], lock_timeout: float, adopt: bool) -> None:
    """Reconcile the platform to the plan once: deploy what changed, then prune.

    Creates and updates run in parallel and each waits until its function is ready;
    functions no longer in the plan are deleted only after that, and never while they
    still serve a task whose new function failed. Only functions labelled as this plan's
    are ever touched.

    \b
    Examples:
      fusionizer apply
      fusionizer apply --dry-run
      fusionizer apply --git https://example.com/shop.git --ref v1.4 --strict
      fusionizer apply -o json --detailed-exitcode     in CI: exit 2 when something changed
    """
    loaded = where.read()
    if isinstance(loaded, Refused):
        record_refusal(loaded)
        raise loaded.error
    warn(loaded)
    text = output == "text"
    if text:
        click.echo(f"Applying {describe(loaded)}")
    options = Options(parallel=parallel, prune=not no_prune, dry_run=dry_run, at=at, lock_timeout=lock_timeout,
                      adopt=adopt)
    if text:
        with ticking(click.echo) as progress:
            result = apply_revision(loaded, options, progress=progress)
    else:
        result = apply_revision(loaded, options)
    if text:
        _report(result, dry_run)
    else:
        click.echo(json.dumps(_json(result), indent=2))
    if not result.ok:
        raise FusionizerError(f"{len(result.failures)} change(s) failed; the functions they replace keep serving.")
    changed = result.planned.has_changes if dry_run else any(o.status == ChangeStatus.DONE for o in result.outcomes)
    if detailed_exitcode and changed:
        ctx.exit(2)


@contextmanager
def ticking(echo: Callable[[str], None], every: float = TICK_SECONDS) -> Iterator[Progress]:
    """Progress that prints each outcome, and every ``every`` seconds each change still in
    progress (``still deploying demo-billing [10s]``) until the block ends."""
    lock = threading.Lock()
    ongoing: Dict[str, Tuple[str, float]] = {}  # function -> (action, start)
    done = threading.Event()

    def started(change: Change) -> None:
        with lock:
            ongoing[change.function] = (change.action, time.monotonic())
            if sys.stdout.isatty():
                echo(click.style(f"  … {change.function}: {change.action} in progress", dim=True))

    def finished(outcome: Outcome) -> None:
        with lock:
            ongoing.pop(outcome.change.function, None)
            echo(_outcome_line(outcome))

    def tick() -> None:
        while not done.wait(every):
            with lock:
                for function, (action, since) in sorted(ongoing.items()):
                    echo(click.style(f"  still {_ONGOING[action]} {function} [{time.monotonic() - since:.0f}s]",
                                     dim=True))

    ticker = threading.Thread(target=tick, name="apply-progress", daemon=True)
    ticker.start()
    try:
        yield Progress(started, finished)
    finally:
        done.set()
        ticker.join()


def _outcome_line(outcome: Outcome) -> str:
    change = outcome.change
    if outcome.status == ChangeStatus.DONE:
        return click.style(f"  ✓ {change.function} {_VERBS[change.action]} ({outcome.seconds:.1f}s)", fg="green")
    if outcome.status == ChangeStatus.KEPT:
        return click.style(f"  ! {change.function} {outcome.detail}", fg="yellow")
    first, _, rest = outcome.detail.partition("\n")
    body = f"\n{_indent(rest)}" if rest else ""
    return click.style(f"  ✗ {change.function} {change.action} failed: {first}", fg="red") + body


def _report(result: ApplyResult, dry_run: bool) -> None:
    click.echo(render.setup_line(result.planned))
    for line in render.warning_lines(result.planned):
        click.echo(line)
    if dry_run:
        for line in render.change_lines(result.planned.changes):
            click.echo(line)
        click.echo(render.summary_line(result.planned.summary, "Dry run"))
        return
    done = summarize([o.change for o in result.outcomes if o.status == ChangeStatus.DONE])
    failed = len(result.failures)
    verb = "Apply complete" if result.ok else "Apply finished with errors"
    click.echo(f"{verb}: {done['create']} created, {done['update']} updated, {done['delete']} deleted, "
               f"{result.planned.summary['noop']} unchanged" + (f", {failed} failed" if failed else "")
               + f" ({result.seconds:.1f}s).")


def _json(result: ApplyResult) -> dict[str, object]:
    data = plan_json(result.planned)
    data.update({
        "revision": result.revision,
        "ok": result.ok,
        "seconds": round(result.seconds, 3),
        "outcomes": [o.to_json() for o in result.outcomes],
    })
    if result.outcomes:
        data["applied"] = summarize([o.change for o in result.outcomes if o.status == ChangeStatus.DONE])
        data["failed"] = [o.to_json() for o in result.outcomes if o.status == ChangeStatus.FAILED]
    return data


def _indent(text: str) -> str:
    return "\n".join(f"      {line}" for line in text.splitlines())
