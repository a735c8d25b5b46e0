"""What tasks must agree on to share one function, as values the optimizers fold cheaply.

A :class:`Profile` sums up a set of tasks: their runtime, their env and build settings
(each with the task that set it), their declared memory and their number.
:func:`combine` joins two profiles or says why the tasks cannot share a function: a
different runtime, an env variable or a build setting (other than the commands, which are
merged) with two values. The loader rejects the same conflicts in a written plan; here they
are checked on the model, for setups an optimizer proposes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Tuple, Union

from fusionizer.build.merging import quantity
from fusionizer.plan.model import Task

_MERGED_BUILD_KEYS = ("commands", "path")  # merged by the fuser, never in conflict


@dataclass(frozen=True)
class Profile:
    runtime: str
    runtime_of: str  # a task with that runtime, to name in a conflict
    env: Mapping[str, Tuple[str, Any]]  # name -> (task that set it, definition without the name)
    build: Mapping[str, Tuple[str, Any]]  # spec.build key -> (task that set it, value)
    memory: float  # bytes: the sum of the tasks' declared memory (limits, else requests)
    size: int  # number of tasks


def profile(task: Task) -> Profile:
    spec = _mapping(task.config.get("spec"))
    env = {}
    for entry in spec.get("env") or []:
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            env[entry["name"]] = (task.name, {k: v for k, v in entry.items() if k != "name"})
    build = {k: (task.name, v) for k, v in _mapping(spec.get("build")).items() if k not in _MERGED_BUILD_KEYS}
    return Profile(task.runtime, task.name, env, build, memory_of(task), 1)


def memory_of(task: Task) -> float:
    """Bytes of memory the task declares (``spec.resources.limits``, else ``requests``); 0 if none."""
    resources = _mapping(_mapping(task.config.get("spec")).get("resources"))
    for kind in ("limits", "requests"):
        declared = _mapping(resources.get(kind)).get("memory")
        if declared is not None:
            return quantity(declared)
    return 0.0


def combine(a: Profile, b: Profile) -> Union[Profile, str]:
    """The profile of both, or why they cannot share one function."""
    if a.runtime != b.runtime:
        return f"runtimes differ ({a.runtime_of}: {a.runtime}, {b.runtime_of}: {b.runtime})"
    clash = _clash(a.env, b.env, "env") or _clash(a.build, b.build, "spec.build.")
    if clash:
        return clash
    return Profile(a.runtime, a.runtime_of, {**a.env, **b.env}, {**a.build, **b.build}, a.memory + b.memory,
                   a.size + b.size)


def combine_all(profiles: Iterable[Profile]) -> Union[Profile, str]:
    """The profile of every one, or the first conflict."""
    result: Optional[Profile] = None
    for one in profiles:
        joined = one if result is None else combine(result, one)
        if isinstance(joined, str):
            return joined
        result = joined
    assert result is not None, "combine_all needs at least one profile"
    return result


def _clash(a: Mapping[str, Tuple[str, Any]], b: Mapping[str, Tuple[str, Any]], what: str) -> Optional[str]:
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    for key, (task, value) in small.items():
        other = large.get(key)
        if other is not None and other[1] != value:
            name = f"env {key}" if what == "env" else f"{what}{key}"
            return f"{name} differs ({task}: {_show(value)}, {other[0]}: {_show(other[1])})"
    return None


def _show(value: Any) -> str:
    if isinstance(value, Mapping) and set(value) == {"value"}:
        return repr(value["value"])
    return repr(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
