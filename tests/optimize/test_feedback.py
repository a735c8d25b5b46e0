"""The feedback optimizer on synthetic traces: which groups it proposes, and why."""

from __future__ import annotations

import time
from typing import Any, List

import pytest

from fusionizer.optimize.api import EdgeStats
from fusionizer.optimize.feedback import FeedbackOptimizer, OptionError
from fusionizer.optimize.running import run_optimizer
from fusionizer.plan.model import Group
from testing import optimizing as op


def propose(plan: Any, edges: List[EdgeStats], current: Any = None, served: Any = None, **options: Any) -> Any:
    given = op.given(plan, op.stats(edges, served), current)
    return FeedbackOptimizer(**options).propose(given)


def texts(proposal: Any) -> str:
    return "\n".join(r.text for r in proposal.reasons)


def test_a_synchronous_chain_becomes_one_function() -> None:
    plan = op.plan("abcd")
    out = propose(plan, [op.edge("a", "b"), op.edge("b", "c"), op.edge("c", "d")])
    assert op.grouping(out.groups) == [("a", "b", "c", "d")]
    assert "fuse a -> b: 100 of 100 calls synchronous" in texts(out)


def test_a_fan_out_stays_apart_and_the_synchronous_part_fuses() -> None:
    plan = op.plan("abcde")
    edges = [op.edge("a", "b"), *(op.edge("a", x, sync=5) for x in "cde")]
    out = propose(plan, edges)
    assert op.grouping(out.groups) == [("a", "b"), ("c",), ("d",), ("e",)]


def test_a_concurrent_callee_leaves_its_callers_group() -> None:
    plan = op.plan("abc", [Group(("a", "b", "c"), "all")])
    out = propose(plan, [op.edge("a", "b", local=100, remote_ms=None, local_ms=0.1), op.edge("a", "c", sync=0)])
    assert op.grouping(out.groups) == [("a", "b"), ("c",)]
    assert "split c from group all: a calls it concurrently in 100 of 100 calls" in texts(out)
    assert [g.name for g in out.groups if "a" in g.tasks] == ["all"]  # the name stays with the larger part


def test_a_synchronous_edge_never_joins_a_concurrent_pair() -> None:
    # a calls c concurrently; b -> c is synchronous and hot: fusing it would put c with a.
    plan = op.plan("abc")
    out = propose(plan, [op.edge("a", "b", 300), op.edge("a", "c", sync=0), op.edge("b", "c", 200)])
    assert op.grouping(out.groups) == [("a", "b"), ("c",)]
    assert "not fused b -> c: it would put c with a, which run apart" in texts(out)


def test_a_cycle_is_fused_whole() -> None:
    plan = op.plan("abcx")
    out = propose(plan, [op.edge("a", "b"), op.edge("b", "c"), op.edge("c", "a"), op.edge("a", "a")])
    assert op.grouping(out.groups) == [("a", "b", "c"), ("x",)]


def test_a_hot_edge_among_cold_ones() -> None:
    plan = op.plan("abcdef")
    cold = [op.edge("a", "b", 3), op.edge("b", "c", 2), op.edge("d", "e", 9), op.edge("e", "f", 1)]
    out = propose(plan, [*cold, op.edge("c", "d", 5000)])
    assert op.grouping(out.groups) == [("a",), ("b",), ("c", "d"), ("e",), ("f",)]
    assert "4 edge(s) with fewer than 10 calls (minCalls): not judged" in texts(out)


def test_the_hottest_edges_win_when_a_function_may_hold_only_two() -> None:
    plan = op.plan("abcd")
    edges = [op.edge("a", "b", 50), op.edge("b", "c", 900), op.edge("c", "d", 40)]
    out = propose(plan, edges, maxTasks=2)
    assert op.grouping(out.groups) == [("a",), ("b", "c"), ("d",)]
    assert "not fused a -> b: the function would hold 3 tasks, more than maxTasks (2)" in texts(out)


def test_a_group_over_the_limit_is_rebuilt_within_it() -> None:
    plan = op.plan("abc", [Group(("a", "b", "c"))])
    out = propose(plan, [op.edge("a", "b", 10, local=10, remote_ms=None), op.edge("b", "c", 500, local=500,
                                                                                     remote_ms=None)], maxTasks=2)
    assert op.grouping(out.groups) == [("a",), ("b", "c")]
    assert "split [a, b, c]: 3 tasks, more than maxTasks (2)" in texts(out)


def test_memory_runtime_env_and_build_are_respected() -> None:
    plan = op.plan([
        op.task("a", memory="300Mi"), op.task("b", memory="300Mi"), op.task("c", memory="300Mi"),
        op.task("old", runtime="python:3.9"), op.task("env1", env={"MODE": "x"}), op.task("env2", env={"MODE": "y"}),
        op.task("img1", build={"baseImage": "python:3.11"}), op.task("img2", build={"baseImage": "python:3.11-slim"}),
    ])
    edges = [op.edge("a", "b", 300), op.edge("b", "c", 200), op.edge("a", "old"), op.edge("env1", "env2"),
             op.edge("img1", "img2")]
    out = propose(plan, edges, maxMemory="700Mi")
    assert op.grouping(out.groups) == [("a", "b"), ("c",), ("env1",), ("env2",), ("img1",), ("img2",), ("old",)]
    reasons = texts(out)
    assert "the function would declare 900Mi, more than maxMemory (700Mi)" in reasons
    assert "runtimes differ (a: python:3.11, old: python:3.9)" in reasons
    assert "env MODE differs (env1: 'x', env2: 'y')" in reasons
    assert "spec.build.baseImage differs" in reasons


def test_fusing_only_when_it_saves_time() -> None:
    plan = op.plan("abcd")
    # a -> b remote p50 5 ms, b's own handler 1 ms: 4 ms saved. c -> d: the callee takes as long as the call.
    out = propose(plan, [op.edge("a", "b", remote_ms=5.0), op.edge("c", "d", remote_ms=3.0)],
                  served={"b": 1.0, "d": 3.0})
    assert op.grouping(out.groups) == [("a", "b"), ("c",), ("d",)]
    reasons = texts(out)
    assert "in-process saves ~4.00 ms per call (400.00 ms in all)" in reasons
    assert "not fused c -> d: in-process would save nothing" in reasons


def test_unobserved_groups_and_fused_synchronous_pairs_stay() -> None:
    plan = op.plan("abxy", [Group(("a", "b"), "ab"), Group(("x", "y"), "xy")])
    out = propose(plan, [op.edge("a", "b", local=100, remote_ms=None, local_ms=0.05)])
    assert sorted(out.groups, key=lambda g: g.tasks) == [Group(("a", "b"), "ab"), Group(("x", "y"), "xy")]


def test_merged_groups_keep_the_name_of_the_one_they_share_most_with() -> None:
    plan = op.plan("abcde", [Group(("a", "b", "c"), "front"), Group(("d", "e"), "back")])
    out = propose(plan, [op.edge("c", "d")])
    assert out.groups == (Group(("a", "b", "c", "d", "e"), "front"),)


def test_edges_of_tasks_the_plan_does_not_define_are_ignored() -> None:
    plan = op.plan("ab")
    out = propose(plan, [op.edge("a", "gone"), op.edge("a", "b")])
    assert op.grouping(out.groups) == [("a", "b")]
    assert "1 edge(s) name tasks the plan does not define" in texts(out)


@pytest.mark.parametrize("options, message", [
    ({"maxTask": 3}, "unknown option(s) maxTask; FeedbackOptimizer takes minCalls, maxTasks, maxMemory, hopMs"),
    ({"maxTasks": 0}, "maxTasks must be a whole number >= 1, got 0"),
    ({"minCalls": "ten"}, "minCalls must be a whole number >= 1, got 'ten'"),
    ({"maxMemory": "lots"}, "maxMemory must be a memory quantity such as 512Mi or 2Gi, got 'lots'"),
    ({"hopMs": -1}, "hopMs must be a positive number of milliseconds, got -1"),
])
def test_options_are_checked(options: Any, message: str) -> None:
    with pytest.raises(OptionError) as caught:
        FeedbackOptimizer(**options)
    assert str(caught.value) == message


def test_a_thousand_tasks_and_ten_thousand_edges_in_under_a_second() -> None:
    given = op.synthetic_input(1000, 10_000)
    begin = time.perf_counter()
    outcome = run_optimizer(FeedbackOptimizer(maxTasks=20), given, "feedback")
    elapsed = time.perf_counter() - begin
    assert outcome.error is None and outcome.changed
    assert max(len(g.tasks) for g in outcome.proposed) <= 20
    assert elapsed < 1.0, f"{elapsed:.2f} s"
