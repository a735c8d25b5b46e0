"""Builds remembered across runs: what a plan's groups build into (:func:`fuser.describe_all`),
by the plan's fingerprint and the groups.

A description depends on the plan (its tasks' configs and files), the groups and the
runtime's files, which are this package's own: the plan's fingerprint covers all but the
groups (:mod:`fusionizer.plan.memo`). A plan without a fingerprint is described every time.
"""

from __future__ import annotations

import hashlib
from typing import List, Sequence

from fusionizer import filecache
from fusionizer.build import fuser
from fusionizer.build.fuser import GroupBuild
from fusionizer.plan.model import Group, Plan

_DESCRIBED = filecache.Shelf("described", keep=4)


def described(plan: Plan, groups: Sequence[Group]) -> List[GroupBuild]:
    """:func:`fuser.describe_all` of ``groups``, from memory when described before."""
    if plan.fingerprint is None:
        return fuser.describe_all(plan, groups)
    key = hashlib.sha256(f"{plan.fingerprint}\0{tuple(groups)!r}".encode()).hexdigest()
    known = _DESCRIBED.get(key)
    if isinstance(known, list) and all(isinstance(build, GroupBuild) for build in known):
        return known
    builds = fuser.describe_all(plan, groups)
    _DESCRIBED.put(key, builds)
    return builds
