"""``nuctl get function(s)`` and ``get project(s)``: json (one object for one item, an
array for several), yaml, text and wide tables; ``No functions found`` for none."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping

import yaml

from nuctl_emulator.console import go_json, write
from nuctl_emulator.context import initialize
from nuctl_emulator.errors import BareStatusError, error
from nuctl_emulator.flags import string_map
from nuctl_emulator.store import PROJECT_LABEL


def cmd_get_functions(options: Dict[str, Any], args: List[str]) -> int:
    ctx = initialize(options)
    ctx.console.log("D", "Getting functions", name=args[0] if args else "", namespace=ctx.namespace)
    records = ctx.store.functions()
    if args:
        records = [r for r in records if r["metadata"]["name"] == args[0]]
    wanted = string_map(options["labels"] or "")
    records = [r for r in records if all((r["metadata"].get("labels") or {}).get(k) == v for k, v in wanted.items())]
    if not records:
        if args:
            raise BareStatusError("No functions found")
        write("No functions found\n")
        return 0
    render(records, options["output"], render_function_table)
    return 0


def render(items: List[Dict[str, Any]], output: str, table: Callable[[List[Dict[str, Any]], bool], str]) -> None:
    """One object for one item, a list for several (nuctl >= 1.11.16)."""
    value: Any = items[0] if len(items) == 1 else items
    if output == "json":
        write(go_json(value) + "\n")
    elif output == "yaml":
        write(yaml.safe_dump(value, sort_keys=True, default_flow_style=False, allow_unicode=True) + "\n")
    elif output in ("text", "wide"):
        write(table(items, output == "wide"))
    else:
        raise error(f"Unknown output format: {output}", "/nuclio/pkg/nuctl/command/get.go", 166)


def render_function_table(records: List[Dict[str, Any]], wide: bool) -> str:
    node_port = any((r.get("status") or {}).get("httpPort") for r in records)
    header = ["NAMESPACE", "NAME", "PROJECT", "STATE", "REPLICAS"] + (["NODE PORT"] if node_port else [])
    if wide:
        header += ["LABELS", "INTERNAL INVOCATION URL", "EXTERNAL INVOCATION URLS"]
    rows = [_function_row(r, node_port, wide) for r in records]
    return table_text(header, rows)


def _function_row(record: Mapping[str, Any], node_port: bool, wide: bool) -> List[str]:
    meta, spec, status = record["metadata"], record["spec"], record.get("status") or {}
    state = status.get("state", "")
    if state == "ready" and spec.get("disable"):
        state = "standby"
    row = [meta["namespace"], meta["name"], (meta.get("labels") or {}).get(PROJECT_LABEL, ""), state, "1/1"]
    if node_port:
        row.append(str(status.get("httpPort") or ""))
    if wide:
        row += [
            ",".join(f"{k}={v}" for k, v in (meta.get("labels") or {}).items()),
            ", ".join(status.get("internalInvocationUrls") or []),
            ", ".join(status.get("externalInvocationUrls") or []),
        ]
    return row


def table_text(header: List[str], rows: List[List[str]]) -> str:
    widths = [max(len(c) for c in column) for column in zip(header, *rows)]

    def line(cells: List[str]) -> str:
        return "  " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + "  \n"

    rule = "--" + "-+-".join("-" * w for w in widths) + "--\n"
    return line(header) + rule + "".join(line(r) for r in rows)


def cmd_get_projects(options: Dict[str, Any], args: List[str]) -> int:
    ctx = initialize(options)
    projects = [p for p in ctx.store.projects() if not args or p["metadata"]["name"] == args[0]]
    if not projects:
        if args:
            raise BareStatusError("No projects found")
        write("No projects found\n")
        return 0
    render(
        projects,
        options["output"],
        lambda items, wide: table_text(
            ["NAMESPACE", "NAME"], [[p["metadata"]["namespace"], p["metadata"]["name"]] for p in items]
        ),
    )
    return 0
