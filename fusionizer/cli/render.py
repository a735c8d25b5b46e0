"""Text rendering shared by the commands: change lines in terraform's spirit, what an update
changes, aligned tables.

Colour is click's: styled here, stripped by ``click.echo`` where stdout is not a terminal
or colour is off (``--no-color``, ``NO_COLOR``). Widths are measured without the colour
codes, so columns line up either way.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Dict, Iterable, List, Optional

import click

from fusionizer.reconciler.deployed import Details
from fusionizer.reconciler.diff import Change
from fusionizer.reconciler.reconcile import PlanResult

SYMBOLS = {"create": ("+", "green"), "update": ("~", "yellow"), "delete": ("-", "red"), "noop": ("=", None)}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_DIFF_COLOURS = {"+": "green", "-": "red", "@": "cyan"}


def width(text: str) -> int:
    """Columns ``text`` takes on screen: its colour codes take none."""
    return len(_ANSI.sub("", text))


def change_lines(changes: List[Change], details: Optional[Dict[str, Details]] = None) -> List[str]:
    """One aligned line per change: ``+ name  create  reason  [tasks]``, and below an update
    what it changes, when ``details`` has it."""
    name_width = max((len(c.function) for c in changes), default=0)
    lines = []
    for change in changes:
        symbol, colour = SYMBOLS[change.action]
        head = click.style(f"{symbol} {change.function.ljust(name_width)}", fg=colour, bold=colour is not None)
        lines.append(f"  {head}  {change.action:<6}  {change.reason}  [{', '.join(change.tasks)}]")
        if details and change.function in details:
            lines.extend(detail_lines(details[change.function]))
    return lines


def detail_lines(details: Details) -> List[str]:
    """``tasks: + c, - d`` / ``files: ~ tasks/b/main.py`` / ``env: ~ GREETING`` ..., then any diff."""
    indent = "      "
    if details.unknown:
        return [click.style(f"{indent}{details.unknown}", dim=True)]
    rows = [
        ("tasks", [f"+ {t}" for t in details.tasks_added] + [f"- {t}" for t in details.tasks_removed]),
        ("files", [f"+ {f}" for f in details.files_added] + [f"- {f}" for f in details.files_removed]
         + [f"~ {f}" for f in details.files_changed]),
        ("env", [f"~ {k}" for k in details.env]),
        ("build", [f"~ {k}" for k in details.build]),
        ("config", [f"~ {k}" for k in details.config]),
    ]
    lines = [f"{indent}{label}: {', '.join(items)}" for label, items in rows if items]
    if not lines:
        lines = [f"{indent}no file or setting changed (the runtime or the build rules did)"]
    return lines + [f"{indent}{_diff_colour(line)}" for text in details.diffs for line in text.splitlines()]


def _diff_colour(line: str) -> str:
    if line.startswith(("+++", "---")):
        return click.style(line, bold=True)
    colour = _DIFF_COLOURS.get(line[:1])
    return click.style(line, fg=colour) if colour else line


def summary_line(summary: Dict[str, int], verb: str = "Plan") -> str:
    return (f"{verb}: {summary['create']} to create, {summary['update']} to update, "
            f"{summary['delete']} to delete, {summary['noop']} unchanged.")


def setup_line(result: PlanResult) -> str:
    setup = result.setup
    which = "default setup" if setup.entry is None else f"schedule entry #{setup.entry + 1}"
    line = f"Fusion setup: {which} ({len(setup.groups)} function(s))"
    if setup.next_due is not None:
        line += f"; next schedule entry due {iso(setup.next_due)}"
    return line


def warning_lines(result: PlanResult) -> List[str]:
    return [click.style(f"Warning: {warning}", fg="yellow") for warning in result.warnings]


def iso(moment: Optional[datetime]) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z") if moment else "-"


def table(rows: List[List[str]], headers: Iterable[str]) -> str:
    """Columns padded to the widest cell, measured without colour codes."""
    all_rows = [list(headers)] + rows
    widths = [max(width(r[i]) for r in all_rows) for i in range(len(all_rows[0]))]
    return "\n".join(
        "  ".join(cell + " " * (w - width(cell)) for cell, w in zip(r, widths)).rstrip() for r in all_rows
    )
