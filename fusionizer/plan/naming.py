"""Function names: ``<plan>-<group>``, stable for the same task set, valid DNS-1123 labels.

Kubernetes caps names at 63 characters; a name that would be longer keeps a readable
prefix and ends in a short hash of the full name, so it stays unique and stable. The plan
checks (:mod:`fusionizer.plan.setups`) use these names to refuse two functions of one
setup that would share a name; the fuser names what it builds with them.
"""

from __future__ import annotations

import hashlib
from typing import Iterable, Optional

from fusionizer.plan.values import MAX_NAME

_HASH_LEN = 8


def group_name(tasks: Iterable[str], explicit: Optional[str] = None) -> str:
    if explicit:
        return explicit
    return "-".join(sorted(tasks))


def function_name(plan: str, group: str) -> str:
    full = f"{plan}-{group}"
    if len(full) <= MAX_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:_HASH_LEN]
    prefix = full[: MAX_NAME - _HASH_LEN - 1].rstrip("-")
    return f"{prefix}-{digest}"
