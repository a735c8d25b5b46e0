"""Only what is ours: a name the plan wants but another owner holds is refused, on the local
platform (the nuctl twin is tests/nuctl/test_ownership.py), unless `apply --adopt` asks."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import pytest
import yaml

from fusionizer.platforms.base import FunctionSource
from fusionizer.platforms.local.platform import LocalPlatform
from testing.example import Cli, copy_example

HANDLER = "def handler(context, event):\n    return {answer!r}\n"


def write_plan(root: Path, name: str, groups: Dict[str, list], answers: Dict[str, str]) -> Path:
    """A plan ``name`` with one task per answer, fused into ``groups`` (group name -> tasks)."""
    for task, answer in answers.items():
        (root / "tasks" / task).mkdir(parents=True)
        (root / "tasks" / task / "main.py").write_text(HANDLER.format(answer=answer))
        (root / "tasks" / task / "function.yaml").write_text("spec: {runtime: 'python:3.11', handler: main:handler}\n")
    plan = {"apiVersion": "fusionizer.io/v1", "kind": "FusionPlan", "metadata": {"name": name},
            "spec": {"taskDirs": ["tasks"],
                     "fusion": {"groups": [{"name": g, "tasks": t} for g, t in groups.items()]}}}
    (root / "fusionizer.yaml").write_text(yaml.safe_dump(plan))
    return root / "fusionizer.yaml"


def pids(platform: LocalPlatform) -> Dict[str, int]:
    return {name: int((platform.store.read("procs", name) or {})["pid"]) for name in
            (r.name for r in platform.list())}


def test_a_plan_whose_name_collides_with_another_plans_function_is_refused(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # shop + eu-web and shop-eu + web both make shop-eu-web.
    shop = Cli(capsys, write_plan(tmp_path / "shop", "shop", {"eu-web": ["front"]}, {"front": "shop's"}))
    shop_eu = Cli(capsys, write_plan(tmp_path / "shop-eu", "shop-eu", {"web": ["page"], "api": ["rest"]},
                                     {"page": "shop-eu's", "rest": "rest"}))
    shop.ok("apply")
    platform = LocalPlatform("nuclio")
    before = pids(platform)

    refused = shop_eu("apply")
    assert refused.code == 1
    assert ("plan 'shop-eu' wants 1 function name(s) that functions it does not own hold:\n"
            "  shop-eu-web (for page): held by a function with the labels of plan 'shop'\n"
            "Nothing was deployed or deleted.") in refused.err
    assert "Traceback" not in refused.out + refused.err
    # Nothing of either plan moved: shop's function still serves shop's code, under shop's labels;
    # shop-eu's independent function was not deployed either (the whole apply refuses).
    assert pids(platform) == before
    (record,) = platform.list()
    assert record.plan() == "shop"
    assert shop.ok("invoke", "front").out.strip() == "shop's"
    assert shop_eu("plan").code == 1  # plan shows the same refusal

    adopted = shop_eu.ok("apply", "--adopt", "-o", "json").json()
    reasons = {c["function"]: (c["action"], c["reason"]) for c in adopted["changes"]}
    assert reasons["shop-eu-web"] == ("update", "adopted: held by a function with the labels of plan 'shop'")
    assert reasons["shop-eu-api"][0] == "create"
    assert {r.name: r.plan() for r in platform.list()} == {"shop-eu-web": "shop-eu", "shop-eu-api": "shop-eu"}
    assert shop_eu.ok("invoke", "page").out.strip() == "shop-eu's"


def test_a_function_deployed_by_hand_is_never_overwritten(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cli = Cli(capsys, copy_example(tmp_path / "example"))
    hand = tmp_path / "hand"
    hand.mkdir()
    (hand / "main.py").write_text(HANDLER.format(answer="by hand"))
    config = {"metadata": {"name": "demo-taska-taskb"}, "spec": {"runtime": "python:3.11", "handler": "main:handler"}}
    (hand / "function.yaml").write_text(yaml.safe_dump(config))
    platform = LocalPlatform("nuclio")
    platform.deploy(FunctionSource("demo-taska-taskb", hand, config))
    before = pids(platform)

    refused = cli("apply")
    assert refused.code == 1
    assert ("  demo-taska-taskb (for taska, taskb): held by a function with no fusionizer labels (deployed by "
            "hand or another tool)") in refused.err
    assert pids(platform) == before and {r.name: r.plan() for r in platform.list()} == {"demo-taska-taskb": None}

    cli.ok("apply", "--adopt")
    assert {r.name: r.plan() for r in platform.list()} == {
        "demo-taska-taskb": "demo", "demo-billing": "demo", "demo-storefront": "demo"}
    assert cli.ok("invoke", "taska").out.strip() == "8"
    assert cli("apply", "--detailed-exitcode").code == 0  # adopted once: ours from now on
