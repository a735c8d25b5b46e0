"""Routes from platform records: which task is served where, for the gateway's table.

Shared by the local platform's gateway process (records from its store) and ``serve``
(records from ``platform.list()``); each says how to reach a function (``address``).
"""

from __future__ import annotations

from typing import Callable, Iterable, List, Optional

from fusionizer.gateway.routes import RouteEntry
from fusionizer.gateway.upstream import Endpoint
from fusionizer.platforms.base import ANNOTATION_APPLIED_AT, FunctionRecord

Address = Callable[[FunctionRecord], Optional[str]]


def route_entries(records: Iterable[FunctionRecord], address: Address, via_gateway: bool = False) -> List[RouteEntry]:
    """One entry per task of every serving function this fusionizer manages (``via_gateway``:
    the addresses are another gateway's, which routes on to the function)."""
    entries: List[RouteEntry] = []
    for record in records:
        plan = record.plan()
        url = address(record) if plan is not None and record.serving else None
        if plan is None or not url:
            continue
        try:
            endpoint = Endpoint.parse(url)
        except ValueError:
            continue  # not an address the gateway can call; the function stays unrouted
        rank = record.annotations.get(ANNOTATION_APPLIED_AT, "")
        entries.extend(RouteEntry(task, plan, record.name, endpoint, rank, via_gateway) for task in record.tasks())
    return entries


def local_address(record: FunctionRecord) -> Optional[str]:
    return f"http://127.0.0.1:{record.http_port}" if record.http_port else None
