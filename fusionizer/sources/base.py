"""What every source shares: the immutable :class:`Snapshot` a reconcile reads its plan from,
the :class:`Source` protocol, and :class:`SourceError`.

A reconcile never works on a tree that may change under it: a git source hands out a
checkout of one commit (a directory that is never written again), a directory source hands
out the directory together with the digest of its content at the time of the snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Protocol, runtime_checkable

from fusionizer.errors import FusionizerError

DIR_REVISION_PREFIX = "dir:"


class SourceError(FusionizerError):
    """The plan could not be read from its source: unreachable remote, unknown ref, missing
    plan file... The message names the source and says what to do."""


@dataclass(frozen=True)
class Snapshot:
    """One immutable view of a source: the tree a reconcile reads the plan and tasks from.

    ``revision`` is what gets recorded (annotation ``fusionizer.io/revision``): the full commit
    sha for git, ``"dir:" + sha256`` of what the plan builds from for a directory.
    """

    root: Path  # the checkout (git) or the plan file's directory (dir); absolute
    plan_file: Path  # absolute path of the plan file inside root
    revision: str
    description: str  # human readable, e.g. "git file:///x@main (a1b2c3d)"
    ref: Optional[str] = None  # git only: the branch, tag or sha that was asked for / resolved

    @property
    def short_revision(self) -> str:
        return short_revision(self.revision)

    @property
    def is_git(self) -> bool:
        return not self.revision.startswith(DIR_REVISION_PREFIX)


@runtime_checkable
class Source(Protocol):
    """Where a reconcile reads its plan from."""

    def snapshot(self) -> Snapshot:
        """Take an immutable snapshot now; raises :class:`SourceError`."""
        ...

    def describe(self) -> str:
        """One line for humans, e.g. ``git https://host/repo.git@main`` or a directory."""
        ...


@runtime_checkable
class PollableSource(Source, Protocol):
    """A source that can tell cheaply which revision a snapshot would have now."""

    def resolve(self) -> str:
        """The revision a :meth:`snapshot` taken now would record (for git: the commit sha
        of the ref, via ``git ls-remote``). Lets a poll loop skip work when nothing moved."""
        ...


def short_revision(revision: str) -> str:
    """``a1b2c3d4e5f6`` for a commit sha, ``dir:0123456789ab`` for a directory digest."""
    if revision.startswith(DIR_REVISION_PREFIX):
        return DIR_REVISION_PREFIX + revision[len(DIR_REVISION_PREFIX) :][:12]
    return revision[:12]
