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

DURATION_HELP = "whole numbers with units d, h, m, s in that order, e.g. 40s, 5m, 1h30m, 2d"
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
    """``1h30m`` -> 90 minutes; None if ``text`` is not in the grammar (see DURATION_HELP)."""
    match = _DURATION.match(text)
    if not match:
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def parse_time(text: str) -> Optional[datetime]:
    """An RFC 3339 timestamp (a time zone is required) -> aware datetime; None if invalid.

    Hand-rolled because ``datetime.fromisoformat`` only accepts ``Z`` from Python 3.11 on,
    and accepts times without a zone, which would be ambiguous in a schedule.
    """
    match = _RFC3339.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone = match.group(7), match.group(8)
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=_zone(zone))
    except ValueError:  # e.g. month 13 or 25:00
        return None


def _zone(text: str) -> timezone:
    if text in ("Z", "z"):
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
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
