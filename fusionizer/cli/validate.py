"""``fusionizer validate``: schema and semantic checks of a plan, changing nothing.

Prints one ``FILE:LINE:COL: severity: message (json.path)`` line per finding and a summary,
or, with ``-o json``, one object in the spirit of ``terraform validate -json``. Exits 0 when
the plan is valid and 1 when it is not; user mistakes never produce a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

import click

from fusionizer.cli.context import Target, source_options
from fusionizer.errors import Diagnostic
from fusionizer.optimize.loading import check_optimizer
from fusionizer.plan.model import Plan
from fusionizer.plan.schedule import complete_groups
from fusionizer.reconciler.revision import Loaded, shown_as


@click.command("validate")
@source_options
@click.option(
    "-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="text: one line per finding; json: one machine-readable object.",
)
def validate(where: Target, output: str) -> None:
    """Check the plan (schema + semantic checks) and report every problem as FILE:LINE:COL.

    A spec.optimizer is imported and built with its options. Nothing is built or deployed.
    Exit status: 0 valid, 1 invalid.

    \b
    Examples:
      fusionizer validate
      fusionizer validate --strict -o json
      fusionizer validate --git https://example.com/shop.git --ref main
    """
    revision = where.read()
    plan = revision.plan if isinstance(revision, Loaded) else None
    diagnostics = list(revision.diagnostics)
    shown = shown_as(revision.snapshot)
    if plan is not None:
        diagnostics += check_optimizer(plan, shown)  # imports the plan's optimizer module
        plan = None if any(d.severity == "error" for d in diagnostics) else plan
    if output == "json":
        click.echo(json.dumps(to_json(plan, diagnostics), indent=2))
    else:
        for diagnostic in diagnostics:
            click.echo(diagnostic.render())
        click.echo(summary(shown, plan, diagnostics))
    if plan is None:
        raise click.exceptions.Exit(1)


def to_json(plan: Optional[Plan], diagnostics: List[Diagnostic]) -> Dict[str, Any]:
    return {
        "valid": plan is not None,
        "errors": _count(diagnostics, "error"),
        "warnings": _count(diagnostics, "warning"),
        "diagnostics": [
            {"severity": d.severity, "message": d.message, "file": d.file, "line": d.line, "col": d.col, "path": d.path}
            for d in diagnostics
        ],
    }


def summary(plan_file: Path, plan: Optional[Plan], diagnostics: List[Diagnostic]) -> str:
    warnings = _count(diagnostics, "warning")
    if plan is None:
        errors = _count(diagnostics, "error")
        tail = f", {_plural(warnings, 'warning')}" if warnings else ""
        return f"{plan_file}: {_plural(errors, 'error')}{tail}; the plan is invalid."
    functions = len(complete_groups(plan.groups, plan.tasks))
    tail = f" ({_plural(warnings, 'warning')})" if warnings else ""
    schedule = f", {_plural(len(plan.schedule), 'schedule entry', 'schedule entries')}" if plan.schedule else ""
    return (
        f"{plan_file}: plan {plan.name!r} is valid{tail}: {_plural(len(plan.tasks), 'task')} in "
        f"{_plural(functions, 'function')} by default{schedule}."
    )


def _count(diagnostics: List[Diagnostic], severity: str) -> int:
    return sum(1 for d in diagnostics if d.severity == severity)


def _plural(n: int, word: str, plural: Optional[str] = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"
