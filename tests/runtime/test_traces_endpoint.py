"""A function answers its call traces on ``Task-Name: -/traces``: calls (in-process or not,
synchronous or concurrent) and the requests it served, bounded, through the real processor."""

from __future__ import annotations

import time
from typing import Any, Dict, Iterator, List

import pytest

from fusionizer.runtime import layout

TASKS = {
    "front": {"main.py": """
        import concurrent.futures
        import nuclio_sdk

        def call(context, task):
            event = nuclio_sdk.Event(body={}, content_type="application/json", method="POST", path="/")
            return context.platform.call_function(task, event).status_code

        def handler(context, event):
            mode = event.body["mode"]
            if mode == "chain":
                return {"statuses": [call(context, "middle")]}
            if mode == "many":
                return {"statuses": sorted({call(context, "leaf") for _ in range(event.body["n"])})}
            # A fan-out: three calls at once from threads the handler starts.
            with concurrent.futures.ThreadPoolExecutor(3) as pool:
                return {"statuses": list(pool.map(lambda t: call(context, t), ["leaf", "leaf", "away"]))}
    """},
    "middle": {"main.py": """
        def handler(context, event, requests_session):
            addr = event.headers["Fusionizer-Server-Address"]
            requests_session.post(f"http://{addr}:8000/leaf", json={})
            return {"middle": True}
    """},
    "leaf": {"main.py": """
        def handler(context, event):
            return {"leaf": True}
    """},
    "slow": {"main.py": """
        import asyncio
        async def handler(context, event):
            await asyncio.sleep(0.02)
            return "slow"
    """},
}


@pytest.fixture(scope="module")
def fused(module_processors: Any, module_gateway: Any, rt: Any,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    directory = rt.build_fused(tmp_path_factory.mktemp("traced") / "fn", TASKS, function="demo-traced")
    yield module_processors.start(directory, env={"FUSIONIZER_SERVER_URL": module_gateway.url})


def traces(fused: Any, **headers: str) -> Dict[str, Any]:
    response = fused.session.get(fused.url, headers={"Task-Name": layout.TRACES_TASK, **headers}, timeout=30)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    payload: Dict[str, Any] = response.json()
    return payload


def rows(payload: Dict[str, Any], key: str) -> List[Dict[str, Any]]:
    fields = payload["callFields" if key == "calls" else "servedFields"]
    return [dict(zip(fields, row)) for row in payload[key]]


def test_the_payload_names_the_function_and_its_bound(fused: Any) -> None:
    payload = traces(fused)
    assert payload["plan"] == "demo" and payload["function"] == "demo-traced"
    assert payload["tasks"] == ["front", "leaf", "middle", "slow"] and payload["limit"] == 10_000
    assert payload["callFields"] == ["caller", "callee", "local", "duration_s", "ts", "sync"]
    assert payload["servedFields"] == ["task", "duration_s", "ts"]


def test_a_chain_is_synchronous_in_process_and_served_once(fused: Any) -> None:
    start = time.time()  # the processor runs on this machine, with this clock
    assert fused.call("front", json={"mode": "chain"}).json() == {"statuses": [200]}
    payload = traces(fused, **{layout.HEADER_TRACES_SINCE: repr(start)})
    calls = {(c["caller"], c["callee"]): c for c in rows(payload, "calls")}
    assert set(calls) == {("front", "middle"), ("middle", "leaf")}
    assert all(c["local"] and c["sync"] for c in calls.values())
    # The callee's time is inside its caller's.
    assert calls[("middle", "leaf")]["duration_s"] <= calls[("front", "middle")]["duration_s"]
    (served,) = rows(payload, "served")
    assert served["task"] == "front" and served["duration_s"] >= calls[("front", "middle")]["duration_s"]


def test_a_fan_out_on_threads_is_concurrent_and_a_call_elsewhere_is_remote(fused: Any, module_gateway: Any) -> None:
    start = time.time()
    assert fused.call("front", json={"mode": "fan-out"}).json() == {"statuses": [200, 200, 203]}
    calls = rows(traces(fused, **{layout.HEADER_TRACES_SINCE: repr(start)}), "calls")
    assert sorted((c["callee"], c["local"], c["sync"]) for c in calls) == [
        ("away", False, False), ("leaf", True, False), ("leaf", True, False),
    ]


def test_an_async_handler_is_timed_once_awaited(fused: Any) -> None:
    assert fused.call("slow").text == "slow"
    served = [r for r in rows(traces(fused), "served") if r["task"] == "slow"]
    assert served and served[-1]["duration_s"] >= 0.015


def test_since_must_be_a_number(fused: Any) -> None:
    response = fused.session.get(
        fused.url, headers={"Task-Name": layout.TRACES_TASK, layout.HEADER_TRACES_SINCE: "yesterday"}, timeout=30)
    assert response.status_code == 400 and layout.HEADER_TRACES_SINCE in response.text
    assert traces(fused, **{layout.HEADER_TRACES_SINCE: "9e99"})["calls"] == []


def test_memory_stays_bounded(fused: Any) -> None:
    out = fused.call("front", json={"mode": "many", "n": 10_050}).json()
    assert out == {"statuses": [200]}
    payload = traces(fused)
    calls = rows(payload, "calls")
    assert len(calls) == payload["limit"] == 10_000  # the oldest were dropped
    assert [c["callee"] for c in calls[-3:]] == ["leaf", "leaf", "leaf"]
