"""``fusionizer invoke TASK``: call a task wherever it lives and print what it returned."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Tuple

import click

from fusionizer.cli.context import Target, source_options
from fusionizer.errors import FusionizerError
from fusionizer.platforms.base import InvokeRequest
from fusionizer.reconciler.reconcile import owned


@click.command("invoke", short_help="Call a task wherever it lives; print its answer.")
@click.argument("task")
@source_options
@click.option("--body", "-b", default="", metavar="JSON|@FILE",
              help="Request body: JSON text (sent as application/json), other text, or @path to a file.")
@click.option("-H", "--header", "headers", multiple=True, metavar="'K: V'", help="Extra request header (repeatable).")
@click.option("-X", "--method", default="POST", show_default=True, help="HTTP method.")
@click.option("-i", "--include", is_flag=True, help="Print the status line and response headers too.")
def invoke(task: str, where: Target, body: str, headers: Tuple[str, ...], method: str, include: bool) -> None:
    """Invoke TASK in the function that serves it and print the response body.

    Exits 1 when the task answers with an HTTP error status (>= 400).
    """
    loaded = where.load()
    if task not in loaded.plan.tasks:
        raise FusionizerError(f"task '{task}' is not in plan {loaded.plan.name}; tasks: {', '.join(loaded.plan.tasks)}")
    records = owned(loaded.platform.list(), loaded.plan.name)
    serving = [r for r in records.values() if task in r.tasks() and r.serving]
    if not serving:
        raise FusionizerError(f"no ready function serves task '{task}'; run `fusionizer apply` (and see `fusionizer status`)")
    payload, content_type = _body(body)
    request_headers = {"Content-Type": content_type} if content_type else {}
    request_headers.update(_headers(headers))
    response = loaded.platform.invoke(serving[0], task, InvokeRequest(method.upper(), "/", request_headers, payload))
    if include:
        click.echo(f"HTTP {response.status}")
        for key, value in response.headers.items():
            click.echo(f"{key}: {value}")
        click.echo()
    click.echo(response.body.decode(errors="replace"))
    if response.status >= 400:
        raise FusionizerError(f"task '{task}' answered HTTP {response.status}")


def _body(raw: str) -> Tuple[bytes, str]:
    if raw.startswith("@"):
        path = Path(raw[1:])
        try:
            data = path.read_bytes()
        except OSError as e:
            raise FusionizerError(f"cannot read --body file {path}: {e.strerror}") from None
        return data, "application/json" if path.suffix == ".json" else "application/octet-stream"
    if not raw:
        return b"", ""
    try:
        json.loads(raw)
    except ValueError:
        return raw.encode(), "text/plain"
    return raw.encode(), "application/json"


def _headers(raw: Tuple[str, ...]) -> Dict[str, str]:
    headers: Dict[str, str] = {}
    for item in raw:
        key, sep, value = item.partition(":")
        if not sep or not key.strip():
            raise click.BadParameter(f"'{item}' is not 'Name: value'", param_hint="-H/--header")
        headers[key.strip()] = value.strip()
    return headers
