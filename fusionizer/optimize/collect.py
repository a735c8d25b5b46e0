"""Collecting call traces from every function of a plan, through the platform.

Each ready function is asked once, in parallel, with ``Platform.invoke`` naming the task
``layout.TRACES_TASK`` (local: its own port; nuctl: its invocation URLs), so no server is
needed. A function that does not answer with traces is listed as unreachable, with why;
the others still count.
"""

from __future__ import annotations

import concurrent.futures
import json
from typing import List, Sequence, Union

from fusionizer.errors import FusionizerError
from fusionizer.optimize.api import CallStats
from fusionizer.optimize.traces import FunctionTraces, TraceError, aggregate, parse_payload
from fusionizer.platforms.base import FunctionRecord, InvokeRequest, Platform
from fusionizer.runtime.layout import HEADER_TRACES_SINCE, TRACES_TASK

MAX_PARALLEL = 8


def plan_functions(platform: Platform, plan: str) -> List[FunctionRecord]:
    """The plan's functions that serve now (one ``list`` call)."""
    return sorted((r for r in platform.list() if r.plan() == plan and r.serving), key=lambda r: r.name)


def collect(platform: Platform, records: Sequence[FunctionRecord], since: float = 0.0) -> CallStats:
    """The aggregate of what ``records`` answer (calls that started after ``since``)."""
    if not records:
        return CallStats()
    with concurrent.futures.ThreadPoolExecutor(min(MAX_PARALLEL, len(records))) as pool:
        answers = list(pool.map(lambda record: _ask(platform, record, since), records))
    traces = [a for a in answers if isinstance(a, FunctionTraces)]
    unreachable = [a for a in answers if isinstance(a, str)]
    return aggregate(traces, unreachable)


def _ask(platform: Platform, record: FunctionRecord, since: float) -> Union[FunctionTraces, str]:
    """The function's traces, or why it gave none."""
    headers = {HEADER_TRACES_SINCE: repr(since)} if since else {}
    try:
        response = platform.invoke(record, TRACES_TASK, InvokeRequest("GET", "/", headers))
    except FusionizerError as exc:
        return f"{record.name}: {exc}"
    if response.status == 404:
        return (f"{record.name}: it serves no traces (built by an older fusionizer); "
                f"redeploy it with `fusionizer apply`")
    if response.status != 200:
        return f"{record.name}: HTTP {response.status}: {_text(response.body)}"
    try:
        return parse_payload(json.loads(response.body), record.name)
    except ValueError:
        return f"{record.name}: the answer is not JSON: {_text(response.body)}"
    except TraceError as exc:
        return str(exc)


def _text(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    return text if len(text) <= 200 else text[:200] + "..."

