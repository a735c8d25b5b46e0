"""The fuser: deterministic build dirs, isolated task files, stable names, honest hashes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Optional

import pytest
import yaml

from fusionizer.build import fuser
from fusionizer.plan import naming
from fusionizer.plan.model import Group, Plan, Task
from fusionizer.platforms.base import ANNOTATION_REVISION, ANNOTATION_SPEC_HASH, ANNOTATION_TASKS, LABEL_PLAN
from fusionizer.runtime import layout


def make_task(root: Path, name: str, body: str = "return 'hi'", spec: Optional[Dict[str, Any]] = None,
              util: str = "X = 1\n") -> Task:
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    config = {"metadata": {"name": name}, "spec": {"runtime": "python:3.11", "handler": "main:handler", **(spec or {})}}
    (path / "function.yaml").write_text(yaml.safe_dump(config))
    (path / "main.py").write_text(f"import util\n\ndef handler(context, event):\n    {body}\n")
    (path / "util.py").write_text(util)
    return Task(name, path, "main:handler", "python:3.11", config)


def make_plan(root: Path, *tasks: Task) -> Plan:
    return Plan("demo", root / "fusionizer.yaml", {t.name: t for t in tasks}, ())


def test_function_names_are_stable_and_fit_kubernetes_limits() -> None:
    assert naming.function_name("demo", naming.group_name(["b", "a"])) == "demo-a-b"
    assert naming.group_name(["b", "a"], "checkout") == "checkout"
    long = naming.function_name("demo", naming.group_name([f"task-number-{i}" for i in range(10)]))
    assert len(long) <= 63 and long.startswith("demo-task-number-0-task-number-1")
    again = naming.function_name("demo", naming.group_name([f"task-number-{i}" for i in reversed(range(10))]))
    assert long == again
    other = naming.function_name("demo", naming.group_name([f"task-number-{i}" for i in range(11)]))
    assert other != long and len(other) <= 63


def test_build_dir_isolates_each_tasks_files_and_carries_the_runtime(tmp_path: Path) -> None:
    a = make_task(tmp_path / "src", "a", util="X = 'a'\n")
    b = make_task(tmp_path / "src", "b", util="X = 'b'\n")
    plan = make_plan(tmp_path, a, b)
    build = fuser.describe(plan, Group(("b", "a")))
    out = fuser.materialize(build, plan, tmp_path / "builds")
    assert (out / "tasks/a/util.py").read_text() == "X = 'a'\n"
    assert (out / "tasks/b/util.py").read_text() == "X = 'b'\n"
    assert (out / layout.RUNTIME_PACKAGE / "layout.py").is_file()
    assert (out / f"{layout.ENTRY_MODULE}.py").read_text() == layout.ENTRY_SOURCE
    manifest = json.loads((out / layout.MANIFEST).read_text())
    assert manifest == {"plan": "demo", "function": "demo-a-b", "tasks": {
        "a": {"dir": "tasks/a", "handler": "main:handler"}, "b": {"dir": "tasks/b", "handler": "main:handler"}}}
    config = yaml.safe_load((out / "function.yaml").read_text())
    assert config["metadata"]["name"] == "demo-a-b"
    assert config["metadata"]["labels"][LABEL_PLAN] == "demo"
    assert config["metadata"]["annotations"][ANNOTATION_TASKS] == "a,b"
    assert config["metadata"]["annotations"][ANNOTATION_SPEC_HASH] == build.spec_hash
    assert config["spec"]["handler"] == layout.ENTRY_HANDLER
    # The server's URL is the platform's to give at deploy time, never part of the build.
    assert layout.ENV_SERVER_URL not in {e["name"] for e in config["spec"].get("env") or []}


def test_builds_are_deterministic(tmp_path: Path) -> None:
    a = make_task(tmp_path / "src", "a")
    plan = make_plan(tmp_path, a)
    first = fuser.describe(plan, Group(("a",)))
    second = fuser.describe(plan, Group(("a",)))
    assert first.spec_hash == second.spec_hash and first.config == second.config
    d1 = fuser.materialize(first, plan, tmp_path / "b1")
    d2 = fuser.materialize(second, plan, tmp_path / "b2")
    files1 = sorted(p.relative_to(d1).as_posix() for p in d1.rglob("*") if p.is_file())
    files2 = sorted(p.relative_to(d2).as_posix() for p in d2.rglob("*") if p.is_file())
    assert files1 == files2
    assert all((d1 / f).read_bytes() == (d2 / f).read_bytes() for f in files1)


def test_hash_changes_exactly_when_behaviour_can_change(tmp_path: Path) -> None:
    a = make_task(tmp_path / "src", "a")
    plan = make_plan(tmp_path, a)
    base = fuser.describe(plan, Group(("a",))).spec_hash

    (a.path / "__pycache__").mkdir()
    (a.path / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"junk")
    (a.path / "main.py.swp").write_text("editor")
    assert fuser.describe(plan, Group(("a",))).spec_hash == base

    (a.path / "util.py").write_text("X = 2\n")
    code_changed = fuser.describe(plan, Group(("a",))).spec_hash
    assert code_changed != base

    env_task = Task("a", a.path, a.handler, a.runtime, {"spec": {"env": [{"name": "K", "value": "v"}]}})
    assert fuser.describe(make_plan(tmp_path, env_task), Group(("a",))).spec_hash != code_changed


def built_files(tmp_path: Path, plan: Plan, group: Group) -> Dict[str, str]:
    out = fuser.materialize(fuser.describe(plan, group), plan, tmp_path / "builds")
    return {p.relative_to(out).as_posix(): p.read_text() for p in (out / "tasks").rglob("*") if p.is_file()}


@pytest.mark.parametrize("rel", [".hypothesis/examples/x", ".mypy_cache/3.11/main.data.json", ".main.py.swo",
                                 "sedOyOdoS", ".pytest_cache/v/x", "notes.log", "secret.txt", "scratch/x.py"])
def test_what_the_ignore_rule_leaves_out_is_neither_built_nor_hashed(tmp_path: Path, rel: str) -> None:
    a = make_task(tmp_path / "src", "a")
    (tmp_path / ".gitignore").write_text("*.log\n!keep.log\n")  # the plan directory's rules reach the task
    (tmp_path / "src" / ".fusionizerignore").write_text("scratch/\n")  # so do those on the way down
    (a.path / ".fusionizerignore").write_text("secret.txt\n")
    plan = make_plan(tmp_path, a)
    base = fuser.describe(plan, Group(("a",))).spec_hash
    path = a.path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("left out")
    assert fuser.describe(plan, Group(("a",))).spec_hash == base
    files = built_files(tmp_path, plan, Group(("a",)))
    assert sorted(files) == ["tasks/a/function.yaml", "tasks/a/main.py", "tasks/a/util.py"]  # rules are not content
    (a.path / "keep.log").write_text("re-included by !keep.log")
    assert fuser.describe(plan, Group(("a",))).spec_hash != base
    assert "tasks/a/keep.log" in built_files(tmp_path, plan, Group(("a",)))


def test_the_executable_bit_is_built_and_hashed(tmp_path: Path) -> None:
    a = make_task(tmp_path / "src", "a")
    plan = make_plan(tmp_path, a)
    base = fuser.describe(plan, Group(("a",)))
    (a.path / "util.py").chmod(0o755)
    build = fuser.describe(plan, Group(("a",)))
    assert build.spec_hash != base.spec_hash
    out = fuser.materialize(build, plan, tmp_path / "builds")
    assert os.access(out / "tasks/a/util.py", os.X_OK) and not os.access(out / "tasks/a/main.py", os.X_OK)


def test_revision_annotations_do_not_change_the_hash(tmp_path: Path) -> None:
    a = make_task(tmp_path / "src", "a")
    plan = make_plan(tmp_path, a)
    build = fuser.describe(plan, Group(("a",)))
    out = fuser.materialize(build, plan, tmp_path / "builds")
    source = fuser.finalize(build, out, "abc123", "2026-11-27T00:00:00+00:00")
    assert source.config["metadata"]["annotations"][ANNOTATION_REVISION] == "abc123"
    assert yaml.safe_load((out / "function.yaml").read_text()) == source.config
    assert fuser.describe(plan, Group(("a",))).spec_hash == build.spec_hash


def test_group_config_merges_env_commands_and_resources(tmp_path: Path) -> None:
    a = make_task(tmp_path / "src", "a", spec={
        "env": [{"name": "A", "value": "1"}], "build": {"commands": ["pip install x"]},
        "resources": {"requests": {"cpu": "500m", "memory": "64Mi"}}, "maxReplicas": 2})
    b = make_task(tmp_path / "src", "b", spec={
        "env": [{"name": "B", "value": "2"}], "build": {"commands": ["pip install x", "pip install y"]},
        "resources": {"requests": {"cpu": "2", "memory": "32Mi"}}, "maxReplicas": 5})
    spec = fuser.describe(make_plan(tmp_path, a, b), Group(("a", "b"))).config["spec"]
    assert spec["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert spec["build"]["commands"] == ["pip install x", "pip install y"]
    assert spec["resources"] == {"requests": {"cpu": "2", "memory": "64Mi"}}
    assert spec["maxReplicas"] == 5


@pytest.mark.parametrize("names", [("a",), ("a", "b")])
def test_prune_keeps_only_the_named_build(tmp_path: Path, names: tuple[str, ...]) -> None:
    tasks = [make_task(tmp_path / "src", n) for n in names]
    plan = make_plan(tmp_path, *tasks)
    root = tmp_path / "builds"
    old = fuser.describe(plan, Group(names))
    fuser.materialize(old, plan, root)
    (tasks[0].path / "util.py").write_text("X = 3\n")
    new = fuser.describe(plan, Group(names))
    fuser.materialize(new, plan, root)
    fuser.OldBuilds(root).prune(new.function, keep=new.dir_name)
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == [new.dir_name]


@pytest.mark.parametrize("failure", [KeyboardInterrupt(), OSError(28, "No space left on device")])
def test_a_build_cut_short_leaves_no_half_written_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             failure: BaseException) -> None:
    task = make_task(tmp_path / "src", "a")
    plan = make_plan(tmp_path, task)
    build = fuser.describe(plan, Group(("a",)))
    root = tmp_path / "builds"

    def cut_short(source: str, dest: str, times: bool = False) -> None:
        raise failure

    monkeypatch.setattr(fuser.filecache, "copy_new", cut_short)
    with pytest.raises(type(failure)):
        fuser.materialize(build, plan, root)
    # What a build dir holds can be env values: nothing half written stays behind (neither
    # the runtime's copy, the first thing cut short, nor the build dir).
    assert list(root.iterdir()) == []
