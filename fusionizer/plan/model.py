"""The immutable plan model: what ``fusionizer.yaml`` says once it has been validated.

Built by :mod:`fusionizer.plan.loader`; read by the builder, the reconciler and the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

from fusionizer.errors import Diagnostic
from fusionizer.filecache import Listing
from fusionizer.platforms.base import DEFAULT_NAMESPACE
from fusionizer.platforms.factory import DEFAULT_KIND


@dataclass(frozen=True)
class Task:
    """One Nuclio Python function directory."""

    name: str
    path: Path  # absolute directory holding function.yaml and the handler
    handler: str  # "module:function", as in function.yaml (default "main:handler")
    runtime: str  # normalised, e.g. "python:3.9"
    config: Mapping[str, Any] = field(compare=False, hash=False)  # parsed function.yaml
    # handler(context, event, requests_session): needs requests in the image. True also when
    # the handler is not a plain def (its parameters cannot be read without running code).
    takes_session: bool = False


@dataclass(frozen=True)
class Group:
    """Tasks deployed together as ONE Nuclio function."""

    tasks: Tuple[str, ...]
    name: Optional[str] = None  # explicit name; None -> derived from the task set


@dataclass(frozen=True)
class ScheduleEntry:
    """A fusion setup that takes effect at an instant (absolute or relative to the anchor)."""

    groups: Tuple[Group, ...]
    after: Optional[timedelta] = None
    at: Optional[datetime] = None  # timezone-aware

    def due(self, anchor: datetime) -> datetime:
        if self.at is not None:
            return self.at
        assert self.after is not None
        return anchor + self.after


@dataclass(frozen=True)
class PlatformSettings:
    kind: str = DEFAULT_KIND  # one of platforms.factory.KINDS
    namespace: str = DEFAULT_NAMESPACE
    options: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class OptimizerSpec:
    class_path: str  # "package.module:Class"
    options: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Plan:
    name: str
    file: Path  # absolute path of fusionizer.yaml
    tasks: Mapping[str, Task]  # by name, sorted
    groups: Tuple[Group, ...]  # the default setup
    schedule: Tuple[ScheduleEntry, ...] = ()
    platform: PlatformSettings = PlatformSettings()
    optimizer: Optional[OptimizerSpec] = None
    warnings: Tuple[Diagnostic, ...] = ()
    # The snapshot's files, when the plan was read from one that lists them: the build
    # reads task files from here instead of walking the disk again.
    listing: Optional[Listing] = field(default=None, compare=False, repr=False)
    # What it was checked from, digested (:mod:`fusionizer.plan.memo`), when that is known:
    # plans of equal fingerprints are equal, and so is whatever is computed from them alone.
    fingerprint: Optional[str] = field(default=None, compare=False, repr=False)

    @property
    def root(self) -> Path:
        return self.file.parent

    def handlers(self, tasks: Iterable[str]) -> Dict[str, str]:
        """Each of ``tasks`` -> its handler (``module:function``)."""
        return {name: self.tasks[name].handler for name in tasks}
