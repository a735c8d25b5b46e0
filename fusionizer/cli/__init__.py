"""The ``fusionizer`` command: a click group, one module per command, one error handler.

Commands are looked up in :data:`fusionizer.cli.commands.COMMANDS` and imported only when
used (:class:`LazyGroup`), so ``fusionizer --help`` and completing a command's name import
click and nothing heavy. Colour
follows ``--no-color`` and the ``NO_COLOR`` convention (https://no-color.org), and is
never written where stdout is not a terminal.

Expected failures (:class:`fusionizer.errors.FusionizerError`) print their message and exit
1; Ctrl-C exits 130; anything else is a bug: exit 3, with the traceback written to
``$FUSIONIZER_HOME/crash.log`` instead of the screen.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import click
from click.shell_completion import CompletionItem

from fusionizer import __version__, paths
from fusionizer.cli.commands import COMMANDS
from fusionizer.errors import FusionizerError


def _colour(ctx: click.Context, param: click.Parameter, no_color: bool) -> None:
    if no_color or os.environ.get("NO_COLOR"):
        ctx.color = False


def _no_color_option() -> click.Option:
    return click.Option(["--no-color"], is_flag=True, expose_value=False, is_eager=True, callback=_colour,
                        help="No colour in the output (also: env NO_COLOR).")


class LazyGroup(click.Group):
    """A group whose commands are imported on first use; ``--help`` lists them from the table."""

    def list_commands(self, ctx: click.Context) -> List[str]:
        return list(COMMANDS) + sorted(set(self.commands) - set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> Optional[click.Command]:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return self.commands.get(cmd_name)
        module, _, attribute = COMMANDS[cmd_name].target.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Group):  # `fusionizer status --no-color` works too
            command.params.append(_no_color_option())
        self.commands[cmd_name] = command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl(self._rows(ctx))

    def shell_complete(self, ctx: click.Context, incomplete: str) -> List[CompletionItem]:
        """Command names with their line of the table, as ``--help`` lists them: completing
        a command's name imports none of the commands (click's own would import them all)."""
        names = [CompletionItem(name, help=text) for name, text in self._rows(ctx) if name.startswith(incomplete)]
        return names + click.Command.shell_complete(self, ctx, incomplete)  # the group's own options

    def _rows(self, ctx: click.Context) -> List[Tuple[str, str]]:
        rows = [(name, entry.help) for name, entry in COMMANDS.items()]
        return rows + [(name, self.commands[name].get_short_help_str())
                       for name in self.list_commands(ctx)[len(COMMANDS):]]


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="fusionizer")
def cli() -> None:
    """Fuse Nuclio tasks into functions, declaratively.

    Keep your tasks and a fusionizer.yaml in a directory or a git repo; the fusionizer
    builds each fusion group into ONE Nuclio function and reconciles the platform to it.

    \b
    Examples:
      fusionizer validate                 check ./fusionizer.yaml
      fusionizer plan --diff              what apply would change, line by line
      fusionizer apply                    reconcile once (CI)
      fusionizer logs payment -f          follow one task's log lines
      fusionizer --no-color status        the same answers, plain
    """


cli.params.append(_no_color_option())


def _crash_report() -> Path:
    log = paths.private_file(paths.private_dir(paths.home()) / "crash.log")
    with open(log, "a") as out:
        out.write(f"--- fusionizer {__version__}, python {sys.version.split()[0]}, argv {sys.argv}\n")
        out.write(traceback.format_exc())
    return log


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        # Without standalone mode click returns a command's ctx.exit(n) code instead of exiting.
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="fusionizer", standalone_mode=False)
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except FusionizerError as e:
        click.echo(f"Error: {e}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("Interrupted (^C)", err=True)
        return 130
    except Exception as e:  # noqa: BLE001 - the one place that turns a bug into a report
        log = _crash_report()
        click.echo(f"An unexpected error occurred: {type(e).__name__}: {e}\n"
                   f"This is a bug in fusionizer {__version__}; the traceback is in {log}", err=True)
        return 3
    return code if isinstance(code, int) else 0
