"""Call traces: what one function answers on ``layout.TRACES_TASK``, and their aggregate.

Each function keeps its latest calls (caller, callee, in-process or not, synchronous or
not, duration, start) and the requests it served (task, handler time), and answers them as
JSON (see ``runtime.dispatcher``). :func:`parse_payload` checks one such answer;
:func:`aggregate` folds the answers of every function of a plan into :class:`CallStats`,
one :class:`EdgeStats` per caller -> callee (count, p50/p95 duration, share of all calls);
:func:`stats_json` is their JSON form, the same for ``fusionizer traces -o json`` and the
server's ``/-/traces``. Pure functions, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from fusionizer.errors import FusionizerError
from fusionizer.optimize.api import CallStats, EdgeStats, TaskStats

# A function keeps at most this many of each (runtime.dispatcher.TRACE_LIMIT); a payload
# with more is not one of ours.
MAX_ENTRIES = 10_000


class TraceError(FusionizerError):
    """A function answered something that is not a trace payload."""


class Call(NamedTuple):
    caller: str
    callee: str
    local: bool
    sync: bool
    duration_s: float
    ts: float


class Served(NamedTuple):
    task: str
    duration_s: float
    ts: float


@dataclass(frozen=True)
class FunctionTraces:
    """One function's answer."""

    function: str
    calls: Tuple[Call, ...]
    served: Tuple[Served, ...]
    limit: int

    @property
    def full(self) -> bool:
        """The function kept as many as it can: older entries were dropped."""
        return max(len(self.calls), len(self.served)) >= self.limit


def parse_payload(data: Any, function: str) -> FunctionTraces:
    """The traces in ``data`` (a parsed JSON answer of ``function``); TraceError if malformed."""
    if not isinstance(data, dict):
        raise TraceError(f"function {function} answered {type(data).__name__}, not a trace object")
    calls = _rows(data, "calls", "callFields", ("caller", "callee", "local", "duration_s", "ts"), function)
    served = _rows(data, "served", "servedFields", ("task", "duration_s", "ts"), function)
    limit = data.get("limit")
    return FunctionTraces(
        function=str(data.get("function") or function),
        calls=tuple(_call(row, function) for row in calls),
        served=tuple(_served(row, function) for row in served),
        limit=limit if isinstance(limit, int) and limit > 0 else MAX_ENTRIES,
    )


def _rows(data: Mapping[str, Any], key: str, fields_key: str, required: Tuple[str, ...],
          function: str) -> List[Dict[str, Any]]:
    """The rows under ``key`` as dicts, named by the payload's own field list."""
    fields, rows = data.get(fields_key), data.get(key, [])
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields) \
            or not set(required) <= set(fields):
        raise TraceError(f"function {function}: {fields_key} must list at least {', '.join(required)}")
    if not isinstance(rows, list) or len(rows) > MAX_ENTRIES:
        raise TraceError(f"function {function}: {key} must be a list of at most {MAX_ENTRIES} rows")
    if not all(isinstance(row, list) and len(row) == len(fields) for row in rows):
        raise TraceError(f"function {function}: every row of {key} must have {len(fields)} fields")
    return [dict(zip(fields, row)) for row in rows]


def _call(row: Mapping[str, Any], function: str) -> Call:
    caller, callee = row["caller"], row["callee"]
    if not isinstance(caller, str) or not isinstance(callee, str):
        raise TraceError(f"function {function}: a call's caller and callee must be task names")
    return Call(caller, callee, row["local"] is True, row.get("sync", True) is not False,
                _seconds(row["duration_s"], function), _seconds(row["ts"], function))


def _served(row: Mapping[str, Any], function: str) -> Served:
    if not isinstance(row["task"], str):
        raise TraceError(f"function {function}: a served request's task must be a task name")
    return Served(row["task"], _seconds(row["duration_s"], function), _seconds(row["ts"], function))


def _seconds(value: Any, function: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise TraceError(f"function {function}: durations and times must be non-negative numbers, got {value!r}")
    return float(value)


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1) of an ascending, non-empty sequence."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class _Edge:
    __slots__ = ("local", "remote", "sync")

    def __init__(self) -> None:
        self.local: List[float] = []
        self.remote: List[float] = []
        self.sync = 0


def aggregate(traces: Iterable[FunctionTraces], unreachable: Sequence[str] = ()) -> CallStats:
    """Per caller -> callee and per served task, over every function's traces."""
    edges: Dict[Tuple[str, str], _Edge] = {}
    served: Dict[str, List[float]] = {}
    functions: List[str] = []
    for one in traces:
        functions.append(one.function)
        for call in one.calls:
            edge = edges.get((call.caller, call.callee))
            if edge is None:
                edge = edges[(call.caller, call.callee)] = _Edge()
            (edge.local if call.local else edge.remote).append(call.duration_s)
            edge.sync += call.sync
        for request in one.served:
            served.setdefault(request.task, []).append(request.duration_s)
    total = sum(len(e.local) + len(e.remote) for e in edges.values())
    return CallStats(
        edges=tuple(_edge_stats(caller, callee, edge, total) for (caller, callee), edge in sorted(edges.items())),
        served={task: _task_stats(task, durations) for task, durations in sorted(served.items())},
        functions=tuple(sorted(functions)),
        unreachable=tuple(unreachable),
    )


def _edge_stats(caller: str, callee: str, edge: _Edge, total: int) -> EdgeStats:
    every = sorted(edge.local + edge.remote)
    return EdgeStats(
        caller=caller, callee=callee, count=len(every), local=len(edge.local), sync=edge.sync,
        p50_s=percentile(every, 0.5), p95_s=percentile(every, 0.95), share=len(every) / total,
        remote_p50_s=_median(edge.remote), local_p50_s=_median(edge.local),
    )


def _median(durations: List[float]) -> Optional[float]:
    return percentile(sorted(durations), 0.5) if durations else None


def _task_stats(task: str, durations: List[float]) -> TaskStats:
    ordered = sorted(durations)
    return TaskStats(task, len(ordered), percentile(ordered, 0.5), percentile(ordered, 0.95))


def stats_json(stats: CallStats) -> Dict[str, Any]:
    """The JSON form of ``stats`` (durations in milliseconds)."""
    return {
        "functions": list(stats.functions),
        "unreachable": list(stats.unreachable),
        "calls": stats.calls,
        "edges": [
            {
                "caller": e.caller, "callee": e.callee, "count": e.count, "local": e.local, "sync": e.sync,
                "p50Ms": _ms(e.p50_s), "p95Ms": _ms(e.p95_s), "share": round(e.share, 4),
                "remoteP50Ms": _ms(e.remote_p50_s), "localP50Ms": _ms(e.local_p50_s),
            }
            for e in stats.edges
        ],
        "served": [
            {"task": s.task, "count": s.count, "p50Ms": _ms(s.p50_s), "p95Ms": _ms(s.p95_s)}
            for s in stats.served.values()
        ],
    }


def _ms(seconds: Optional[float]) -> Optional[float]:
    return None if seconds is None else round(seconds * 1000, 3)
