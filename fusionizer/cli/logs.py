"""``fusionizer logs TASK|FUNCTION``: a function's log, wherever the platform keeps it.

The local platform reads the function's log file; nuctl reads the pods' log with
``kubectl logs`` or the container's with ``docker logs`` (:meth:`Platform.logs`). A task's
name stands for the function that serves it. ``--task`` keeps the lines of one task: those
its logger wrote (``context.logger`` is bound to ``task=<name>`` in a fused function) and
the records of its exceptions. A traceback quoted in a log record is printed below it,
from the task's own code on.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Dict, Optional, Tuple

import click

from fusionizer.cli import tracebacks
from fusionizer.cli.completion import complete_tasks
from fusionizer.cli.context import Target, long_source_options, unknown
from fusionizer.cli.timearg import SINCE
from fusionizer.errors import FusionizerError
from fusionizer.platforms.base import FunctionRecord

# ``'task': 'payment'`` (the local processor's Python repr) or ``"task": "payment"`` (JSON, Nuclio's logs).
_TAGGED = re.compile(r"""['"]task['"]\s*:\s*['"](?P<task>[a-z0-9]([-a-z0-9]*[a-z0-9])?)['"]""")


@click.command("logs")
@click.argument("name", metavar="TASK|FUNCTION", shell_complete=complete_tasks)
@long_source_options
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines as they come (Ctrl-C to stop).")
@click.option("--since", type=SINCE, help="Only lines since then: a duration back (10m, 1h30m) or an ISO 8601 time.")
@click.option("--task", "only_task", metavar="TASK", shell_complete=complete_tasks,
              help="Only the lines of this task (its logger's records and its exceptions).")
def logs(name: str, where: Target, follow: bool, since: Optional[datetime], only_task: Optional[str]) -> None:
    """Print the log of FUNCTION, or of the function that serves TASK.

    The plan file is --file here: -f is --follow, as in kubectl and docker.

    \b
    Examples:
      fusionizer logs demo-billing
      fusionizer logs payment --since 10m
      fusionizer logs demo-billing --task notify -f
    """
    deployment = where.deployed()
    records = deployment.records()
    function = _function(name, records, deployment.known_tasks(records), deployment.plan)
    if only_task is not None and only_task not in function.tasks():
        raise unknown("task", only_task, function.tasks(), f"served by {function.name}")
    for line in deployment.platform.logs(function.name, since, follow):
        if only_task is None or line_task(line) == only_task:
            for shown in tracebacks.expand(line):
                click.echo(shown)


def line_task(line: str) -> Optional[str]:
    """The task a log line belongs to: its ``task`` tag, else the task a traceback in it starts in."""
    match = _TAGGED.search(line)
    return match.group("task") if match else tracebacks.task_of(line)


def _function(name: str, records: Dict[str, FunctionRecord], tasks: Tuple[str, ...], plan: str) -> FunctionRecord:
    if name in records:
        return records[name]
    serving = sorted((r for r in records.values() if name in r.tasks()), key=lambda r: not r.serving)
    if serving:
        return serving[0]
    if name in tasks:
        raise FusionizerError(f"no function serves task '{name}' yet; run `fusionizer apply` (see `fusionizer status`)")
    raise unknown("task or function", name, [*tasks, *records], f"in plan {plan}")
