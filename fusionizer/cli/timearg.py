"""The ``--at TIME`` argument: an ISO 8601 instant, or ``+DURATION`` from now."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

import click

from fusionizer.plan.values import DURATION_HELP, parse_duration, parse_time, time_problem


class _Time(click.ParamType[datetime]):
    name = "TIME"

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        if text.startswith("+"):
            try:
                delta = parse_duration(text[1:])
            except ValueError as e:
                self.fail(str(e), param, ctx)
            if delta is None:
                self.fail(f"'{text}' is not +DURATION ({DURATION_HELP})", param, ctx)
            return datetime.now(timezone.utc) + delta
        moment = parse_time(text)
        if moment is None:
            self.fail(time_problem(text) or f"'{text}' is not an ISO 8601 time such as 2026-12-01T08:00:00Z, nor "
                      f"+DURATION", param, ctx)
        return moment


TIME = _Time()
