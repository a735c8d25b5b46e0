"""``fusionizer traces``: the calls between the plan's tasks, as its functions recorded them.

Asks every ready function of the plan for its traces through the platform (no server
needed) and prints one row per caller -> callee: calls, share of all calls, how many were
in-process and synchronous, p50/p95 duration; then the requests each task served.
``-o json`` prints :func:`fusionizer.optimize.traces.stats_json`, as the server's ``/-/traces``.
"""

from __future__ import annotations

import json
from typing import List, Optional

import click

from fusionizer.cli import render
from fusionizer.cli.context import Target, source_options
from fusionizer.optimize.api import CallStats
from fusionizer.optimize.collect import collect, plan_functions
from fusionizer.optimize.traces import stats_json


@click.command("traces")
@source_options
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def traces(where: Target, output: str) -> None:
    """Collect the call traces of every function of the plan and aggregate them per edge.

    Each function is asked through the platform (no server needed); one that does not
    answer is named, and the others still count.

    \b
    Examples:
      fusionizer traces
      fusionizer traces -o json
      fusionizer traces --platform nuctl
    """
    loaded = where.load()
    records = plan_functions(loaded.platform, loaded.plan.name)
    stats = collect(loaded.platform, records)
    if output == "json":
        click.echo(json.dumps(stats_json(stats), indent=2))
        return
    click.echo(f"Traces of plan {loaded.plan.name}: {stats.calls} call(s) recorded by "
               f"{len(stats.functions)} function(s)")
    for line in unreachable_lines(stats):
        click.echo(line)
    click.echo(edges_table(stats) if stats.edges else "No calls between tasks recorded yet.")
    if stats.served:
        click.echo("\nRequests served:")
        click.echo(render.table(
            [[s.task, str(s.count), _ms(s.p50_s), _ms(s.p95_s)] for s in stats.served.values()],
            ["TASK", "REQUESTS", "P50", "P95"],
        ))


def edges_table(stats: CallStats) -> str:
    rows = [[
        f"{e.caller} -> {e.callee}", str(e.count), f"{e.share:.1%}", f"{e.local}/{e.count}", f"{e.sync}/{e.count}",
        _ms(e.p50_s), _ms(e.p95_s),
    ] for e in stats.edges]
    return render.table(rows, ["CALL", "CALLS", "SHARE", "IN-PROCESS", "SYNC", "P50", "P95"])


def unreachable_lines(stats: CallStats) -> List[str]:
    return [click.style(f"Warning: no traces from {why}", fg="yellow") for why in stats.unreachable]


def _ms(seconds: Optional[float]) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.2f} ms"
