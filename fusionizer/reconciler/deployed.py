"""The build last deployed per function, and what a new build changes against it.

Apply keeps, for every function it deployed, the files of its build (hard links into the
build directory where the file system allows, else copies) and a ``deployed.json``: spec
hash, tasks with their handlers, the function config, and which kept file holds each path
of the build. The files lie side by side in the function's directory, named by the sha256
of their bytes: a kept build makes two new directory entries that need an inode (its
directory and its record), not one per directory of the build. The runtime's files, the
same in every build, are kept once for all functions (in ``.runtime/``). It lives in the plan's state
directory of that platform (:class:`~fusionizer.reconciler.state.PlanState`), written the
same way whatever the platform, so ``plan`` can say what an update changes (tasks added or
removed, files by path, env/build/config keys) instead of two hashes, and ``plan --diff``
can show the text. A function deployed before this was kept, or from elsewhere, has no
details: :func:`compare` says so.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Set, Tuple

from fusionizer import filecache, paths
from fusionizer.build import hashing
from fusionizer.build.fuser import GroupBuild
from fusionizer.runtime import layout

_RECORD = "deployed.json"
_SHARED = ".runtime"  # beside the functions' directories: no function is named so (a DNS label)
_RUNTIME_PREFIX = f"{layout.RUNTIME_PACKAGE}/"
_FILES = "files"  # where a build kept by an earlier version has its files, by path
_DIFF_LIMIT = 256 * 1024  # bytes: larger files are listed, never diffed
# Keys that differ with every deploy and say nothing about the change itself.
_VOLATILE_ANNOTATIONS = ("fusionizer.io/spec-hash",)


@dataclass(frozen=True)
class Deployed:
    """One function's build as last deployed from here."""

    function: str
    spec_hash: str
    handlers: Mapping[str, str]  # task -> handler
    config: Mapping[str, Any]
    files: Tuple[str, ...]  # paths inside the build
    root: Path  # where the files are kept
    kept_as: Mapping[str, str] = field(default_factory=dict)  # path -> file name in root

    def path(self, dest: str) -> Path:
        name = self.kept_as.get(dest)
        return self.root / name if name else self.root / _FILES / dest

    def same(self, dest: str, digest: str, other: Path) -> bool:
        """Is ``dest`` as deployed the file ``other`` (whose sha256 is ``digest``)? By the
        digest it was kept by, not its bytes now: the kept file is the one the function runs,
        which may rewrite it."""
        name = self.kept_as.get(dest)
        return os.path.basename(name) == digest if name else _same(self.path(dest), other)


@dataclass(frozen=True)
class Details:
    """What one update changes, or why that is not known (``unknown``)."""

    unknown: str = ""
    tasks_added: Tuple[str, ...] = ()
    tasks_removed: Tuple[str, ...] = ()
    files_added: Tuple[str, ...] = ()
    files_removed: Tuple[str, ...] = ()
    files_changed: Tuple[str, ...] = ()
    env: Tuple[str, ...] = ()  # variable names added, removed or changed (never values)
    build: Tuple[str, ...] = ()  # spec.build keys
    config: Tuple[str, ...] = ()  # other config keys, dotted; task handlers as tasks.<name>.handler
    diffs: Tuple[str, ...] = field(default=(), compare=False)  # unified diffs of text files, when asked

    def to_json(self) -> Dict[str, object]:
        if self.unknown:
            return {"unknown": self.unknown}
        return {
            "tasks": {"added": list(self.tasks_added), "removed": list(self.tasks_removed)},
            "files": {"added": list(self.files_added), "removed": list(self.files_removed),
                      "changed": list(self.files_changed)},
            "env": list(self.env), "build": list(self.build), "config": list(self.config),
            **({"diff": "".join(self.diffs)} if self.diffs else {}),
        }


class DeployedBuilds:
    """The ``deployed/`` directory of one plan's state (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._shared: Set[str] = set()  # the runtime's files linked into _SHARED by this one
        self._private = False  # root made private (once: it lives for one apply)

    def stage(self, build: GroupBuild, build_dir: Path, handlers: Mapping[str, str]) -> Path:
        """``build`` kept aside, for :meth:`commit` to make it what its function runs once
        the deploy is done (or :meth:`discard`): made while ``build_dir`` still holds its
        files, which the deploy may take (``FunctionSource.disposable``). ``handlers``: its
        tasks' handlers."""
        if not self._private:
            paths.private_dir(self.root)  # a kept build holds env values
            self._private = True
        tmp = Path(tempfile.mkdtemp(prefix=f".{build.function}-", dir=self.root))  # 0700
        try:
            kept_as = {item.dest: self._name(item.dest, hashing.digest_of(item.mark)) for item in build.files}
            for name, dest in {name: dest for dest, name in kept_as.items()}.items():  # the same bytes once
                self._link(os.path.join(build_dir, dest), tmp, name)
            record = {
                "function": build.function, "specHash": build.spec_hash, "config": build.config,
                "handlers": dict(handlers), "files": kept_as,
            }
            # A new file in a directory no one else knows yet: complete before the rename shows it.
            paths.write_new(tmp / _RECORD, json.dumps(record, sort_keys=True).encode())
        except BaseException:
            self.discard(tmp)
            raise
        return tmp

    @staticmethod
    def _name(dest: str, digest: str) -> str:
        # The runtime's files are the same in every build of one fusionizer: kept once for all.
        return f"../{_SHARED}/{digest}" if dest.startswith(_RUNTIME_PREFIX) else digest

    def _link(self, source: str, tmp: Path, name: str) -> None:
        """Build files are never written in place: sharing them is safe."""
        if not name.startswith("../"):
            filecache.link_or_copy(source, os.path.join(tmp, name))
            return
        if name in self._shared:
            return
        target = self.root / _SHARED / os.path.basename(name)
        if not target.exists():  # else kept by an earlier apply: the same bytes
            paths.private_dir(target.parent)
            try:
                os.link(source, target)
            except FileExistsError:
                pass  # another deploy of this apply was first
            except OSError:  # no links here: a copy, never a file half written
                paths.write_atomically(target, Path(source).read_bytes())
        self._shared.add(name)

    def commit(self, function: str, staged: Path) -> None:
        try:
            self.forget(function)
            os.rename(staged, self.root / function)
        finally:
            self.discard(staged)

    @staticmethod
    def discard(staged: Path) -> None:
        shutil.rmtree(staged, ignore_errors=True)

    def stage_quietly(self, build: GroupBuild, build_dir: Path, handlers: Mapping[str, str]) -> Optional[Path]:
        """:meth:`stage`, as bookkeeping only (with :meth:`commit_quietly`): a file system
        that refuses it costs ``plan`` its details of the function, never the apply."""
        try:
            return self.stage(build, build_dir, handlers)
        except OSError:
            return None

    def commit_quietly(self, function: str, staged: Optional[Path]) -> None:
        if staged is not None:
            try:
                self.commit(function, staged)
                return
            except OSError:
                pass
        self.forget_quietly(function)  # what it ran before is not what it runs now

    def forget_quietly(self, function: str) -> None:
        try:
            self.forget(function)
        except OSError:
            pass

    def collect(self) -> None:
        """Remove what a killed apply left half made (kept builds staged or being forgotten).
        Under the plan's lock: no other apply of the plan is making any."""
        try:
            with os.scandir(self.root) as entries:
                left = [e.path for e in entries if e.name.startswith(".") and e.name != _SHARED]
        except FileNotFoundError:
            return
        for path in left:
            shutil.rmtree(path, ignore_errors=True)

    def forget(self, function: str) -> None:
        target = self.root / function
        if target.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{function}-old-", dir=self.root))
            os.rename(target, trash / function)
            shutil.rmtree(trash, ignore_errors=True)

    def read(self, function: str) -> Optional[Deployed]:
        root = self.root / function
        try:
            raw = json.loads((root / _RECORD).read_text())
            files = raw["files"]
            # A list: kept by an earlier version, under files/ by path.
            kept_as = {} if isinstance(files, list) else {str(k): str(v) for k, v in files.items()}
            return Deployed(str(raw["function"]), str(raw["specHash"]), dict(raw["handlers"]), dict(raw["config"]),
                            tuple(files), root, kept_as)
        except (OSError, ValueError, KeyError, TypeError):
            return None


def compare(build: GroupBuild, handlers: Mapping[str, str], deployed_hash: str, kept: Optional[Deployed],
            with_diff: bool = False) -> Details:
    """What deploying ``build`` (its tasks' ``handlers``) changes against the function now
    deployed with ``deployed_hash``, as far as the kept build ``kept`` tells."""
    if kept is None:
        return Details(unknown="details unknown (deployed before its build was kept here, "
                               "or from another FUSIONIZER_HOME)")
    if kept.spec_hash != deployed_hash:
        return Details(unknown="details unknown (what runs now was not deployed from here)")
    new_files = {item.dest: Path(item.source) for item in build.files}
    new_digests = {item.dest: hashing.digest_of(item.mark) for item in build.files}
    old_files = set(kept.files)
    changed = tuple(sorted(d for d in old_files & set(new_files) if not kept.same(d, new_digests[d], new_files[d])))
    old_spec, new_spec = kept.config.get("spec") or {}, build.config.get("spec") or {}
    config = _changed_keys(_config_keys(kept.config), _config_keys(build.config))
    config += tuple(f"tasks.{t}.handler" for t in sorted(set(handlers) & set(kept.handlers))
                    if handlers[t] != kept.handlers[t])
    return Details(
        tasks_added=tuple(sorted(set(handlers) - set(kept.handlers))),
        tasks_removed=tuple(sorted(set(kept.handlers) - set(handlers))),
        files_added=tuple(sorted(set(new_files) - old_files)),
        files_removed=tuple(sorted(old_files - set(new_files))),
        files_changed=changed,
        env=_changed_keys(_env(old_spec), _env(new_spec)),
        build=_changed_keys(_flatten(old_spec.get("build") or {}), _flatten(new_spec.get("build") or {})),
        config=config,
        diffs=_diffs(kept, new_files, old_files) if with_diff else (),
    )


def _diffs(kept: Deployed, new_files: Mapping[str, Path], old_files: set[str]) -> Tuple[str, ...]:
    out: List[str] = []
    for dest in sorted(old_files | set(new_files)):
        old = _text(kept.path(dest)) if dest in old_files else ""
        new = _text(new_files[dest]) if dest in new_files else ""
        if old is None or new is None:
            if dest not in old_files or dest not in new_files or not _same(kept.path(dest), new_files[dest]):
                out.append(f"Binary or large file {dest} differs\n")
            continue
        lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                     f"a/{dest}" if dest in old_files else "/dev/null",
                                     f"b/{dest}" if dest in new_files else "/dev/null")
        # Either side's last line may lack a newline, and it need not be the hunk's last line.
        out.extend(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
    return tuple(out)


def _text(path: Path) -> Optional[str]:
    try:
        if path.stat().st_size > _DIFF_LIMIT:
            return None
        data = path.read_bytes()
    except OSError:
        return ""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _same(a: Path, b: Path) -> bool:
    try:
        if a.stat().st_size != b.stat().st_size:
            return False
        return a.read_bytes() == b.read_bytes()
    except OSError:
        return False


def _config_keys(config: Mapping[str, Any]) -> Dict[str, Any]:
    """The config's leaves by dotted path, less what ``env``/``build`` report and volatile annotations."""
    flat = _flatten(config)
    return {k: v for k, v in flat.items()
            if k != "spec.build" and not k.startswith(("spec.env", "spec.build."))
            and not any(k == f"metadata.annotations.{a}" for a in _VOLATILE_ANNOTATIONS)}


def _env(spec: Mapping[str, Any]) -> Dict[str, Any]:
    return {str(item.get("name")): item for item in spec.get("env") or [] if isinstance(item, Mapping)}


def _flatten(value: Any, prefix: str = "") -> Dict[str, Any]:
    """Leaves by dotted path; an empty mapping inside is a leaf, the whole one is nothing."""
    if isinstance(value, Mapping) and (value or not prefix):
        out: Dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> Tuple[str, ...]:
    return tuple(sorted(k for k in set(old) | set(new) if old.get(k, _MISSING) != new.get(k, _MISSING)))


_MISSING = object()
