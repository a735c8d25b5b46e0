"""``fusionizer invoke TASK``: call a task wherever it lives and print what it returned.

It asks what is deployed (``Target.deployed``): when the source's newest revision is
broken it still calls the function the last good apply left serving. A handler's exception
(the wrapper's 500 body) is printed with its traceback starting at the task's own code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Tuple

import click

from fusionizer.cli import tracebacks
from fusionizer.cli.completion import complete_tasks
from fusionizer.cli.context import Target, source_options, unknown
from fusionizer.errors import FusionizerError
from fusionizer.platforms.base import InvokeRequest, InvokeResponse


@click.command("invoke")
@click.argument("task", shell_complete=complete_tasks)
@source_options
@click.option("--body", "-b", default="", metavar="JSON|@FILE",
              help="Request body: JSON text (sent as application/json), other text, or @path to a file.")
@click.option("-H", "--header", "headers", multiple=True, metavar="'K: V'", help="Extra request header (repeatable).")
@click.option("-X", "--method", default="POST", show_default=True, help="HTTP method.")
@click.option("-i", "--include", is_flag=True, help="Print the status line and response headers too.")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one object with the task, function, status, headers and body.")
def invoke(task: str, where: Target, body: str, headers: Tuple[str, ...], method: str, include: bool,
           output: str) -> None:
    """Invoke TASK in the function that serves it and print the response body.

    Exits 1 when the task answers with an HTTP error status (>= 400); a handler's
    exception shows its traceback from the task's own code on.

    \b
    Examples:
      fusionizer invoke taska
      fusionizer invoke checkout --body @samples/order.json
      fusionizer invoke payment -b '{"amount_cents": 100}' -H 'X-Trace: 1' -i
      fusionizer invoke taska -o json --git https://example.com/shop.git
    """
    deployment = where.deployed()
    records = deployment.records()
    if task not in deployment.known_tasks(records):
        plan = f"in plan {deployment.plan}" if deployment.tasks is not None else f"served by plan {deployment.plan}"
        raise unknown("task", task, deployment.known_tasks(records), plan)
    serving = [r for r in records.values() if task in r.tasks() and r.serving]
    if not serving:
        raise FusionizerError(f"no ready function serves task '{task}'; run `fusionizer apply` (and see `fusionizer status`)")
    payload, content_type = _body(body)
    request_headers = {"Content-Type": content_type} if content_type else {}
    request_headers.update(_headers(headers))
    response = deployment.platform.invoke(serving[0], task, InvokeRequest(method.upper(), "/", request_headers, payload))
    if output == "json":
        click.echo(json.dumps(_json(task, serving[0].name, response), indent=2))
    else:
        _print(response, include)
    if response.status >= 400:
        raise FusionizerError(f"task '{task}' answered HTTP {response.status}"
                              + (f"; its log: `fusionizer logs {task}`" if response.status >= 500 else ""))


def _print(response: InvokeResponse, include: bool) -> None:
    if include:
        click.echo(f"HTTP {response.status}")
        for key, value in response.headers.items():
            click.echo(f"{key}: {value}")
        click.echo()
    text = response.body.decode(errors="replace")
    click.echo(tracebacks.from_user_code(text) if response.status >= 500 else text)


def _json(task: str, function: str, response: InvokeResponse) -> Dict[str, object]:
    """The body as JSON when it is JSON, else as text (kept as sent: tracebacks whole)."""
    text = response.body.decode(errors="replace")
    try:
        parsed: object = json.loads(text) if "json" in response.content_type else text
    except ValueError:
        parsed = text
    return {"task": task, "function": function, "status": response.status, "headers": dict(response.headers),
            "body": parsed}


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
