"""Sources: where a reconcile reads the plan from (a directory or a git repository).

Every reconcile works on an immutable :class:`Snapshot` of its source; ``Snapshot.revision``
is what gets recorded on the deployed functions (``fusionizer.io/revision``): the full commit
sha for git, ``"dir:" + sha256`` of what the plan builds from for a directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

from fusionizer.paths import DEFAULT_PLAN_FILE
from fusionizer.sources.base import (
    PollableSource,
    Snapshot,
    Source,
    SourceError,
    short_revision,
)
from fusionizer.sources.directory import DirectorySource, tree_digest
from fusionizer.sources.gitsource import GitSource, default_cache_dir

__all__ = [
    "DirectorySource",
    "GitSource",
    "PollableSource",
    "Snapshot",
    "Source",
    "SourceError",
    "default_cache_dir",
    "open_source",
    "short_revision",
    "tree_digest",
]


def open_source(
    plan_file: Optional[Union[str, "os.PathLike[str]"]] = None,
    git_url: Optional[str] = None,
    ref: Optional[str] = None,
    plan_path: Optional[str] = None,
    cache_dir: Optional[Path] = None,
) -> PollableSource:
    """The source the CLI options name: ``--git URL [--ref REF] [--plan-path P]`` or
    ``-f PLAN_FILE`` (default ``./fusionizer.yaml``). The two are exclusive."""
    if git_url is not None:
        if plan_file is not None:
            raise SourceError(
                "-f and --git are exclusive: with --git, name the plan file inside the repository with --plan-path"
            )
        return GitSource(git_url, ref=ref, plan_path=plan_path or DEFAULT_PLAN_FILE, cache_dir=cache_dir)
    if ref is not None:
        raise SourceError("--ref needs --git URL (a directory source has no refs)")
    if plan_path is not None:
        raise SourceError("--plan-path needs --git URL; for a directory use -f PATH")
    return DirectorySource(plan_file if plan_file is not None else DEFAULT_PLAN_FILE)
