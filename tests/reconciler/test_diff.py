"""The diff is a pure function of (desired, actual): every case and its reason."""

from __future__ import annotations

from typing import Dict

from fusionizer.build.fuser import GroupBuild
from fusionizer.platforms.base import ANNOTATION_SPEC_HASH, ANNOTATION_TASKS, LABEL_PLAN, FunctionRecord, label_selector
from fusionizer.reconciler.diff import Foreign, diff, foreign, summarize


def build(name: str, tasks: tuple[str, ...], spec_hash: str) -> GroupBuild:
    return GroupBuild(name, name, tasks, spec_hash, {}, ())


def record(name: str, tasks: tuple[str, ...], spec_hash: str, state: str = "ready", message: str = "") -> FunctionRecord:
    return FunctionRecord(name, "nuclio", label_selector("demo"),
                          {ANNOTATION_TASKS: ",".join(tasks), ANNOTATION_SPEC_HASH: spec_hash}, state, message)


def test_unchanged_functions_are_noops() -> None:
    desired = {"demo-a": build("demo-a", ("a",), "h1")}
    actual = {"demo-a": record("demo-a", ("a",), "h1")}
    changes = diff(desired, actual)
    assert [(c.action, c.reason) for c in changes] == [("noop", "up to date")]
    assert summarize(changes) == {"create": 0, "update": 0, "delete": 0, "noop": 1}


def test_new_changed_and_removed_functions() -> None:
    desired = {"demo-a-b": build("demo-a-b", ("a", "b"), "h2"), "demo-c": build("demo-c", ("c",), "new")}
    actual: Dict[str, FunctionRecord] = {
        "demo-c": record("demo-c", ("c",), "old"),
        "demo-a": record("demo-a", ("a",), "h1"),
        "demo-gone": record("demo-gone", ("x",), "h9"),
    }
    changes = diff(desired, actual)
    assert [(c.action, c.function) for c in changes] == [
        ("create", "demo-a-b"), ("update", "demo-c"), ("delete", "demo-a"), ("delete", "demo-gone")]
    assert changes[0].reason == "new function" and changes[0].tasks == ("a", "b")
    assert changes[1].reason == "spec changed (old -> new)"
    assert changes[2].reason == "no longer in the plan; its tasks move to demo-a-b"
    assert changes[3].reason == "no longer in the plan"
    assert changes[2].tasks == ("a",)


def test_a_function_that_is_not_serving_is_redeployed_even_with_the_same_hash() -> None:
    desired = {"demo-a": build("demo-a", ("a",), "h1")}
    actual = {"demo-a": record("demo-a", ("a",), "h1", "unhealthy", "function process (pid 7) is not running\nmore")}
    (change,) = diff(desired, actual)
    assert change.action == "update"
    assert change.reason == "function is unhealthy: function process (pid 7) is not running"


def test_scaled_to_zero_counts_as_serving() -> None:
    desired = {"demo-a": build("demo-a", ("a",), "h1")}
    actual = {"demo-a": record("demo-a", ("a",), "h1", "scaledToZero")}
    assert diff(desired, actual)[0].action == "noop"


def test_diff_is_deterministic_whatever_the_input_order() -> None:
    desired = {n: build(n, (n,), "h") for n in ("z", "a", "m")}
    actual = {n: record(n, (n,), "h") for n in ("q", "b")}
    reordered_desired = dict(reversed(list(desired.items())))
    assert diff(desired, actual) == diff(reordered_desired, dict(reversed(list(actual.items()))))


def test_a_failed_function_is_redeployed_with_the_platforms_message() -> None:
    desired = {"demo-a": build("demo-a", ("a",), "h1")}
    actual = {"demo-a": record("demo-a", ("a",), "h1", "error", "Function wasn't ready in time: exited 1\nLogs:")}
    (change,) = diff(desired, actual)
    assert (change.action, change.reason) == ("update", "function is in error: Function wasn't ready in time: exited 1")


def test_the_server_url_is_compared_apart_from_the_hash() -> None:
    desired = {"demo-a": build("demo-a", ("a",), "h1")}
    env = {"spec": {"env": [{"name": "FUSIONIZER_SERVER_URL", "value": "http://gw:8000"}]}}
    deployed = FunctionRecord("demo-a", "nuclio", label_selector("demo"),
                              {ANNOTATION_TASKS: "a", ANNOTATION_SPEC_HASH: "h1"}, "ready", raw=env)
    assert diff(desired, {"demo-a": deployed}, "http://gw:8000")[0].action == "noop"
    assert diff(desired, {"demo-a": deployed}, None)[0].action == "noop"
    (moved,) = diff(desired, {"demo-a": deployed}, "http://gw:9000")
    assert (moved.action, moved.reason) == ("update", "server URL changed (http://gw:8000 -> http://gw:9000)")
    own = GroupBuild("demo-a", "demo-a", ("a",), "h1", {"spec": {"env": [
        {"name": "FUSIONIZER_SERVER_URL", "value": "http://mine:1"}]}}, ())
    assert diff({"demo-a": own}, {"demo-a": deployed}, "http://gw:9000")[0].action == "noop"  # its own wins


def test_names_held_by_functions_the_plan_does_not_own_are_foreign() -> None:
    desired = {n: build(n, (n[len("demo-"):],), "h") for n in ("demo-a", "demo-b", "demo-c", "demo-d")}
    records = [
        record("demo-a", ("a",), "h"),  # ours
        FunctionRecord("demo-b", "nuclio", {}, {}, "ready"),  # deployed by hand
        FunctionRecord("demo-c", "nuclio", label_selector("demo-other"), {}, "ready"),  # another plan
        FunctionRecord("demo-d", "nuclio", {LABEL_PLAN: "demo"}, {}, "ready"),  # half our labels: not ours
        FunctionRecord("unrelated", "nuclio", {}, {}, "ready"),  # a name we do not want: none of our business
    ]
    assert foreign(desired, records, "demo") == [
        Foreign("demo-b", "no fusionizer labels (deployed by hand or another tool)", ("b",)),
        Foreign("demo-c", "the labels of plan 'demo-other'", ("c",)),
        Foreign("demo-d", "no fusionizer labels (deployed by hand or another tool)", ("d",)),
    ]


def test_an_adopted_function_is_updated_even_when_it_looks_up_to_date() -> None:
    desired = {"demo-a": build("demo-a", ("a",), "h1")}
    held = FunctionRecord("demo-a", "nuclio", {}, {ANNOTATION_SPEC_HASH: "h1"}, "ready")
    (taken,) = foreign(desired, [held], "demo")
    (change,) = diff(desired, {}, adopted=[taken])
    assert (change.action, change.function, change.reason) == (
        "update", "demo-a", "adopted: held by a function with no fusionizer labels (deployed by hand or another tool)")
