"""The routing table: which function serves a task now, and where it listens.

Whoever knows the functions feeds the table (the local platform's gateway from its store,
``serve`` from ``platform.list()``) with :class:`RouteEntry` values; the gateway only looks
tasks up. A table is replaced whole, so a lookup never sees half an update. A task served
by several functions of one plan (the moment a fusion change has created the new function
and not yet deleted the old) goes to the newest; served by several plans, to the caller's
plan (``Fusionizer-Plan``), else it is ambiguous.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterable, List, Optional, Tuple

from fusionizer.gateway.upstream import Endpoint


@dataclass(frozen=True)
class RouteEntry:
    task: str
    plan: str
    function: str
    endpoint: Endpoint
    rank: str = ""  # newer deploys sort higher (e.g. the applied-at timestamp)
    via_gateway: bool = False  # the endpoint is another gateway: tell it the plan


@dataclass(frozen=True)
class Lookup:
    """The answer for one task: a target, or why there is none."""

    target: Optional[RouteEntry]
    plans: Tuple[str, ...] = ()  # the plans serving the task when the answer is ambiguous


class RoutingTable:
    def __init__(self, entries: Iterable[RouteEntry] = ()) -> None:
        self._lock = threading.Lock()
        self._by_task: Dict[str, Dict[str, RouteEntry]] = {}
        self._endpoints: FrozenSet[Endpoint] = frozenset()
        self.replace(entries)

    def replace(self, entries: Iterable[RouteEntry]) -> FrozenSet[Endpoint]:
        """Install a new table; returns the endpoints no longer routed to."""
        by_task: Dict[str, Dict[str, RouteEntry]] = {}
        for entry in entries:
            plans = by_task.setdefault(entry.task, {})
            held = plans.get(entry.plan)
            if held is None or (entry.rank, entry.function) > (held.rank, held.function):
                plans[entry.plan] = entry
        endpoints = frozenset(e.endpoint for plans in by_task.values() for e in plans.values())
        with self._lock:
            gone = self._endpoints - endpoints
            self._by_task, self._endpoints = by_task, endpoints
        return gone

    def lookup(self, task: str, plan: Optional[str]) -> Lookup:
        plans = self._by_task.get(task)
        if not plans:
            return Lookup(None)
        if plan is not None and plan in plans:
            return Lookup(plans[plan])
        if len(plans) == 1:
            return Lookup(next(iter(plans.values())))
        return Lookup(None, tuple(sorted(plans)))

    def serves(self, task: str) -> bool:
        """Whether some function serves ``task`` now (in one plan or several)."""
        return bool(self._by_task.get(task))

    def entries(self) -> List[RouteEntry]:
        return [entry for plans in self._by_task.values() for entry in plans.values()]

    def routes_to(self, endpoint: Endpoint) -> bool:
        return endpoint in self._endpoints
