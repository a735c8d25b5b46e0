"""Checking fusion setups: the default ``spec.fusion.groups`` and each schedule entry's.

Called by :mod:`fusionizer.plan.loader` once per setup (each schedule entry is its own
setup, so a task may sit in different groups in different entries). Produces the model's
:class:`~fusionizer.plan.model.Group` tuples with unknown tasks dropped.

Every function of a setup (one per group, one per task in no group) must get a name of its
own: two that would share one (a group ``[a, b]`` and a task ``a-b`` alone, two groups
whose derived names coincide, a shortened name equal to a written one) are an error naming
both, since deploying them would silently drop one.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from fusionizer.errors import Diagnostic
from fusionizer.plan.documents import Document, JsonPath, as_dict, as_list, as_str, format_path
from fusionizer.plan.model import Group
from fusionizer.plan.naming import function_name, group_name
from fusionizer.plan.tasks import TaskSource, TaskTable, env_of
from fusionizer.plan.values import MAX_NAME


@dataclass
class GroupSpec:
    """One group as written, with the position of everything in it."""

    at: JsonPath  # the group node
    name: Optional[str] = None
    members: List[Tuple[str, JsonPath]] = field(default_factory=list)

    def label(self) -> str:
        return repr(self.name) if self.name else "[" + ", ".join(t for t, _ in self.members) + "]"


def parse_groups(plan: Document, at: JsonPath) -> List[GroupSpec]:
    """The groups listed at ``at``; malformed bits are skipped (the schema reported them)."""
    groups: List[GroupSpec] = []
    for i, raw in enumerate(as_list(plan.get(at))):
        spec = GroupSpec(at + (i,))
        names_at = spec.at
        if isinstance(raw, dict):
            spec.name = as_str(raw.get("name"))
            names_at = spec.at + ("tasks",)
        for j, task in enumerate(as_list(plan.get(names_at))):
            if isinstance(task, str):
                spec.members.append((task, names_at + (j,)))
        groups.append(spec)
    return groups


@dataclass
class SetupCheck:
    """Checks one setup against the plan's tasks; findings go to ``out``."""

    plan: Document
    plan_name: str
    tasks: TaskTable
    out: List[Diagnostic]

    def run(self, groups: List[GroupSpec]) -> Tuple[Group, ...]:
        placed: Dict[str, GroupSpec] = {}
        made: List[Tuple[GroupSpec, Group]] = []
        for group in groups:
            members = self._members(group, placed)
            self._check_fused(group, members)
            if members:
                made.append((group, Group(tuple(members), group.name)))
        self._check_lengths(groups)
        self._check_collisions(made, placed)
        return tuple(g for _, g in made)

    def _members(self, group: GroupSpec, placed: Dict[str, GroupSpec]) -> List[str]:
        """The group's known tasks; reports unknown tasks and tasks placed twice."""
        members: List[str] = []
        for task, at in group.members:
            if task not in self.tasks:
                self._unknown(task, at)
                continue
            other = placed.get(task)
            if other is group:
                self.out.append(self.plan.diagnostic(at, f"task {task!r} is listed twice in this group; remove one"))
                continue
            if other is not None:
                line, _ = self.plan.where(other.at)
                self.out.append(self.plan.diagnostic(at, (
                    f"task {task!r} is already in group {other.label()} (line {line}, "
                    f"{format_path(other.at)}); a task runs in exactly one function per setup: "
                    f"remove it from one of the groups"
                )))
                continue
            placed[task] = group
            members.append(task)
        return members

    def _unknown(self, task: str, at: JsonPath) -> None:
        close = difflib.get_close_matches(task, list(self.tasks.defined), n=1)
        hint = f"did you mean {close[0]!r}? Otherwise " if close else ""
        self.out.append(self.plan.diagnostic(at, (
            f"group names task {task!r}, which the plan does not define; {hint}add it to "
            f"spec.tasks or a spec.taskDirs directory, or remove it from the group"
        ), severity="warning"))

    def _check_lengths(self, groups: List[GroupSpec]) -> None:
        """A written group name is shown as is: it must fit Nuclio's name length."""
        for group in groups:
            function = f"{self.plan_name}-{group.name}"
            if group.name and len(function) > MAX_NAME:
                self.out.append(self.plan.diagnostic(group.at + ("name",), (
                    f"the function name {function!r} would be {len(function)} characters; Nuclio "
                    f"allows {MAX_NAME}: shorten the group name (or the plan name)"
                )))

    def _check_collisions(self, made: List[Tuple[GroupSpec, Group]], placed: Dict[str, GroupSpec]) -> None:
        """Each function of the setup, lone tasks first, against those before it."""
        functions: List[Tuple[str, str, JsonPath, str]] = [  # (function, what, where, how to fix)
            (function_name(self.plan_name, task), f"lone task {task!r}", at, "")
            for task, (_, at) in self.tasks.defined.items() if task not in placed
        ]
        functions += [
            (function_name(self.plan_name, group_name(g.tasks, g.name)), f"group {spec.label()}",
             spec.at + ("name",) if spec.name else spec.at,
             "rename the group" if spec.name else "give the group a name (name: ..., tasks: [...])")
            for spec, g in made
        ]
        seen: Dict[str, Tuple[str, JsonPath]] = {}
        for function, what, at, fix in functions:
            first = seen.setdefault(function, (what, at))
            if first != (what, at):
                line, _ = self.plan.where(first[1])
                self.out.append(self.plan.diagnostic(at, (
                    f"{what} becomes function {function}, as does {first[0]} (line {line}, "
                    f"{format_path(first[1])}); two functions cannot share a name: {fix}"
                )))

    def _check_fused(self, group: GroupSpec, members: List[str]) -> None:
        sources = [self.tasks.sources[t] for t in members if t in self.tasks.sources]
        if len(sources) < 2:
            return
        self._check_runtimes(group, sources)
        self._check_env(group, sources)

    def _check_runtimes(self, group: GroupSpec, sources: List[TaskSource]) -> None:
        runtimes = {s.task.runtime for s in sources}
        if len(runtimes) > 1:
            listed = ", ".join(f"{s.task.name} ({s.task.runtime})" for s in sources)
            self.out.append(self.plan.diagnostic(group.at, (
                f"group {group.label()} mixes runtimes: {listed}; a fused function has one "
                f"runtime: set the same spec.runtime in their function.yaml or split the group"
            )))

    def _check_env(self, group: GroupSpec, sources: List[TaskSource]) -> None:
        """Env is merged into one function: the same name must mean the same value."""
        first: Dict[str, Tuple[Any, TaskSource, JsonPath]] = {}
        line, _ = self.plan.where(group.at)
        for source in sources:
            for name, (value, at) in env_of(source).items():
                if name not in first:
                    first[name] = (value, source, at)
                    continue
                value0, source0, at0 = first[name]
                if value != value0:
                    where0 = "{}:{}:{}".format(source0.config.file, *source0.config.where(at0))
                    self.out.append(source.config.diagnostic(at, (
                        f"env {name} = {_show_env(value)} conflicts with {name} = {_show_env(value0)} "
                        f"of task {source0.task.name!r} ({where0}), fused with it in group "
                        f"{group.label()} ({self.plan.file}:{line}); a fused function has one "
                        f"environment: use the same value or put the tasks in different groups"
                    )))


def _show_env(value: Any) -> str:
    definition = as_dict(value)
    if set(definition) == {"value"}:
        return repr(definition["value"])
    return repr(definition)
