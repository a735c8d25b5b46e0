"""Time arguments: ``--at TIME`` (an ISO 8601 instant, or ``+DURATION`` from now) and
``--since`` (a DURATION back from now, or an instant)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

import click

from fusionizer.plan.values import DURATION_HELP, parse_duration, parse_time


class _Time(click.ParamType[datetime]):
    name = "TIME"

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        if text.startswith("+"):
            delta = parse_duration(text[1:])
            if delta is None:
                self.fail(f"'{text}' is not +DURATION ({DURATION_HELP})", param, ctx)
            return datetime.now(timezone.utc) + delta
        moment = parse_time(text)
        if moment is None:
            self.fail(f"'{text}' is not an ISO 8601 time such as 2026-12-01T08:00:00Z, nor +DURATION", param, ctx)
        return moment


TIME = _Time()


class _Since(click.ParamType[datetime]):
    """``--since``: a DURATION back from now (``10m``, as kubectl and docker take it) or an instant."""

    name = "DURATION|TIME"

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        delta = parse_duration(text)
        if delta is not None:
            return datetime.now(timezone.utc) - delta
        moment = parse_time(text)
        if moment is None:
            self.fail(f"'{text}' is neither a DURATION ({DURATION_HELP}) nor an ISO 8601 time", param, ctx)
        return moment


SINCE = _Since()
