"""The ``fusionizer`` command: a click group, one module per command, one error handler.

Expected failures (:class:`fusionizer.errors.FusionizerError`) print their message and exit
1; Ctrl-C exits 130; anything else is a bug: exit 3, with the traceback written to
``$FUSIONIZER_HOME/crash.log`` instead of the screen.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Optional, Sequence

import click

from fusionizer import __version__, paths
from fusionizer.errors import FusionizerError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="fusionizer")
def cli() -> None:
    """Fuse Nuclio tasks into functions, declaratively.

    Keep your tasks and a fusionizer.yaml in a directory or a git repo; the fusionizer
    builds each fusion group into ONE Nuclio function and reconciles the platform to it.
    """


def _register() -> None:
    from fusionizer.cli import commands

    for command in commands.ALL:
        cli.add_command(command)


def _crash_report() -> Path:
    log = paths.private_file(paths.private_dir(paths.home()) / "crash.log")
    with open(log, "a") as out:
        out.write(f"--- fusionizer {__version__}, python {sys.version.split()[0]}, argv {sys.argv}\n")
        out.write(traceback.format_exc())
    return log


def main(argv: Optional[Sequence[str]] = None) -> int:
    _register()
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
