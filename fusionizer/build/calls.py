"""Which tasks call tasks fused in another function, read from the tasks' sources.

A call between functions needs the Fusionizer server; without one (no ``serverUrl`` on
nuctl) it is answered 503 at run time. ``plan`` and ``apply`` warn about it beforehand,
from a deliberately simple static reading of every ``*.py`` file of each task:

- ``call_function("<task>"`` (or with single quotes): ``context.platform.call_function``;
- a string literal ending in ``/<task>`` (before the closing quote or a ``?``): the
  original contract's ``f"http://{addr}:8000/<task>"`` and ``f"{url}/<task>"``.

Only names of the plan's own tasks count, and a task never calls itself here. A call
built at run time (the name in a variable) is not seen; a string that merely ends in a
task's name is (a false alarm costs a warning, never a change).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Tuple

from fusionizer.build.fuser import task_content
from fusionizer.ignore import Tree
from fusionizer.plan.model import Group, Plan, Task

_CALL_FUNCTION = re.compile(r"""call_function\(\s*["']([a-z0-9][a-z0-9-]*)["']""")
_URL_TAIL = re.compile(r"""/([a-z0-9][a-z0-9-]*)(?:["']|\?)""")
# (path, size, mtime_ns) -> task names the file mentions: a watch loop reads the same files often.
_mentions: Dict[Tuple[str, int, int], FrozenSet[str]] = {}


@dataclass(frozen=True)
class CrossCall:
    """``caller`` (in function group ``caller_group``) calls ``callee`` in another group."""

    caller: str
    callee: str
    caller_group: Tuple[str, ...]
    callee_group: Tuple[str, ...]

    def describe(self) -> str:
        return (f"task {self.caller} [{', '.join(self.caller_group)}] calls {self.callee} "
                f"[{', '.join(self.callee_group)}]")


def _file_mentions(path: Path) -> FrozenSet[str]:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    found = _mentions.get(key)
    if found is None:
        text = path.read_text(encoding="utf-8", errors="replace")
        found = frozenset(_CALL_FUNCTION.findall(text)) | frozenset(_URL_TAIL.findall(text))
        _mentions[key] = found
    return found


def called_tasks(plan_tree: Tree, task: Task, names: FrozenSet[str]) -> FrozenSet[str]:
    """The tasks among ``names`` that ``task``'s sources (the files it is built from) call,
    never itself."""
    found: set[str] = set()
    for relative, source in task_content(plan_tree, task):
        if relative.endswith(".py"):
            try:
                found |= _file_mentions(Path(source))
            except OSError:
                continue  # unreadable: the plan loader reports what matters
    return frozenset(found & names) - {task.name}


def cross_function_calls(plan: Plan, groups: Iterable[Group]) -> List[CrossCall]:
    """Calls between tasks that the setup puts in different functions, sorted."""
    group_of = {name: tuple(sorted(group.tasks)) for group in groups for name in group.tasks}
    names = frozenset(plan.tasks)
    plan_tree = Tree(plan.root)
    found = []
    for name in sorted(group_of):
        task = plan.tasks.get(name)
        if task is None:
            continue
        for callee in sorted(called_tasks(plan_tree, task, names)):
            if callee in group_of and group_of[callee] != group_of[name]:
                found.append(CrossCall(name, callee, group_of[name], group_of[callee]))
    return found
