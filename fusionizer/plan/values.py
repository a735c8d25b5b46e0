"""Parsing and checking the small value types of a plan: names, durations, times, runtimes.

Pure functions with no I/O, shared by the loader and by anything else that takes the same
values from users (the HTTP API validates task names with :func:`is_dns_label`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Optional, Tuple

MAX_NAME = 63  # Kubernetes/Nuclio object names and label values

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Same grammar as the schema's pattern: units in decreasing order, each at most once.
_DURATION = re.compile(r"^(?=[0-9])(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$")
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)

MAX_DURATION_DAYS = 36_500  # 100 years: any anchor plus this stays a representable time

DURATION_HELP = "whole numbers with units d, h, m, s in that order, e.g. 40s, 5m, 1h30m, 2d"
TIME_HELP = "write date, time and zone, e.g. 2030-01-01T00:00:00Z or 2030-01-01T08:00:00+01:00"
DNS_HELP = (
    "use lowercase letters, digits and '-' only, starting and ending with a letter or digit, "
    f"at most {MAX_NAME} characters"
)

# Nuclio 1.14.1 builds these Python runtimes; "python" means python:3.9 (reference/nuclio.md §2).
SUPPORTED_RUNTIMES = ("python:3.9", "python:3.10", "python:3.11")
DEPRECATED_RUNTIMES = ("python:3.7", "python:3.8")  # Nuclio builds them with a warning
DEFAULT_PYTHON = "python:3.9"


def is_dns_label(name: str) -> bool:
    return len(name) <= MAX_NAME and bool(_DNS_LABEL.match(name))


def suggest_dns_label(name: str) -> str:
    """A DNS-1123 label close to ``name`` (``Order_Check`` -> ``order-check``), for hints."""
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    return label[:MAX_NAME].rstrip("-") or "task"


def parse_duration(text: str) -> Optional[timedelta]:
    """``1h30m`` -> 90 minutes; None if ``text`` is not in the grammar (see DURATION_HELP).

    Raises ValueError, with advice, for a duration longer than :data:`MAX_DURATION_DAYS`.
    """
    match = _DURATION.match(text)
    if not match:
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds  # exact: Python ints do not overflow
    if total > MAX_DURATION_DAYS * 86_400:
        raise ValueError(f"{text} is longer than {MAX_DURATION_DAYS}d (100 years); write a shorter duration")
    return timedelta(seconds=total)


def parse_time(text: str) -> Optional[datetime]:
    """An RFC 3339 timestamp (a time zone is required) -> aware datetime; None if invalid.

    Hand-rolled because ``datetime.fromisoformat`` only accepts ``Z`` from Python 3.11 on,
    and accepts times without a zone, which would be ambiguous in a schedule.
    """
    try:
        return _time(text)
    except (ValueError, OverflowError):
        return None


def time_problem(text: str) -> Optional[str]:
    """Why :func:`parse_time` refuses a well-formed ``text`` (say, February 30th), as advice;
    None when ``text`` is fine or not in the grammar at all."""
    try:
        _time(text)
    except ValueError as e:  # a date or time that does not exist, e.g. month 13 or 25:00
        return f"{text!r} is not a valid time ({e}); {TIME_HELP}"
    except OverflowError:
        return f"{text!r} is out of range (years 1 to 9999 in UTC); {TIME_HELP}"
    return None


def _time(text: str) -> Optional[datetime]:
    match = _RFC3339.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone = match.group(7), match.group(8)
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    when = datetime(year, month, day, hour, minute, second, micro, tzinfo=_zone(zone))
    when.astimezone(timezone.utc)  # OverflowError when the zone moves it out of years 1-9999
    return when


def _zone(text: str) -> timezone:
    if text in ("Z", "z"):
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 23 or minutes > 59:
        raise ValueError(f"zone offset {text} is not within -23:59 and +23:59")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def normalise_runtime(runtime: str) -> Tuple[str, str]:
    """``(normalised runtime, verdict)`` where verdict is "ok", "deprecated" or "unsupported"."""
    name = runtime.strip()
    if name == "python":
        name = DEFAULT_PYTHON
    if name in SUPPORTED_RUNTIMES:
        return name, "ok"
    if name in DEPRECATED_RUNTIMES:
        return name, "deprecated"
    return name, "unsupported"
