"""What a plan in a directory builds from (its scope): the plan file, the task directories
and the optimizer module it names, and the ignore files that decide which of their files
count (:mod:`fusionizer.ignore`, the same rule the build applies).

A directory source's revision digests exactly the files :meth:`Scope.walk` finds; ``watch``
wakes for a changed path only when :meth:`Scope.ignored` says it can change them. Anything
else beside the plan (a log, notes, tool output) is outside the scope: it changes nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, FrozenSet, Iterator, Mapping, Optional, Sequence, Tuple

from fusionizer.ignore import Tree, TreeFile, below, is_ignore_file
from fusionizer.plan.inputs import plan_inputs
from fusionizer.runtime.layout import FUNCTION_CONFIG


@dataclass(frozen=True)
class Walk:
    """One walk of a scope."""

    files: Tuple[TreeFile, ...]  # every file that counts, sorted by path; ignore files included
    # Each directory it builds from (normalised, absolute) -> its content files: exactly what
    # a build of that directory copies (no ignore files), each named ``rel[cut:]`` in it.
    directories: Mapping[str, Tuple[int, Tuple[TreeFile, ...]]]  # cut, files
    irregular: FrozenSet[str] = frozenset()  # of those, the ones holding a link or a special file


@dataclass(frozen=True)
class Scope:
    """Paths are POSIX, relative to ``root`` (the plan file's directory); a task directory
    outside it starts with ``../``."""

    root: Path
    plan_file: str
    directories: Tuple[str, ...] = ()  # every file in them counts, by the ignore rule: tasks, optimizer package
    discovery: Tuple[str, ...] = ()  # spec.taskDirs: where a new task may appear
    modules: Tuple[str, ...] = ()  # single files: an optimizer module
    layout: Tuple[str, ...] = ()  # see PlanInputs.layout

    @classmethod
    def of(cls, plan_file: Path) -> "Scope":
        root = plan_file.parent
        inputs = plan_inputs(plan_file)
        return cls(root, plan_file.name, _rel_all(root, inputs.directories), _rel_all(root, inputs.discovery),
                   _rel_all(root, inputs.files), inputs.layout)

    def walk(self) -> "Walk":
        """Every file that counts, each once, and each directory's content as a build of it
        lists it (:class:`Walk`), in one walk."""
        found: Dict[str, TreeFile] = {}
        tree = Tree(self.root)
        for item in self._single_files(tree):
            found.setdefault(item.rel, item)
        directories: Dict[str, Tuple[int, Tuple[TreeFile, ...]]] = {}
        irregular = set()
        root = os.path.normpath(self.root)
        for directory in self.directories:
            if directory and directory != ".." and not directory.startswith("../"):  # inside, as most are
                path, own, start = f"{root}/{directory}", tree, directory
            else:
                path = os.path.normpath(os.path.join(root, directory))
                own, start = tree.locate(path)
            met = len(own.irregular)
            content = tuple(own.files(start))  # first: the walk tells rule_files what is there
            if len(own.irregular) > met:
                irregular.add(path)
            if own is tree:
                for item in (*own.rule_files(start), *content):
                    found.setdefault(item.rel, item)
            else:  # its own tree: shown as the way to it from the root
                prefix = directory + "/"
                for item in (*own.rule_files(start), *content):
                    found.setdefault(prefix + item.rel, replace(item, rel=prefix + item.rel))
            directories[path] = (len(start) + 1 if start else 0, tuple(f for f in content if not f.rule))
        return Walk(tuple(sorted(found.values(), key=lambda f: f.rel)), directories, frozenset(irregular))

    def ignored(self, rel: str, is_dir: bool) -> Optional[str]:
        """None when a change at ``rel`` (a path under the root) can change the files
        :meth:`walk` finds; otherwise the part of it that is out of scope or ignored, as
        ``dir/`` or ``file``."""
        if rel == self.plan_file or rel in self.modules:
            return None
        for directory in self.directories:
            if _below(rel, directory):
                return self._excluded_in(directory, rel, is_dir)
        tree = Tree(self.root)
        for directory in self.discovery:
            if _below(rel, directory):
                return self._discovered(tree, directory, rel, is_dir)
        if self._leads_to_input(rel, is_dir):
            return None
        return self._shown(rel, is_dir)

    # -- helpers -------------------------------------------------------------------------

    def _single_files(self, tree: Tree) -> Iterator[TreeFile]:
        """The plan file, the root's ignore files and the optimizer module."""
        plan = self.root / self.plan_file
        if plan.is_file():
            yield TreeFile(self.plan_file, str(plan), False, False)
        yield from tree.rule_files()
        for module in self.modules:
            if (self.root / module).is_file():
                yield TreeFile(module, str(self.root / module), False, False)

    def _excluded_in(self, directory: str, rel: str, is_dir: bool) -> Optional[str]:
        tree = Tree(self.root)
        own, start = tree.locate(self.root / directory)
        if own is tree:
            return own.excluded(rel, is_dir, start)
        shown = own.excluded(rel[len(directory) + 1 :], is_dir)  # its own rules only, as for the digest
        return f"{directory}/{shown}" if shown else None

    def _discovered(self, tree: Tree, directory: str, rel: str, is_dir: bool) -> Optional[str]:
        task, _, inner = rel[len(directory) + 1 :].partition("/")
        if not inner and not is_dir and is_ignore_file(task):
            return None  # its rules reach into every task below
        if task.startswith("."):
            return f"{directory}/{task}" + ("/" if inner or is_dir else "")
        if not inner:  # a task directory appears, goes or is renamed; a file there is no task
            return None if is_dir else f"{directory}/{task}"
        if inner == FUNCTION_CONFIG:
            return None
        if (self.root / directory / task / FUNCTION_CONFIG).is_file():
            return tree.excluded(rel, is_dir, start=f"{directory}/{task}")
        return f"{directory}/{task}/"

    def _leads_to_input(self, rel: str, is_dir: bool) -> bool:
        """``rel`` holds an input (e.g. a task directory removed whole), or is an ignore file
        on the way from the root to one."""
        if any(path == rel or _below(path, rel) for path in self._inputs()):
            return True
        parent, _, name = rel.rpartition("/")
        on_the_way = not parent or any(_below(d, parent) for d in (*self.directories, *self.discovery))
        return not is_dir and is_ignore_file(name) and on_the_way

    def _inputs(self) -> Tuple[str, ...]:
        return (self.plan_file, *self.modules, *self.directories, *self.discovery)

    def _shown(self, rel: str, is_dir: bool) -> str:
        """The outermost part of ``rel`` that holds no input: ``notes/`` for ``notes/a/b.txt``."""
        parts = rel.split("/")
        for i in range(len(parts)):
            sub = "/".join(parts[: i + 1])
            if not any(_below(path, sub) or path == sub for path in self._inputs()):
                last = i == len(parts) - 1
                return sub + ("/" if is_dir or not last else "")
        return rel


def _below(path: str, directory: str) -> bool:
    """``path`` is strictly inside ``directory`` (both POSIX, relative to the same root;
    ``""`` is the root itself)."""
    return path.startswith(directory + "/") if directory else bool(path)


def _rel_all(root: Path, paths: Sequence[str]) -> Tuple[str, ...]:
    return tuple(_rel(root, p) for p in paths)


def _rel(root: Path, path: str) -> str:
    inside = below(root, path)
    return inside if inside is not None else Path(os.path.relpath(path, root)).as_posix()
