"""The table of commands; each lives in its own module."""

from __future__ import annotations

from typing import List

import click

from fusionizer.cli.apply import apply
from fusionizer.cli.destroy import destroy
from fusionizer.cli.hook import hook
from fusionizer.cli.invoke import invoke
from fusionizer.cli.plan import plan
from fusionizer.cli.serve import serve
from fusionizer.cli.status import status
from fusionizer.cli.validate import validate
from fusionizer.cli.watch import watch

ALL: List[click.Command] = [validate, plan, apply, status, invoke, destroy, watch, serve, hook]
