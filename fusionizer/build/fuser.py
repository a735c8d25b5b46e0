"""The fuser: turns one fusion group into one deployable Nuclio function directory.

``describe`` is cheap (it hashes, it writes nothing) so a no-op reconcile never touches the
disk; ``materialize`` writes the deterministic build dir only for functions that change;
``finalize`` stamps the revision annotations just before deploying.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import yaml

from fusionizer import paths
from fusionizer.build import hashing, merging
from fusionizer.errors import FusionizerError
from fusionizer.ignore import Tree
from fusionizer.plan import naming
from fusionizer.plan.model import Group, Plan, Task
from fusionizer.platforms.base import (
    ANNOTATION_APPLIED_AT,
    ANNOTATION_REVISION,
    ANNOTATION_SPEC_HASH,
    ANNOTATION_TASKS,
    FunctionSource,
    label_selector,
)
from fusionizer.runtime import layout

_RUNTIME_SRC = Path(layout.__file__).parent


@dataclass(frozen=True)
class BuildFile:
    dest: str  # path inside the build dir, POSIX style
    source: str  # the file to copy


@dataclass(frozen=True)
class GroupBuild:
    """Everything needed to deploy one fusion group, before anything is written."""

    function: str
    group: str
    tasks: Tuple[str, ...]
    spec_hash: str
    config: Mapping[str, Any] = field(compare=False, hash=False)
    files: Tuple[BuildFile, ...] = field(compare=False, hash=False)

    @property
    def dir_name(self) -> str:
        return f"{self.function}-{self.spec_hash[:12]}"


def describe(plan: Plan, group: Group) -> GroupBuild:
    tasks = [plan.tasks[name] for name in sorted(group.tasks)]
    group_label = naming.group_name(group.tasks, group.name)
    function = naming.function_name(plan.name, group_label)
    files = _task_files(plan.root, tasks) + list(_runtime_files())
    config = _config(plan, function, tasks)
    spec_hash = hashing.spec_hash(config, [(f.dest, f.source) for f in files], _manifest(plan, function, tasks))
    config["metadata"]["annotations"][ANNOTATION_SPEC_HASH] = spec_hash
    return GroupBuild(function, group_label, tuple(t.name for t in tasks), spec_hash, config, tuple(files))


def materialize(build: GroupBuild, plan: Plan, root: Path) -> Path:
    """Write the build dir under ``root`` (reused when it exists: same hash, same content)."""
    target = root / build.dir_name
    if (target / layout.FUNCTION_CONFIG).is_file():
        return target
    paths.private_dir(root)  # function.yaml holds env values
    tmp = Path(tempfile.mkdtemp(prefix=f".{build.dir_name}-", dir=root))
    for item in build.files:
        dest = tmp / item.dest
        paths.private_dir(dest.parent)
        shutil.copy(item.source, dest)  # with its mode: an executable stays executable
        os.chmod(dest, stat.S_IMODE(os.stat(dest).st_mode) & 0o700)  # ... and its owner's only
    tasks = [plan.tasks[t] for t in build.tasks]
    paths.write_atomically(tmp / layout.MANIFEST, json.dumps(_manifest(plan, build.function, tasks), indent=2,
                                                            sort_keys=True))
    paths.write_atomically(tmp / f"{layout.ENTRY_MODULE}.py", layout.ENTRY_SOURCE)
    _write_yaml(tmp / layout.FUNCTION_CONFIG, build.config)
    try:
        os.rename(tmp, target)
    except OSError:
        # Another process materialised the same hash first: its content is identical.
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def finalize(build: GroupBuild, build_dir: Path, revision: str, applied_at: str) -> FunctionSource:
    config = json.loads(json.dumps(build.config))
    annotations = config["metadata"]["annotations"]
    annotations[ANNOTATION_REVISION] = revision
    annotations[ANNOTATION_APPLIED_AT] = applied_at
    _write_yaml(build_dir / layout.FUNCTION_CONFIG, config)
    return FunctionSource(build.function, build_dir, config)


def prune(root: Path, function: str, keep: Sequence[str]) -> None:
    """Drop old build dirs of ``function`` except those named in ``keep``."""
    if not root.is_dir():
        return
    for entry in root.iterdir():
        if entry.name.startswith(f"{function}-") and entry.name not in keep and entry.name[len(function) + 1 :].isalnum():
            shutil.rmtree(entry, ignore_errors=True)


def _config(plan: Plan, function: str, tasks: List[Task]) -> Dict[str, Any]:
    # The server's URL is not part of the function: each platform gives it at deploy time
    # (env FUSIONIZER_SERVER_URL), so a server that moves redeploys nothing.
    spec = merging.merge_specs([t.config.get("spec") or {} for t in tasks])
    spec["runtime"] = tasks[0].runtime
    spec["handler"] = layout.ENTRY_HANDLER
    runtime_commands = _runtime_commands(tasks)
    if runtime_commands:
        build = spec.setdefault("build", {})
        build["commands"] = merging.merge_commands([runtime_commands, build.get("commands") or []])
    labels = merging.merge_labels([t.config.get("metadata") or {} for t in tasks])
    labels.update(label_selector(plan.name))
    return {
        "metadata": {
            "name": function,
            "labels": labels,
            "annotations": {ANNOTATION_TASKS: ",".join(t.name for t in tasks)},
        },
        "spec": spec,
    }


def _runtime_commands(tasks: List[Task]) -> List[str]:
    """What the runtime needs beyond Nuclio's Python image (the standard library, msgpack
    and nuclio-sdk): requests, for a task that takes a requests_session."""
    return [layout.REQUESTS_BUILD_COMMAND] if any(t.takes_session for t in tasks) else []


def _manifest(plan: Plan, function: str, tasks: List[Task]) -> layout.Manifest:
    return {
        "plan": plan.name,
        "function": function,
        "tasks": {t.name: {"dir": f"{layout.TASKS_DIR}/{t.name}", "handler": t.handler} for t in tasks},
    }


def _task_files(plan_root: Path, tasks: List[Task]) -> List[BuildFile]:
    files: List[BuildFile] = []
    plan_tree = Tree(plan_root)
    for task in tasks:
        prefix = f"{layout.TASKS_DIR}/{task.name}"
        files.extend(BuildFile(f"{prefix}/{rel}", source) for rel, source in task_content(plan_tree, task))
    return files


def task_content(plan_tree: Tree, task: Task) -> List[Tuple[str, str]]:
    """The task's files by the ignore rule, exactly as a directory source's revision sees them."""
    tree, start = plan_tree.locate(task.path)
    try:
        found = [f for f in tree.files(start) if not f.rule]
    except OSError as e:
        raise FusionizerError(f"cannot read task {task.name}: {e.strerror or e} ({e.filename})") from e
    return [(f.rel[len(start) + 1 :] if start else f.rel, f.path) for f in found]


@functools.lru_cache(maxsize=1)
def _runtime_files() -> Tuple[BuildFile, ...]:
    # The runtime package ships inside every function: its files count in every hash.
    return tuple(
        BuildFile(f"{layout.RUNTIME_PACKAGE}/{f.rel}", f.path)
        for f in Tree(_RUNTIME_SRC).files()
        if f.rel.endswith(".py")
    )


def _write_yaml(path: Path, data: Mapping[str, Any]) -> None:
    paths.write_atomically(path, yaml.safe_dump(dict(data), sort_keys=True, default_flow_style=False))
