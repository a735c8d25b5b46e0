"""Running an optimizer: a broken one is reported and the current setup stays; a good
answer is checked, made canonical and turned into changes with their reasons."""

from __future__ import annotations

import threading
from typing import Any, List

import pytest

from fusionizer.optimize.api import OptimizerInput, Proposal, Reason
from fusionizer.optimize.running import Action, compare, run_optimizer
from fusionizer.plan.model import Group
from testing import optimizing as op


class Answers:
    """An optimizer that returns what it is told to (or raises it)."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def propose(self, given: OptimizerInput) -> Any:
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


class Hangs:
    def __init__(self) -> None:
        self.release = threading.Event()

    def propose(self, given: OptimizerInput) -> Proposal:
        self.release.wait(30)
        return Proposal(())


@pytest.fixture
def given() -> OptimizerInput:
    plan = op.plan([op.task("a"), op.task("b"), op.task("c"), op.task("old", runtime="python:3.9")],
                   [Group(("a", "b"), "ab")])
    result: OptimizerInput = op.given(plan)
    return result


@pytest.mark.parametrize("answer, kind, message", [
    (KeyError("boom"), "exception", "custom.propose raised KeyError: 'boom'"),
    (SystemExit(2), "exception", "custom.propose raised SystemExit: 2"),
    ({"groups": []}, "invalid", "propose returned dict, not a fusionizer.optimize.Proposal"),
    (Proposal((("a", "ghost"),)), "invalid", "group 1 names task 'ghost', which the plan does not define"),
    (Proposal((("a", "b"), ("b", "c"))), "invalid", "task 'b' is in groups 1 and 2"),
    (Proposal((("a", "old"),)), "invalid", "group 1 (a, old) cannot be one function: runtimes differ"),
    (Proposal(("a",)), "invalid", "a group must be a fusionizer.plan.Group or a list of task names, got 'a'"),
    (Proposal((Group(("a",), "Bad_Name"),)), "invalid", "group name 'Bad_Name' is not a DNS label"),
    (Proposal((Group(("a",), "x"), Group(("b",), "x"))), "invalid", "group name 'x' is used twice"),
    (Proposal((), reasons=("free text",)), "invalid", "reasons must be fusionizer.optimize.Reason values"),
])
def test_a_broken_answer_is_reported_and_the_current_setup_stays(given: OptimizerInput, answer: Any, kind: str,
                                                                 message: str) -> None:
    outcome = run_optimizer(Answers(answer), given, "custom")
    assert outcome.error is not None and outcome.error.kind == kind
    assert message in str(outcome.error)
    assert outcome.proposed == outcome.current == given.current and not outcome.changed


def test_a_slow_optimizer_is_cut_off(given: OptimizerInput) -> None:
    slow = Hangs()
    try:
        outcome = run_optimizer(slow, given, "slow", timeout_s=0.2)
    finally:
        slow.release.set()
    assert outcome.error is not None and outcome.error.kind == "timeout"
    assert str(outcome.error) == "slow.propose took longer than 0.2 s"
    assert outcome.proposed == given.current and 0.2 <= outcome.seconds < 5


def test_plain_lists_are_groups_and_tasks_named_nowhere_run_alone(given: OptimizerInput) -> None:
    outcome = run_optimizer(Answers(Proposal((["c", "a"],), (Reason(("a", "c"), "a waits for c"),))), given, "x")
    assert outcome.error is None
    assert outcome.proposed == (Group(("a", "c")), Group(("b",)), Group(("old",)))
    (change,) = outcome.changes
    assert change.action == Action.REGROUP and change.reasons == ("a waits for c",)
    assert change.before == (Group(("a", "b"), "ab"), Group(("c",)))


def groups(*sets: Any) -> List[Group]:
    return sorted((Group(tuple(sorted(s))) if isinstance(s, str) else s for s in sets), key=lambda g: g.tasks)


def test_changes_say_fuse_split_regroup_rename_and_carry_their_reasons() -> None:
    current = groups("ab", "c", "de", "f", "g", "hi", Group(("j",), "solo"))
    proposed = groups("abc", "d", "e", "fg", "h", "i", "j")
    reasons = [Reason(("a", "c"), "a calls c"), Reason(("d", "e"), "d calls e concurrently"),
               Reason(("x",), "about a task no change touches"), Reason(("a", "d"), "spans two changes"),
               Reason((), "general")]
    changes, notes = compare(current, proposed, reasons)
    by_action = {(c.action, c.tasks): c.reasons for c in changes}
    assert by_action == {
        (Action.FUSE, ("a", "b", "c")): ("a calls c",),
        (Action.SPLIT, ("d", "e")): ("d calls e concurrently",),
        (Action.FUSE, ("f", "g")): (),
        (Action.SPLIT, ("h", "i")): (),
        (Action.RENAME, ("j",)): (),
    }
    assert notes == ("about a task no change touches", "spans two changes", "general")


def test_nothing_changes_when_the_proposal_is_the_current_setup(given: OptimizerInput) -> None:
    outcome = run_optimizer(Answers(Proposal(given.current)), given, "same")
    assert outcome.error is None and outcome.changes == () and outcome.proposed == given.current
