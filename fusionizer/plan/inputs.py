"""What a plan builds from, read leniently from the plan file: its task directories and the
optimizer module beside it.

A directory source digests exactly these (with the plan file and the ignore files) for its
revision, and ``watch`` wakes only for them, so a log, notes or tool output written next to
the plan changes nothing. Reading never fails: a plan that cannot be parsed names no inputs
(the loader reports why), and its revision then follows the plan file alone. It reads
within the plan's bounds (:mod:`~fusionizer.plan.boundary`): a plan file that is a FIFO or
a link out of its directory names no inputs, and no input leads outside the directory, so
that no digest reads (or waits on) anything of the host.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from fusionizer.plan.boundary import Boundary, BoundaryError
from fusionizer.plan.documents import DocumentError, as_dict, as_list, as_str, load_text
from fusionizer.plan.tasks import holds_function_yaml, lost_task_clues, scan_subdirs


@dataclass(frozen=True)
class PlanInputs:
    """Absolute, normalised paths, named whether they exist yet or not (a task directory the
    user is about to create is an input already). Strings, not Paths: a large plan has
    thousands, made and compared on every reconcile."""

    directories: Tuple[str, ...] = ()  # every task directory (spec.tasks, and what spec.taskDirs holds now), and
    #                                    the optimizer's package
    discovery: Tuple[str, ...] = ()  # spec.taskDirs: a subdirectory gaining a function.yaml there is a new task
    files: Tuple[str, ...] = ()  # the optimizer's module, when it is a single file
    # What the loader's checks read of the taskDirs beside the files of their tasks: each
    # subdirectory, whether it is a task, a link, or what says it is a task that lost its
    # function.yaml. A remembered check of the plan holds only while this is unchanged.
    layout: Tuple[str, ...] = ()


def plan_inputs(plan_file: Path) -> PlanInputs:
    root = plan_file.parent
    boundary = Boundary.at(root)
    try:
        doc = load_text(boundary.read_text(plan_file, str(plan_file)), str(plan_file))
    except (OSError, UnicodeDecodeError, DocumentError, BoundaryError):
        return PlanInputs()
    spec = as_dict(doc.get(("spec",)))
    explicit = _resolved(boundary, root, [as_dict(task).get("path") for task in as_list(spec.get("tasks"))])
    discovery = _unique(_resolved(boundary, root, as_list(spec.get("taskDirs"))))
    discovered: List[str] = []
    # Where each named directory leads: a check tells tasks apart by their resolved paths.
    layout = [f"{path}\0{os.path.realpath(path)}" for path in (*explicit, *discovery)]
    for directory in discovery:
        discovered.extend(_discover(boundary, directory, layout))
    package = _optimizer_package(as_dict(spec.get("optimizer")))
    return PlanInputs(
        directories=_unique(explicit + discovered + ([os.path.join(root, package)] if package else [])),
        discovery=discovery,
        files=(os.path.join(root, f"{package}.py"),) if package else (),
        layout=tuple(layout),
    )


def _discover(boundary: Boundary, directory: str, layout: List[str]) -> List[str]:
    """The tasks a taskDirs entry holds, noting in ``layout`` what its subdirectories are."""
    found = []
    for name, link in scan_subdirs(directory):
        sub = os.path.join(directory, name)
        if link and not boundary.contains(sub):
            layout.append(f"{sub}\0outside")
        elif holds_function_yaml(sub):
            found.append(sub)
            layout.append(f"{sub}\0link task {os.path.realpath(sub)}" if link else f"{sub}\0task")
        else:
            layout.append(f"{sub}\0{'link ' if link else ''}" + "/".join(_clues(sub)))
    return found


def _clues(sub: str) -> List[str]:
    try:
        return lost_task_clues(sub)
    except OSError:
        return ["?"]  # unreadable: the loader reports it


def _resolved(boundary: Boundary, root: Path, entries: List[Any]) -> List[str]:
    """The path entries, resolved as the loader resolves them; those it refuses are left out."""
    paths = [os.path.normpath(os.path.join(root, entry)) for entry in entries if isinstance(entry, str) and entry]
    return [path for path in paths if "\0" not in path and boundary.contains(path)]


def _optimizer_package(optimizer: Dict[str, Any]) -> Optional[str]:
    """``pkg.mod:Class`` -> ``pkg``: the first thing its import reads (``pkg/`` or ``pkg.py``)."""
    top = (as_str(optimizer.get("class")) or "").partition(":")[0].partition(".")[0]
    return top if top.isidentifier() else None


def _unique(paths: List[str]) -> Tuple[str, ...]:
    return tuple(dict.fromkeys(paths))
