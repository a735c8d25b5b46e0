"""Text rendering shared by plan, apply and status: change lines in terraform's spirit."""

from __future__ import annotations

from datetime import datetime
from typing import Dict, Iterable, List, Optional

import click

from fusionizer.reconciler.diff import Change
from fusionizer.reconciler.reconcile import PlanResult

SYMBOLS = {"create": ("+", "green"), "update": ("~", "yellow"), "delete": ("-", "red"), "noop": ("=", None)}


def change_lines(changes: List[Change]) -> List[str]:
    """One aligned line per change: ``+ name  create  reason  [tasks]``."""
    width = max((len(c.function) for c in changes), default=0)
    lines = []
    for change in changes:
        symbol, colour = SYMBOLS[change.action]
        head = click.style(f"{symbol} {change.function.ljust(width)}", fg=colour, bold=colour is not None)
        lines.append(f"  {head}  {change.action:<6}  {change.reason}  [{', '.join(change.tasks)}]")
    return lines


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
    all_rows = [list(headers)] + rows
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(all_rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in all_rows)
