"""Fuzzing plan loading: whatever a plan and a task's function.yaml say, loading answers with
diagnostics (never a traceback), `validate` exits 0 or 1 (never 3), and a plan that loads
also builds (its functions can be described, as `plan` and `apply` do).

Seeded and bounded: the same examples every run (``FUSIONIZER_FUZZ_SEED``), and a few
seconds (``FUSIONIZER_FUZZ_EXAMPLES``, default 150). Documents are a valid plan and
function.yaml with values replaced by anything JSON or YAML can hold, then serialised, and
sometimes cut or spliced with YAML's sharp edges (anchors, tags, tabs, NUL, deep brackets).
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import yaml
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

from fusionizer.build import fuser
from fusionizer.cli import main
from fusionizer.plan.identity import read_identity
from fusionizer.plan.loader import check_plan
from fusionizer.plan.schedule import complete_groups

SEED = int(os.environ.get("FUSIONIZER_FUZZ_SEED", "20261127"))
EXAMPLES = int(os.environ.get("FUSIONIZER_FUZZ_EXAMPLES", "150"))

PLAN: Dict[str, Any] = {
    "apiVersion": "fusionizer.io/v1", "kind": "FusionPlan", "metadata": {"name": "fuzz"},
    "spec": {
        "platform": {"kind": "local", "namespace": "nuclio"},
        "tasks": [{"name": "a", "path": "tasks/a"}],
        "taskDirs": ["more"],
        "fusion": {"groups": [["a", "b"]], "schedule": [{"after": "40s", "groups": [{"name": "g", "tasks": ["a"]}]}]},
    },
}
FUNCTION: Dict[str, Any] = {
    "metadata": {"name": "a", "labels": {"team": "x"}},
    "spec": {"runtime": "python:3.11", "handler": "main:handler", "env": [{"name": "A", "value": "1"}],
             "build": {"commands": ["echo hi"]}, "resources": {"limits": {"cpu": "500m"}},
             "triggers": {"http": {"kind": "http", "numWorkers": 2}}, "minReplicas": 1},
}
PLAN_PATHS: List[Tuple[Any, ...]] = [
    (), ("apiVersion",), ("kind",), ("metadata",), ("metadata", "name"), ("spec",), ("spec", "platform"),
    ("spec", "platform", "kind"), ("spec", "platform", "serverUrl"), ("spec", "tasks"), ("spec", "tasks", 0),
    ("spec", "tasks", 0, "name"), ("spec", "tasks", 0, "path"), ("spec", "taskDirs"), ("spec", "taskDirs", 0),
    ("spec", "fusion"), ("spec", "fusion", "groups"), ("spec", "fusion", "groups", 0),
    ("spec", "fusion", "groups", 0, 0), ("spec", "fusion", "schedule"), ("spec", "fusion", "schedule", 0),
    ("spec", "fusion", "schedule", 0, "after"), ("spec", "fusion", "schedule", 0, "at"),
    ("spec", "fusion", "schedule", 0, "groups"), ("spec", "optimizer"),
]
# What the fuser merges from every task of a group (the plan checks the rest in detail).
MERGED_PATHS: List[Tuple[Any, ...]] = [
    ("metadata",), ("metadata", "labels"), ("metadata", "labels", "team"), ("metadata", "annotations"),
    ("spec", "build"), ("spec", "build", "image"), ("spec", "resources"), ("spec", "resources", "limits"),
    ("spec", "resources", "limits", "cpu"), ("spec", "resources", "requests"), ("spec", "triggers"),
    ("spec", "triggers", "http"), ("spec", "triggers", "http", "numWorkers"), ("spec", "minReplicas"),
    ("spec", "maxReplicas"), ("spec", "readinessTimeoutSeconds"), ("spec", "description"),
]
FUNCTION_PATHS: List[Tuple[Any, ...]] = MERGED_PATHS + [
    (), ("spec",), ("spec", "runtime"), ("spec", "handler"), ("spec", "env"), ("spec", "env", 0),
    ("spec", "env", 0, "name"), ("spec", "env", 0, "value"), ("spec", "build", "commands"),
    ("spec", "build", "commands", 0),
]
# Strings users (or attackers) write where names, paths, durations and times go.
WORDS = st.sampled_from([
    "a", "b", "g", "a-b", "A_B", "", " ", "../x", "/etc", "..", ".", "tasks/a", "more", "a\x00b", "x=y",
    "40s", "9999999999d", "0s", "1h30m", "2024-02-30T00:00:00Z", "2030-01-01T00:00:00Z",
    "9999-12-31T23:00:00-05:00", "2030-01-01T00:00:00+25:00", "python:3.11", "python:3.6", "python",
    "main:handler", "main.py:handler", "nuctl", "http://x", "ftp://x", "1.2.3", "500m", "1Gi", "x" * 70,
    "fusionizer.io/v1", "FusionPlan", "ünïcødé", "\u2028", "-1", "1e999", "NaN",
])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**40, max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True), WORDS, st.text(max_size=12),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(WORDS, st.text(max_size=6)), inner, max_size=4)),
    max_leaves=12)
SPLICES = st.sampled_from([
    "&a ", "*a", "<<: *a\n", "!!binary ", "!!python/name:os.system ", "!!set ", "[", "]", "{", "}", ": ", "- ",
    "\t", "\x00", "\x07", "\ufeff", "---\n", "? ", "|\n", ">-\n", "'", '"', "%YAML 1.1\n", "#", "9" * 5000,
    "[" * 80, "{a: " * 70, "\n  - ", "~", "=", "&x [*x]",
])


def mutated(base: Dict[str, Any], paths: List[Tuple[Any, ...]], sharp: bool = True) -> st.SearchStrategy[str]:
    """``base`` with a few values replaced, as YAML text; if ``sharp``, sometimes cut or spliced."""
    edits = st.lists(st.tuples(st.sampled_from(paths), VALUES), max_size=3)
    splices = st.lists(st.tuples(st.floats(0, 1), SPLICES), max_size=2 if sharp else 0)
    cut = st.one_of(st.none(), st.floats(0, 1)) if sharp else st.none()
    return st.builds(_render, st.just(base), edits, splices, cut)



def _render(base: Dict[str, Any], edits: List[Tuple[Tuple[Any, ...], Any]], splices: List[Tuple[float, str]],
            cut: Any) -> str:
    doc: Any = copy.deepcopy(base)
    for path, value in edits:
        doc = _replace(doc, path, value)
    text = yaml.safe_dump(doc, allow_unicode=True)
    for where, splice in splices:
        at = int(where * len(text))
        text = text[:at] + splice + text[at:]
    return text[: int(cut * len(text))] if cut is not None else text


def _replace(doc: Any, path: Tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict) and isinstance(head, str):
        doc[head] = _replace(doc.get(head), rest, value)
    elif isinstance(doc, list) and isinstance(head, int) and head < len(doc):
        doc[head] = _replace(doc[head], rest, value)
    return doc


# Half the plans load, so that what follows loading (naming, merging, hashing) is fuzzed too.
PLANS = st.one_of(st.just(yaml.safe_dump(PLAN)), mutated(PLAN, PLAN_PATHS))
FUNCTIONS = st.one_of(mutated(FUNCTION, MERGED_PATHS, sharp=False), mutated(FUNCTION, FUNCTION_PATHS))


def write_plan(root: Path, plan: str, function: str) -> Path:
    for task, config in (("tasks/a", function), ("more/b", yaml.safe_dump(FUNCTION))):
        (root / task).mkdir(parents=True)
        (root / task / "function.yaml").write_text(config, encoding="utf-8")
        (root / task / "main.py").write_text("def handler(context, event):\n    return 1\n")
    (root / "fusionizer.yaml").write_text(plan, encoding="utf-8")
    return root / "fusionizer.yaml"


@seed(SEED)
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(plan=PLANS, function=FUNCTIONS)
def test_plan_loading_never_crashes(plan: str, function: str, capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        path = write_plan(root, plan, function)
        loaded, diagnostics = check_plan(path)
        event("valid" if loaded is not None else "invalid")
        assert (loaded is None) == any(d.severity == "error" for d in diagnostics)
        read_identity(path)
        if loaded is not None:  # what plan and apply do next: name and hash every function
            for group in complete_groups(loaded.groups, loaded.tasks):
                fuser.describe(loaded, group)
        capsys.readouterr()
        code = main(["validate", "-f", str(path)])
        out, err = capsys.readouterr()
        assert code in (0, 1) and "Traceback" not in out + err, out + err
        assert (code == 0) == (loaded is not None)
    finally:
        shutil.rmtree(root)
