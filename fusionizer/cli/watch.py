"""``fusionizer watch``: the GitOps loop on a directory or a git repository.

The log goes to stderr; ``-o json`` also prints one JSON object per run on stdout (JSON
lines), for a supervisor or a dashboard to read.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any, Callable, Dict

import click

from fusionizer.cli import render
from fusionizer.cli.context import Target, decorate, source_options
from fusionizer.loop import running
from fusionizer.loop.looping import LOG, Loop, LoopSettings
from fusionizer.loop.reconciling import Runner, RunReport
from fusionizer.loop.watching import Watchers
from fusionizer.reconciler.reconcile import Options


def loop_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The reconcile loop's options, shared by ``watch`` and ``serve``."""
    options = [
        click.option("--interval", default=30.0, show_default=True, type=click.FloatRange(min=0.1), metavar="S",
                     help="Seconds between polls of --git (±10% jitter); a post-receive hook makes them a fallback."),
        click.option("--resync", default=60.0, show_default=True, type=click.FloatRange(min=0), metavar="S",
                     help="Seconds between drift checks that heal deleted or dead functions (0: never)."),
        click.option("--debounce", default=150, show_default=True, type=click.IntRange(min=0), metavar="MS",
                     help="Milliseconds of quiet after a file change before reconciling (-f only)."),
        click.option("--parallel", default=4, show_default=True, type=click.IntRange(1, 64),
                     help="How many functions to deploy at once."),
        click.option("--no-prune", is_flag=True, help="Keep functions that are no longer in the plan."),
        click.option("-v", "--verbose", is_flag=True, help="Also log runs that found nothing to do."),
    ]
    return decorate(func, options)


def loop_settings(where: Target, interval: float, resync: float, debounce: int) -> LoopSettings:
    return LoopSettings(
        poll_interval=interval if where.git_url else None,
        resync_interval=resync or None,
        debounce=debounce / 1000.0,
    )


@click.command("watch")
@source_options
@loop_options
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: also one JSON object per run on stdout (JSON lines); the log stays on stderr.")
def watch(where: Target, interval: float, resync: float, debounce: int, parallel: int,
          no_prune: bool, verbose: bool, output: str) -> None:
    """Reconcile continuously: on every file save (-f) or push (--git), when a scheduled
    fusion setup takes effect, and to heal drift.

    A revision whose plan is invalid is refused: the last good state keeps serving, and
    the refusal shows in `fusionizer status`. Failed runs are retried with backoff
    (1 s doubling to 5 min). Ctrl-C (or SIGTERM) stops after the run in progress.

    \b
    Examples:
      fusionizer watch
      fusionizer watch --git https://example.com/shop.git --interval 60
      fusionizer watch -o json > runs.jsonl
    """
    source = where.source()
    _setup_logging(verbose)
    settings = loop_settings(where, interval, resync, debounce)
    runner = Runner(source, where.platforms, Options(parallel=parallel, prune=not no_prune), strict=where.strict)
    loop = Loop(runner, settings, on_run=_print_json if output == "json" else None)
    watchers = Watchers()
    watched = running.attach(loop, watchers, source)
    polls = f"polls every {interval:g}s; " if where.git_url else ""
    checks = f"drift check every {resync:g}s" if resync else "no drift checks"
    LOG.info(f"watching {source.describe()}: {watched}; {polls}{checks}; Ctrl-C to stop")
    code = running.run(loop, watchers)
    if code:
        click.get_current_context().exit(code)


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    LOG.handlers[:] = [handler]
    LOG.setLevel(logging.DEBUG if verbose else logging.INFO)
    LOG.propagate = False


def _print_json(report: RunReport) -> None:
    click.echo(json.dumps(report_json(report)))


def report_json(report: RunReport) -> Dict[str, object]:
    return {
        "at": render.iso(datetime.now(timezone.utc)), "triggers": [str(t) for t in report.triggers],
        "result": str(report.result), "revision": report.revision, "serving": report.serving,
        "done": dict(report.done), "functions": list(report.functions), "error": report.error,
        "warnings": list(report.warnings), "kept": report.kept, "retryIn": report.retry_in,
        "nextDue": render.iso(report.next_due) if report.next_due else None, "seconds": round(report.seconds, 3),
    }
