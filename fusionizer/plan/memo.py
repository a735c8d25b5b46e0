"""Checks of a plan remembered across runs: a no-op reconcile of a large plan loads the plan
it checked before instead of reading and checking every task again.

What :func:`~fusionizer.plan.loader.check_plan` finds depends on the files the plan builds
from (a directory snapshot's revision digests every one), on what else its checks read of
the disk (the snapshot's :attr:`~fusionizer.filecache.Listing.layout`: the taskDirs'
subdirectories), on where the plan lies and how it is shown, ``strict``, the limits set in
the environment, and this code. The key digests all of them, so a check is reused exactly
when it would find the same. A snapshot whose walk met a symbolic link or a special file is
checked every time (where a link leads is not in the revision), and only plans that passed
are kept: a problem is found, and shown, every time.

The key is the plan's :attr:`~fusionizer.plan.model.Plan.fingerprint`: what is computed from
the plan alone (its builds) can be remembered by it in turn.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
from dataclasses import replace
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from fusionizer import filecache
from fusionizer.errors import Diagnostic
from fusionizer.filecache import Listing
from fusionizer.plan.boundary import ENV_MAX_TASK_BYTES, ENV_MAX_TASK_FILES
from fusionizer.plan.loader import check_plan
from fusionizer.plan.model import Plan
from fusionizer.plan.tasks import module_files
from fusionizer.runtime.layout import FUNCTION_CONFIG as FUNCTION_YAML

_FORMAT = "plan-1"  # change when what a key covers changes
# A few plans, or a few revisions of one switched between (a branch and back).
_CHECKED = filecache.Shelf("plans", keep=4)


@functools.lru_cache(maxsize=None)
def _libraries() -> Tuple[str, ...]:
    """The versions of the libraries the checks use: an upgrade may judge differently."""
    return tuple(f"{name}={_version(name)}" for name in ("PyYAML", "jsonschema", "pathspec"))


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def check_snapshot(
    path: Path, revision: str, listing: Optional[Listing], unchanged: Callable[[], bool], strict: bool = False,
    shown_as: Optional[Path] = None, tree: Optional[Path] = None,
) -> Tuple[Optional[Plan], List[Diagnostic]]:
    """:func:`~fusionizer.plan.loader.check_plan` of a snapshot's plan (``revision``, and the
    ``listing`` of a directory source), from memory when it was checked before.

    A check is remembered only when what it read is what the revision digests: every task's
    function.yaml and handler module are files the listing holds (the ignore rule can leave
    one out of the revision, never out of the check), and ``unchanged()`` (the source's
    revision now) confirms no file changed while the check read them."""
    key = _key(path, revision, listing, strict, shown_as, tree)
    if key is None:
        return check_plan(path, strict, shown_as, tree, listing)
    known = _CHECKED.get(key)
    if isinstance(known, tuple) and len(known) == 2 and isinstance(known[0], Plan):
        return replace(known[0], listing=listing), list(known[1])
    plan, diagnostics = check_plan(path, strict, shown_as, tree, listing)
    if plan is None or listing is None or not _read_from(plan, listing) or not unchanged():
        return plan, diagnostics
    plan = replace(plan, fingerprint=key)
    _CHECKED.put(key, (replace(plan, listing=None), diagnostics))
    return plan, diagnostics


def _read_from(plan: Plan, listing: Listing) -> bool:
    """Does the listing hold every file the check of each task read?"""
    return all(
        listing.file(os.path.join(task.path, FUNCTION_YAML)) is not None
        and any(listing.file(f) is not None for f in module_files(task.path, task.handler.partition(":")[0]))
        for task in plan.tasks.values()
    )


def _key(
    path: Path, revision: str, listing: Optional[Listing], strict: bool, shown_as: Optional[Path],
    tree: Optional[Path],
) -> Optional[str]:
    if listing is None or listing.irregular:
        return None
    parts = [
        _FORMAT, filecache.code_stamp(), revision, str(path), os.path.realpath(path), str(shown_as), str(tree),
        os.path.realpath(tree or path.parent), str(strict),
        os.environ.get(ENV_MAX_TASK_BYTES, ""), os.environ.get(ENV_MAX_TASK_FILES, ""), *_libraries(),
        *listing.layout,
    ]
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()
