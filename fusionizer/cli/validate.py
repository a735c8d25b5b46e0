"""``fusionizer validate``: schema and semantic checks of a plan, changing nothing.

Prints one ``FILE:LINE:COL: severity: message (json.path)`` line per finding and a summary,
or, with ``-o json``, one object in the spirit of ``terraform validate -json``. Exits 0 when
the plan is valid and 1 when it is not; user mistakes never produce a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import click

from fusionizer.errors import Diagnostic
from fusionizer.plan.loader import DEFAULT_PLAN_FILE, check_plan
from fusionizer.plan.model import Plan
from fusionizer.plan.schedule import complete_groups


@click.command("validate", short_help="Check the plan and report every problem at once.")
@click.option(
    "-f", "--file", "plan_file", type=click.Path(path_type=Path), default=None,
    help=f"The plan file [default: ./{DEFAULT_PLAN_FILE}].",
)
@click.option("--git", "git_url", metavar="URL", help="Validate the plan of this git repo (URL or path) instead.")
@click.option("--ref", metavar="REF", help="Branch, tag or commit of --git [default: the remote's HEAD].")
@click.option("--plan-path", metavar="P", help=f"Path of the plan file inside the --git repo [default: {DEFAULT_PLAN_FILE}].")
@click.option("--strict", is_flag=True, help="Treat warnings as errors (e.g. a group naming an undefined task).")
@click.option(
    "-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="text: one line per finding; json: one machine-readable object.",
)
def validate(
    plan_file: Optional[Path], git_url: Optional[str], ref: Optional[str], plan_path: Optional[str],
    strict: bool, output: str,
) -> None:
    """Check the plan (schema + semantic checks) and report every problem as FILE:LINE:COL.

    Nothing is built or deployed. Exit status: 0 valid, 1 invalid.
    """
    path, shown, tree = _locate(plan_file, git_url, ref, plan_path)
    plan, diagnostics = check_plan(path, strict=strict, shown_as=shown, tree=tree)
    if output == "json":
        click.echo(json.dumps(to_json(plan, diagnostics), indent=2))
    else:
        for diagnostic in diagnostics:
            click.echo(diagnostic.render())
        click.echo(summary(shown, plan, diagnostics))
    if plan is None:
        raise click.exceptions.Exit(1)


def _locate(
    plan_file: Optional[Path], git_url: Optional[str], ref: Optional[str], plan_path: Optional[str],
) -> Tuple[Path, Path, Optional[Path]]:
    """``(file to read, name to show, tree)``. A directory plan is read in place, so a missing
    file is reported as a finding; a git plan is read from a snapshot of the ref, and may
    read anything of that checkout."""
    if git_url is None:
        if ref is not None or plan_path is not None:
            raise click.UsageError("--ref and --plan-path go with --git URL.")
        path = plan_file if plan_file is not None else Path(DEFAULT_PLAN_FILE)
        return path, path, None
    if plan_file is not None:
        raise click.UsageError("Either -f/--file or --git can be used, not both; use --plan-path inside a repo.")
    from fusionizer.sources import open_source  # git machinery only when asked for

    snapshot = open_source(None, git_url, ref, plan_path).snapshot()
    return snapshot.plan_file, Path(plan_path or DEFAULT_PLAN_FILE), snapshot.root


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
