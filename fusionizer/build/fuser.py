"""The fuser: turns one fusion group into one deployable Nuclio function directory.

``describe`` is cheap (it hashes, it writes nothing) so a no-op reconcile never touches the
disk; ``materialize`` writes the deterministic build dir only for functions that change;
``finalize`` stamps the revision annotations just before deploying (``prepare`` does both,
for a deploy).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Sequence, Set, Tuple

import yaml

from fusionizer import filecache, paths
from fusionizer.build import hashing, merging
from fusionizer.errors import FusionizerError
from fusionizer.filecache import Listed
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
_RUNTIME_PREFIX = f"{layout.RUNTIME_PACKAGE}/"
_RUNTIME_COPY = ".runtime-"  # + version: the runtime's files every build dir under a root links to
_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when PyYAML has it: a tenth of the time


@dataclass(frozen=True, slots=True)  # made by the ten thousand: slots make that cheaper
class BuildFile:
    dest: str  # path inside the build dir, POSIX style
    source: str  # the file to copy
    mark: str  # what the spec hash covers of it: see hashing.mark


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
    return describe_all(plan, [group])[0]


def describe_all(plan: Plan, groups: Sequence[Group]) -> List[GroupBuild]:
    """:func:`describe` of each group, reading the runtime's files and the plan's ignore
    files once for all of them."""
    runtime = _runtime_files()
    plan_tree = Tree(plan.root)
    return [_describe(plan, group, plan_tree, runtime) for group in groups]


def _describe(plan: Plan, group: Group, plan_tree: Tree, runtime: List[BuildFile]) -> GroupBuild:
    tasks = [plan.tasks[name] for name in sorted(group.tasks)]
    group_label = naming.group_name(group.tasks, group.name)
    function = naming.function_name(plan.name, group_label)
    files = _task_files(plan, plan_tree, tasks) + runtime
    config = _config(plan, function, tasks)
    spec_hash = hashing.spec_hash(config, [(f.dest, f.mark) for f in files], _manifest(plan, function, tasks))
    config["metadata"]["annotations"][ANNOTATION_SPEC_HASH] = spec_hash
    return GroupBuild(function, group_label, tuple(t.name for t in tasks), spec_hash, config, tuple(files))


def materialize(build: GroupBuild, plan: Plan, root: Path) -> Path:
    """Write the build dir under ``root`` (reused when it exists: same hash, same content)."""
    paths.private_dir(root)  # function.yaml holds env values
    target = root / build.dir_name
    if not (target / layout.FUNCTION_CONFIG).is_file():
        _write_dir(build, plan, root, build.config)
    return target


def prepare(build: GroupBuild, plan: Plan, root: Path, revision: str, applied_at: str) -> FunctionSource:
    """:func:`materialize` then :func:`finalize`, writing function.yaml once when the build
    dir is new (rewriting a file costs the filesystem a flush). The build dir is the deploy's
    to take (``disposable``). ``root`` is a private directory (the caller makes it so once for
    all its builds)."""
    target = root / build.dir_name
    config = _stamped(build, revision, applied_at)
    if (target / layout.FUNCTION_CONFIG).is_file() or not _write_dir(build, plan, root, config):
        _write_yaml(target / layout.FUNCTION_CONFIG, config)
    # A build dir taken by a platform is written again by the next deploy that needs it.
    return FunctionSource(build.function, target, config, disposable=True)


def _write_dir(build: GroupBuild, plan: Plan, root: Path, config: Mapping[str, Any]) -> bool:
    """Write the build dir with ``config`` as its function.yaml; False when another process
    wrote the same hash first (its content is identical but for function.yaml's stamps).

    A new file or directory is the slow part on most filesystems (an inode each): what is
    the same in every build (the runtime, the entry module) is linked, and the build's own
    files are written straight into a temporary directory that only its rename shows."""
    copy = _runtime_copy(root, [f for f in build.files if f.dest.startswith(_RUNTIME_PREFIX)])
    with _made_in(root, build.dir_name) as tmp:
        made = {tmp}
        for item in build.files:
            dest = os.path.join(tmp, item.dest)
            _make_parents(os.path.dirname(dest), made)
            if item.dest.startswith(_RUNTIME_PREFIX):
                filecache.link_or_copy(os.path.join(copy, item.dest), dest)
            else:
                filecache.copy_new(item.source, dest)
        entry = f"{layout.ENTRY_MODULE}.py"
        filecache.link_or_copy(os.path.join(copy, entry), os.path.join(tmp, entry))
        tasks = [plan.tasks[t] for t in build.tasks]
        manifest = json.dumps(_manifest(plan, build.function, tasks), indent=2, sort_keys=True)
        paths.write_new(os.path.join(tmp, layout.MANIFEST), manifest.encode())
        paths.write_new(os.path.join(tmp, layout.FUNCTION_CONFIG), _yaml(config).encode())
    return _shown(tmp, root / build.dir_name)


@contextmanager
def _made_in(root: Path, name: str) -> Iterator[str]:
    """A new private temporary directory under ``root`` to fill, removed should the filling
    fail or be interrupted (what it holds may be env values)."""
    tmp = tempfile.mkdtemp(prefix=f".{name}-", dir=root)  # 0700: what is inside is private
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _shown(tmp: str, target: Path) -> bool:
    """``tmp`` renamed ``target``; False (and ``tmp`` removed) when another process made
    ``target`` first: the same content."""
    try:
        os.rename(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        return False
    return True


def _make_parents(directory: str, made: Set[str]) -> None:
    """``directory`` and its missing parents below a directory in ``made`` (each made once)."""
    if directory in made:
        return
    _make_parents(os.path.dirname(directory), made)
    os.mkdir(directory, paths.PRIVATE_DIR)
    made.add(directory)


def _runtime_copy(root: Path, files: Sequence[BuildFile]) -> str:
    """One copy under ``root`` of the runtime's ``files`` and the entry module, which nothing
    ever writes to again: every build dir links to it instead of copying the same files once
    more."""
    marks = "".join(f"{f.dest}\0{f.mark}\n" for f in files) + layout.ENTRY_SOURCE
    copy = root / f"{_RUNTIME_COPY}{hashlib.sha256(marks.encode()).hexdigest()[:16]}"
    if not copy.is_dir():
        with _made_in(root, copy.name) as tmp:
            made = {tmp}
            for item in files:
                dest = os.path.join(tmp, item.dest)
                _make_parents(os.path.dirname(dest), made)
                filecache.copy_new(item.source, dest)
            paths.write_new(os.path.join(tmp, f"{layout.ENTRY_MODULE}.py"), layout.ENTRY_SOURCE.encode())
        _shown(tmp, copy)
        # Older runtimes' copies: their links in build dirs stay; the plan's lock keeps
        # another apply from linking to them meanwhile.
        for old in root.glob(f"{_RUNTIME_COPY}*"):
            if old != copy:
                shutil.rmtree(old, ignore_errors=True)
    return str(copy)


def finalize(build: GroupBuild, build_dir: Path, revision: str, applied_at: str) -> FunctionSource:
    config = _stamped(build, revision, applied_at)
    _write_yaml(build_dir / layout.FUNCTION_CONFIG, config)
    return FunctionSource(build.function, build_dir, config)


def _stamped(build: GroupBuild, revision: str, applied_at: str) -> Dict[str, Any]:
    """The build's config with this deploy's revision annotations (outside the spec hash)."""
    config: Dict[str, Any] = json.loads(json.dumps(build.config))
    annotations = config["metadata"]["annotations"]
    annotations[ANNOTATION_REVISION] = revision
    annotations[ANNOTATION_APPLIED_AT] = applied_at
    return config


class OldBuilds:
    """The build dirs under ``root`` (``<function>-<hash>``), listed once: dropping a
    function's old ones after each deploy then costs no look at the whole root, which holds
    one build per function where the platform leaves them (nuctl)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._by_function: Dict[str, List[str]] = {}
        try:
            names = os.listdir(root)
        except (FileNotFoundError, NotADirectoryError):
            names = []
        for name in names:
            function, _, suffix = name.rpartition("-")
            if function and suffix.isalnum() and not name.startswith("."):
                self._by_function.setdefault(function, []).append(name)

    def prune(self, function: str, keep: str) -> None:
        """Drop the build dirs of ``function`` listed, except ``keep``."""
        for name in self._by_function.get(function, ()):
            if name != keep:
                shutil.rmtree(self.root / name, ignore_errors=True)


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


def _task_files(plan: Plan, plan_tree: Tree, tasks: List[Task]) -> List[BuildFile]:
    files: List[BuildFile] = []
    for task in tasks:
        prefix = f"{layout.TASKS_DIR}/{task.name}"
        files.extend(BuildFile(f"{prefix}/{f.rel}", f.path, hashing.mark(f.digest, f.executable))
                     for f in task_content(plan, plan_tree, task))
    return files


def task_content(plan: Plan, plan_tree: Tree, task: Task) -> Tuple[Listed, ...]:
    """The task's files by the ignore rule, exactly as a directory source's revision sees them:
    the snapshot's listing of them when the plan has one, else a walk of the disk."""
    listed = plan.listing.directory(task.path) if plan.listing is not None else None
    if listed is not None:
        return listed
    tree, start = plan_tree.locate(task.path)
    try:
        return tuple(Listed.walked(f.rel[len(start) + 1 :] if start else f.rel, f, filecache.digest(f.path, f.stat))
                     for f in tree.files(start) if not f.rule)
    except OSError as e:
        raise FusionizerError(f"cannot read task {task.name}: {e.strerror or e} ({e.filename})") from e


def _runtime_files() -> List[BuildFile]:
    # The runtime package ships inside every function: its files count in every hash.
    return [
        BuildFile(f"{layout.RUNTIME_PACKAGE}/{f.rel}", f.path, hashing.mark(filecache.digest(f.path, f.stat), f.executable))
        for f in Tree(_RUNTIME_SRC).files()
        if f.rel.endswith(".py")
    ]


def _write_yaml(path: Path, data: Mapping[str, Any]) -> None:
    paths.write_atomically(path, _yaml(data))


def _yaml(data: Mapping[str, Any]) -> str:
    return yaml.dump(dict(data), Dumper=_DUMPER, sort_keys=True, default_flow_style=False)
