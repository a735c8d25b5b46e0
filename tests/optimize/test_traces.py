"""Trace payloads checked and aggregated per edge: counts, in-process and sync shares,
p50/p95, share of all calls, served time; and their JSON form."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

from fusionizer.optimize.traces import TraceError, aggregate, parse_payload, percentile, stats_json

FIELDS = ["caller", "callee", "local", "duration_s", "ts", "sync"]


def payload(calls: List[List[Any]], served: Any = (), function: str = "shop-a") -> Dict[str, Any]:
    return {"plan": "shop", "function": function, "tasks": ["a"], "limit": 10_000, "callFields": FIELDS,
            "calls": calls, "servedFields": ["task", "duration_s", "ts"], "served": [list(s) for s in served]}


def test_edges_are_aggregated_over_functions() -> None:
    one = parse_payload(payload([["a", "b", False, 0.004 + i / 1000, 1.0, True] for i in range(10)]
                                + [["a", "c", True, 0.0001, 2.0, False]] * 10,
                                served=[("a", 0.02, 1.0)]), "shop-a")
    two = parse_payload(payload([["a", "b", True, 0.001, 3.0, True]] * 5, served=[("b", 0.001, 1.0)] * 3,
                                function="shop-b"), "shop-b")
    stats = aggregate([one, two], ["shop-c: connection refused"])
    assert stats.functions == ("shop-a", "shop-b") and stats.unreachable == ("shop-c: connection refused",)
    ab, ac = stats.edges
    assert (ab.caller, ab.callee, ab.count, ab.local, ab.sync) == ("a", "b", 15, 5, 15)
    assert ab.remote_p50_s == pytest.approx(0.008) and ab.local_p50_s == pytest.approx(0.001)
    assert ab.p50_s == pytest.approx(0.006) and ab.p95_s == pytest.approx(0.013)
    assert ab.share == pytest.approx(15 / 25) and ab.concurrent == 0
    assert (ac.count, ac.local, ac.sync, ac.concurrent, ac.remote_p50_s) == (10, 10, 0, 10, None)
    assert stats.calls == 25
    assert {t: (s.count, s.p50_s) for t, s in stats.served.items()} == {"a": (1, 0.02), "b": (3, 0.001)}


def test_the_json_form_is_in_milliseconds() -> None:
    stats = aggregate([parse_payload(payload([["a", "b", False, 0.0015, 1.0, True]]), "shop-a")])
    out = stats_json(stats)
    assert out["calls"] == 1 and out["functions"] == ["shop-a"]
    assert out["edges"] == [{"caller": "a", "callee": "b", "count": 1, "local": 0, "sync": 1, "p50Ms": 1.5,
                             "p95Ms": 1.5, "share": 1.0, "remoteP50Ms": 1.5, "localP50Ms": None}]


def test_fields_are_read_by_name_and_sync_defaults_to_true() -> None:
    data = payload([[1.0, "b", "a", 0.002, True]])
    data["callFields"] = ["ts", "callee", "caller", "duration_s", "local"]
    (call,) = parse_payload(data, "f").calls
    assert (call.caller, call.callee, call.local, call.sync, call.duration_s) == ("a", "b", True, True, 0.002)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95), percentile([7.0], 0.95)) == (50.0, 95.0, 7.0)


@pytest.mark.parametrize("data, message", [
    ([], "answered list, not a trace object"),
    ({"callFields": ["caller"], "calls": []}, "callFields must list at least"),
    ({**payload([]), "calls": [["a", "b"]]}, "every row of calls must have 6 fields"),
    ({**payload([["a", 3, False, 0.1, 1.0, True]])}, "a call's caller and callee must be task names"),
    ({**payload([["a", "b", False, -1, 1.0, True]])}, "durations and times must be non-negative numbers"),
    ({**payload([["a", "b", False, float("nan"), 1.0, True]])}, "non-negative numbers"),
    ({**payload([]), "calls": [["a", "b", False, 0.1, 1.0, True]] * 10_001}, "at most 10000 rows"),
    ({**payload([], served=[(7, 0.1, 1.0)])}, "a served request's task must be a task name"),
])
def test_a_malformed_payload_is_refused_with_why(data: Any, message: str) -> None:
    with pytest.raises(TraceError) as caught:
        parse_payload(data, "shop-a")
    assert message in str(caught.value) and "shop-a" in str(caught.value)
