"""Time arguments: ``--at TIME`` (an ISO 8601 instant, or ``+DURATION`` from now) and
``--since`` (a DURATION back from now, as kubectl and docker take it, or an instant)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

import click

from fusionizer.plan.values import DURATION_HELP, parse_duration, parse_time, time_problem


class _Moment(click.ParamType[datetime]):
    """An ISO 8601 instant, or a duration from now written after ``prefix``, ahead
    (``sign`` 1) or back (``sign`` -1)."""

    def __init__(self, name: str, prefix: str, sign: int, problem: str) -> None:
        self.name, self.prefix, self.sign, self.problem = name, prefix, sign, problem

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        if text.startswith(self.prefix):
            try:
                delta = parse_duration(text[len(self.prefix):])
            except ValueError as e:  # longer than any time we can name
                self.fail(str(e), param, ctx)
            if delta is not None:
                return datetime.now(timezone.utc) + self.sign * delta
            if self.prefix:
                self.fail(f"'{text}' is not {self.prefix}DURATION ({DURATION_HELP})", param, ctx)
        moment = parse_time(text)
        if moment is None:
            self.fail(time_problem(text) or f"'{text}' is {self.problem}", param, ctx)
        return moment


TIME = _Moment("TIME", "+", 1, "not an ISO 8601 time such as 2026-12-01T08:00:00Z, nor +DURATION")
SINCE = _Moment("DURATION|TIME", "", -1, f"neither a DURATION ({DURATION_HELP}) nor an ISO 8601 time")
