"""Custom optimizers from the plan: loaded next to it without polluting ``sys.modules``,
run on the API, and every way one can break reported by ``validate`` at its line."""

from __future__ import annotations

import sys
import textwrap
import types
from pathlib import Path
from typing import Any, Dict, Optional

import pytest

from fusionizer.cli import main
from fusionizer.optimize.feedback import FeedbackOptimizer
from fusionizer.optimize.loading import OptimizerError, check_optimizer, load_optimizer
from fusionizer.optimize.running import run_optimizer
from fusionizer.optimize.static import StaticOptimizer
from fusionizer.plan.loader import load_plan
from fusionizer.plan.model import Group, Plan
from fusionizer.plan.schedule import complete_groups

PAIRS = """
from fusionizer.optimize import Proposal, Reason

LABEL = "{label}"

class Pairs:
    '''Fuses the pairs it is given; says which module it came from.'''

    def __init__(self, pairs, note="none"):
        self.pairs = [tuple(p) for p in pairs]
        self.note = note

    def propose(self, given):
        return Proposal(tuple(self.pairs), tuple(Reason(p, f"{{LABEL}}: {{self.note}}") for p in self.pairs))
"""


def write_plan(root: Path, optimizer: Optional[str], files: Dict[str, str]) -> Path:
    """A plan with tasks a, b, c in ``root``, ``spec.optimizer`` as given (YAML flow text)."""
    for name in "abc":
        (root / "tasks" / name).mkdir(parents=True)
        (root / "tasks" / name / "function.yaml").write_text("spec:\n  runtime: python:3.11\n  handler: main:handler\n")
        (root / "tasks" / name / "main.py").write_text("def handler(context, event):\n    return 'ok'\n")
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(textwrap.dedent(text).lstrip("\n"))
    line = f"  optimizer: {optimizer}\n" if optimizer else ""
    plan = root / "fusionizer.yaml"
    plan.write_text(f"apiVersion: fusionizer.io/v1\nkind: FusionPlan\nmetadata:\n  name: {root.name}\n"
                    f"spec:\n  taskDirs: [tasks]\n{line}")
    return plan


def run(plan: Plan) -> Any:
    given = _given(plan)
    return run_optimizer(load_optimizer(plan), given, "custom")


def _given(plan: Plan) -> Any:
    from fusionizer.optimize.api import CallStats, OptimizerInput
    from testing.optimizing import NOW

    return OptimizerInput(plan, complete_groups(plan.groups, plan.tasks), CallStats(), NOW, NOW)


def test_a_custom_optimizer_next_to_the_plan_decides_with_its_options(tmp_path: Path) -> None:
    path = write_plan(tmp_path / "one", "{class: 'myopt:Pairs', options: {pairs: [[a, c]], note: hot}}",
                      {"myopt.py": PAIRS.format(label="one")})
    outcome = run(load_plan(path))
    assert outcome.error is None
    assert outcome.proposed == (Group(("a", "c")), Group(("b",)))
    assert outcome.changes[0].reasons == ("one: hot",)


def test_two_plans_each_get_their_own_module_and_sys_modules_stays_clean(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shadowed = types.ModuleType("myopt")
    monkeypatch.setitem(sys.modules, "myopt", shadowed)  # e.g. another myopt already imported
    plans = []
    for label, pair in (("one", "[a, b]"), ("two", "[b, c]")):
        path = write_plan(tmp_path / label, f"{{class: 'myopt:Pairs', options: {{pairs: [{pair}]}}}}",
                          {"myopt.py": PAIRS.replace("from fusionizer", "import helper\nfrom fusionizer").format(
                              label=label), "helper.py": f"NAME = '{label}'\n"})
        plans.append(load_plan(path))
    before = set(sys.modules)
    first, second = (run(p) for p in plans)
    assert first.proposed == (Group(("a", "b")), Group(("c",)))
    assert second.proposed == (Group(("a",)), Group(("b", "c")))
    assert first.changes[0].reasons == ("one: none",) and second.changes[0].reasons == ("two: none",)
    assert sys.modules["myopt"] is shadowed and "helper" not in sys.modules
    assert not {m for m in set(sys.modules) - before if m.startswith(("myopt", "helper"))}
    assert not list(tmp_path.rglob("__pycache__"))  # no bytecode written next to the plan


def test_a_package_next_to_the_plan(tmp_path: Path) -> None:
    files = {"opt/__init__.py": "", "opt/rules.py": "PAIR = ('a', 'b')\n",
             "opt/impl.py": """
                 from fusionizer.optimize import Proposal
                 from opt.rules import PAIR
                 from . import rules

                 class Fixed:
                     def propose(self, given):
                         assert rules.PAIR == PAIR
                         return Proposal((PAIR,))
             """}
    outcome = run(load_plan(write_plan(tmp_path / "pkg", "{class: 'opt.impl:Fixed'}", files)))
    assert outcome.error is None and outcome.proposed == (Group(("a", "b")), Group(("c",)))
    assert not any(m == "opt" or m.startswith("opt.") for m in sys.modules)


def test_built_in_optimizers_by_their_path_and_the_default(tmp_path: Path) -> None:
    static = load_plan(write_plan(tmp_path / "st", "{class: 'fusionizer.optimize:StaticOptimizer'}", {}))
    assert isinstance(load_optimizer(static), StaticOptimizer)
    feedback = load_optimizer(load_plan(write_plan(tmp_path / "fb", None, {})))
    assert isinstance(feedback, FeedbackOptimizer)


# Loads until the test creates ``released`` next to it (a hung import cannot be stopped).
SLOW = """
import os, time
while not os.path.exists(os.path.join(os.path.dirname(__file__), "released")):
    time.sleep(0.01)
"""

BROKEN = [
    ("syntax", "{class: 'myopt:Pairs'}", {"myopt.py": "def broken(:\n"}, "import",
     "cannot import myopt (next to the plan, in"),
    ("raises", "{class: 'myopt:Pairs'}", {"myopt.py": "raise RuntimeError('no config')\n"}, "import",
     "RuntimeError: no config"),
    ("exits", "{class: 'myopt:Pairs'}", {"myopt.py": "import sys\nsys.exit(3)\n"}, "import",
     "cannot import myopt (next to the plan, in"),
    ("missing", "{class: 'nowhere:Pairs'}", {}, "import",
     "cannot import nowhere (no nowhere.py or nowhere/ next to the plan"),
    ("class", "{class: 'myopt:Paris'}", {"myopt.py": PAIRS.format(label="x")}, "class",
     "module myopt has no Paris; it defines: Pairs"),
    ("not-a-class", "{class: 'myopt:LABEL'}", {"myopt.py": PAIRS.format(label="x")}, "class",
     "myopt:LABEL is a str, not a class"),
    ("protocol", "{class: 'myopt:Nope'}", {"myopt.py": "class Nope:\n    def suggest(self, given): pass\n"},
     "protocol", "myopt:Nope has no propose(given) method"),
    ("options", "{class: 'myopt:Pairs', options: {pair: [[a, b]]}}", {"myopt.py": PAIRS.format(label="x")},
     "options", "myopt:Pairs(**options) failed: TypeError"),
    ("feedback-options", "{class: 'fusionizer.optimize:FeedbackOptimizer', options: {maxTasks: many}}", {},
     "options", "maxTasks must be a whole number >= 1, got 'many'"),
    ("slow", "{class: 'myopt:Pairs'}", {"myopt.py": SLOW}, "timeout", "importing myopt took longer than 0.3 s"),
]


@pytest.mark.parametrize("case, optimizer, files, kind, message", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_optimizer_is_an_error_of_its_kind_at_its_line(
        tmp_path: Path, case: str, optimizer: str, files: Dict[str, str], kind: str, message: str) -> None:
    plan = load_plan(write_plan(tmp_path / case, optimizer, files))
    try:
        (diagnostic,) = check_optimizer(plan, Path("fusionizer.yaml"), timeout_s=0.3)
        assert (diagnostic.file, diagnostic.line) == ("fusionizer.yaml", 7) and message in diagnostic.message
        assert diagnostic.path == ("spec.optimizer.options" if kind == "options" else "spec.optimizer.class")
        with pytest.raises(OptimizerError) as caught:
            load_optimizer(plan, timeout_s=0.3)
        assert caught.value.kind == kind
        # A hung import cannot be stopped: it holds the way until it ends, and says so.
        expected = "another optimizer module is still being imported" if case == "slow" else message
        assert expected in str(caught.value)
    finally:
        (plan.root / "released").touch()


def test_validate_reports_a_broken_optimizer_and_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    write_plan(tmp_path / "v", "{class: 'myopt:Paris', options: {pairs: []}}", {"myopt.py": PAIRS.format(label="x")})
    monkeypatch.chdir(tmp_path / "v")
    assert main(["validate"]) == 1
    out = capsys.readouterr().out
    assert "fusionizer.yaml:7:" in out and "error: optimizer: module myopt has no Paris" in out
    assert "the plan is invalid" in out
    (tmp_path / "v" / "myopt.py").write_text(PAIRS.format(label="x").replace("Pairs", "Paris"))
    assert main(["validate"]) == 0
