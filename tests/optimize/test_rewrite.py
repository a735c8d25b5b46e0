"""``spec.fusion.groups`` rewritten in place: comments, layout and everything else kept."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import List

import pytest

from fusionizer.errors import FusionizerError
from fusionizer.optimize.rewrite import groups_text, rewrite_groups
from fusionizer.plan.loader import load_plan
from fusionizer.plan.model import Group
from testing.example import copy_example

ALL = ("checkout", "inventory", "notify", "payment", "price", "validate-order")


def changed_lines(old: str, new: str) -> List[str]:
    return [line for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@pytest.fixture
def example(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "example")


def test_a_grown_group_changes_one_line_and_the_dissolved_one_goes(example: Path) -> None:
    old = example.read_text()
    new = rewrite_groups(example, [Group(ALL, "storefront"), Group(("taska", "taskb"))])
    assert example.read_text() == new
    assert changed_lines(old, new) == [
        "-        tasks: [checkout, validate-order, price, inventory]",
        "-      - name: billing          # checkout -> payment crosses functions, through the server",
        "-        tasks: [payment, notify]",
        "+        tasks: [checkout, validate-order, price, inventory, payment, notify]",
    ]
    plan = load_plan(example)
    assert plan.groups == (Group(("checkout", "validate-order", "price", "inventory", "payment", "notify"),
                                 "storefront"), Group(("taska", "taskb")))
    assert plan.schedule == load_plan(copy_example(example.parent.parent / "again")).schedule


def test_new_groups_take_the_place_of_those_they_replace(example: Path) -> None:
    old = example.read_text()
    new = groups_text(old, [Group(("checkout", "payment")), Group(("inventory", "price"), "pricing"),
                            Group(("taska", "taskb")), Group(("notify",)), Group(("validate-order",))])
    assert changed_lines(old, new) == [
        "-      - name: storefront       # -> function demo-storefront; these calls stay in-process",
        "-        tasks: [checkout, validate-order, price, inventory]",
        "-      - name: billing          # checkout -> payment crosses functions, through the server",
        "-        tasks: [payment, notify]",
        "+      - [checkout, payment]",
        "+      - name: pricing",
        "+        tasks: [price, inventory]",
    ]


def test_every_task_alone_is_an_empty_list_that_keeps_its_comment(example: Path) -> None:
    new = groups_text(example.read_text(), [Group((t,)) for t in ALL + ("taska", "taskb")])
    assert "    groups: []                 # the default setup\n    schedule:\n" in new


def test_a_plan_without_groups_gets_them_and_other_indentations_are_kept(tmp_path: Path) -> None:
    text = ("apiVersion: fusionizer.io/v1\nkind: FusionPlan\nmetadata:\n    name: demo\nspec:\n"
            "    tasks:\n    - {name: a, path: a}   # first\n    - {name: b, path: b}\n")
    new = groups_text(text, [Group(("a", "b"))])
    assert new == text + "    fusion:\n        groups:\n        - [a, b]\n"


def test_a_result_that_is_not_a_valid_plan_is_not_written(example: Path) -> None:
    old = example.read_text()
    with pytest.raises(FusionizerError) as caught:
        rewrite_groups(example, [Group(("checkout", "taska"))])  # python:3.11 with python:3.9
    assert "mixes runtimes" in str(caught.value)
    assert example.read_text() == old
    assert sorted(p.name for p in example.parent.iterdir()) == ["fusionizer.yaml", "schemas", "tasks"]
