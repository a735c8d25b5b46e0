"""The table of commands; each lives in its own module."""

from __future__ import annotations

from typing import List

import click

ALL: List[click.Command] = []
