"""Rewriting ``spec.fusion.groups`` of a plan file, keeping its comments and layout.

``fusionizer suggest --write`` turns a proposal into a change of ``fusionizer.yaml`` that
reads as a small, reviewable diff: the file is edited with a round-trip YAML parser
(ruamel.yaml), which keeps comments, key order, flow and block styles and quoting; the
indentation is read from the file. A group the proposal keeps keeps its own entry (and its
comments), new groups take the place of the first entry they replace, in the style of the
example (``[a, b]``, or ``name:`` and ``tasks: [a, b]``), and tasks that run alone are not
listed. The new text is validated as a plan before it replaces the file (atomically).
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from pathlib import Path
from typing import Any, List, Optional, Sequence, Set, Tuple

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from fusionizer.errors import FusionizerError, PlanError
from fusionizer.plan.loader import check_plan
from fusionizer.plan.model import Group

_KEY_LINE = re.compile(r"^(\s*)[^\s#-][^:#]*:\s*(#.*)?$")  # a key opening a nested block
_NESTED_KEY = re.compile(r"^(\s+)[^\s#-][^:#]*:")
_ITEM = re.compile(r"^(\s*)- ")


def rewrite_groups(path: Path, groups: Sequence[Group], shown: Optional[Path] = None) -> str:
    """Write ``groups`` as the plan's ``spec.fusion.groups``; returns the new text.

    Raises FusionizerError (nothing written) when the file cannot be edited or the result
    would not be a valid plan.
    """
    text = path.read_text(encoding="utf-8")
    new_text = groups_text(text, groups)
    write_checked(path, new_text, shown or path)
    return new_text


def groups_text(text: str, groups: Sequence[Group]) -> str:
    """``text`` with its ``spec.fusion.groups`` replaced by ``groups``."""
    yaml = _yaml(text)
    try:
        doc = yaml.load(text)
    except YAMLError as exc:
        raise FusionizerError(f"cannot edit the plan file: {exc}") from None
    spec = doc.get("spec") if isinstance(doc, dict) else None
    if not isinstance(spec, dict):
        raise FusionizerError("cannot edit the plan file: it has no spec mapping")
    fusion = spec.get("fusion")
    if not isinstance(fusion, dict):
        fusion = spec["fusion"] = CommentedMap()
    old = fusion.get("groups")
    fusion["groups"] = _entries(old if isinstance(old, list) else [], [g for g in groups if len(g.tasks) > 1 or g.name])
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def _entries(old: List[Any], wanted: List[Group]) -> CommentedSeq:
    """The new list: kept entries as they are, an entry whose group grew or shrank edited in
    place (same name, or for a shorthand list all its tasks still together), new entries
    where the first entry they replace was. Tasks are listed in the order the file had them."""
    order = {t: i for i, t in enumerate(t for entry in old for t in _read_entry(entry)[0])}
    written: Set[Tuple[str, ...]] = set()
    entries: List[Any] = []
    for entry in old:
        members, name = _read_entry(entry)
        for group in wanted:
            if group.tasks in written or not set(group.tasks) & set(members):
                continue
            written.add(group.tasks)
            tasks = sorted(group.tasks, key=lambda t: (order.get(t, len(order)), t))
            entries.append(_edited(entry, name, members, group, tasks) or _new_entry(group.name, tasks))
    entries += [_new_entry(g.name, list(g.tasks)) for g in wanted if g.tasks not in written]
    result = old if isinstance(old, CommentedSeq) else CommentedSeq()
    kept = {id(e) for e in entries}
    for index in reversed(range(len(result))):
        if id(result[index]) not in kept:
            del result[index]  # with the comments that belong to it
    for index, entry in enumerate(entries):
        if index >= len(result) or result[index] is not entry:
            result.insert(index, entry)
    if not result:
        result.fa.set_flow_style()  # groups: []
    return result


def _edited(entry: Any, name: Optional[str], members: List[str], group: Group, tasks: List[str]) -> Any:
    """``entry`` itself, made to list ``tasks``, when it stands for ``group``; else None."""
    if group.name != name or (name is None and not set(members) <= set(group.tasks)):
        return None
    if list(members) != tasks:
        if isinstance(entry, dict):
            entry["tasks"] = _flow(tasks)
        else:
            entry[:] = tasks
    return entry


def _read_entry(entry: Any) -> Tuple[List[str], Optional[str]]:
    if isinstance(entry, dict):
        tasks = entry.get("tasks")
        name = entry.get("name")
        return ([t for t in tasks if isinstance(t, str)] if isinstance(tasks, list) else [],
                name if isinstance(name, str) else None)
    if isinstance(entry, list):
        return [t for t in entry if isinstance(t, str)], None
    return [], None


def _new_entry(name: Optional[str], tasks: List[str]) -> Any:
    if name is None:
        return _flow(tasks)
    entry = CommentedMap()
    entry["name"] = name
    entry["tasks"] = _flow(tasks)
    return entry


def _flow(tasks: List[str]) -> CommentedSeq:
    listed = CommentedSeq(tasks)
    listed.fa.set_flow_style()
    return listed


def _yaml(text: str) -> YAML:
    yaml = YAML()  # round-trip
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line
    mapping, offset = _indentation(text)
    yaml.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    return yaml


def _indentation(text: str) -> Tuple[int, int]:
    """(mapping indent, offset of a block list's dash under its key), as the file has them."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    mapping = next((len(m.group(1)) for m in map(_NESTED_KEY.match, lines) if m), 2)
    offset = mapping
    for previous, line in zip(lines, lines[1:]):
        key, item = _KEY_LINE.match(previous), _ITEM.match(line)
        if key and item:
            offset = max(0, len(item.group(1)) - len(key.group(1)))
            break
    return mapping, offset


def write_checked(path: Path, text: str, shown: Path) -> None:
    """Validate ``text`` as the plan at ``path``, then put it there atomically; PlanError
    (nothing written) when it is not a valid plan."""
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        plan, diagnostics = check_plan(Path(temp), shown_as=shown)
        if plan is None:
            raise PlanError(diagnostics)
        os.chmod(temp, path.stat().st_mode & 0o777)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
