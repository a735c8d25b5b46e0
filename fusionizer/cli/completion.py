"""``fusionizer completion bash|zsh|fish``: the shell completion script (click's), and the
completion of task names for ``invoke`` and ``logs`` from the plan a command would read.

Completing reads only a plan file (``-f`` or ``./fusionizer.yaml``), never a git remote:
a key press must not wait on the network.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import click
from click.shell_completion import CompletionItem, get_completion_class

from fusionizer.paths import DEFAULT_PLAN_FILE

SHELLS = ("bash", "zsh", "fish")


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL: commands, options, and the plan's task names.

    \b
    Examples:
      eval "$(fusionizer completion bash)"                   in ~/.bashrc
      eval "$(fusionizer completion zsh)"                    in ~/.zshrc
      fusionizer completion fish > ~/.config/fish/completions/fusionizer.fish
    """
    from fusionizer.cli import cli

    script_class = get_completion_class(shell)
    assert script_class is not None  # every name in SHELLS is one of click's
    click.echo(script_class(cli, {}, "fusionizer", "_FUSIONIZER_COMPLETE").source())


def complete_tasks(ctx: click.Context, param: click.Parameter, incomplete: str) -> List[CompletionItem]:
    """The tasks of the plan file the command would read that start with ``incomplete``."""
    from fusionizer.plan.loader import check_plan

    if ctx.params.get("git_url"):
        return []
    plan_file = ctx.params.get("plan_file") or Path(DEFAULT_PLAN_FILE)
    try:
        plan, _ = check_plan(Path(plan_file))
    except Exception:  # noqa: BLE001 - a broken plan completes nothing; it never breaks the shell
        return []
    names = sorted(plan.tasks) if plan is not None else []
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]
