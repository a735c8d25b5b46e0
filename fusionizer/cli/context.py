"""What every command shares: where the plan comes from and which platform it targets.

``source_options`` adds ``-f/--file`` or ``--git URL [--ref REF] [--plan-path P]`` and
``--platform`` (``repo_options`` the part a git hook needs); a command receives them as one
:class:`Target`. ``Target.read()`` loads the revision the one way the watch loop does too
(:func:`fusionizer.reconciler.revision.load_revision`); ``Target.load()`` refuses an
invalid plan, so no command can act on one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, List, Optional

import click

from fusionizer.errors import FusionizerError
from fusionizer.paths import DEFAULT_PLAN_FILE
from fusionizer.platforms.factory import KINDS
from fusionizer.reconciler.revision import Loaded, Platforms, Revision, load_revision
from fusionizer.sources import PollableSource, open_source


@dataclass(frozen=True)
class Target:
    plan_file: Optional[Path]
    git_url: Optional[str]
    ref: Optional[str]
    plan_path: str
    platform_kind: Optional[str]

    @property
    def platforms(self) -> Platforms:
        return Platforms(self.platform_kind)

    def source(self) -> PollableSource:
        return open_source(self.plan_file, self.git_url, self.ref, self.plan_path if self.git_url else None)

    def read(self, strict: bool = False) -> Revision:
        """The source's revision now: :class:`Loaded` or :class:`Refused`."""
        return load_revision(self.source(), self.platforms, strict)

    def load(self) -> Loaded:
        """The source's revision, valid; an invalid plan raises its PlanError."""
        revision = self.read()
        if not isinstance(revision, Loaded):
            raise revision.error
        return revision

    def describe(self, loaded: Loaded) -> str:
        return (f"plan {loaded.plan.name} from {loaded.snapshot.description} ({loaded.snapshot.short_revision}), "
                f"{self.platforms.kind(loaded.plan.platform.kind)} platform, namespace {loaded.platform.namespace}")


_FILE = click.option("-f", "--file", "plan_file", type=click.Path(path_type=Path), default=None,
                     help=f"Plan file [default: ./{DEFAULT_PLAN_FILE}].")
_GIT = click.option("--git", "git_url", metavar="URL", help="Read the plan from this git repo (URL or path).")
_REF = click.option("--ref", metavar="REF", help="Branch, tag or commit of --git [default: the remote's HEAD].")
_PLAN_PATH = click.option("--plan-path", default=DEFAULT_PLAN_FILE, show_default=True,
                          help="Path of the plan file inside the git repo.")
_PLATFORM = click.option("--platform", "platform_kind", type=click.Choice(KINDS),
                         help="Override the plan's platform (also: env FUSIONIZER_PLATFORM).")


def source_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the source options; the command receives them as one ``where: Target``."""

    @functools.wraps(func)
    def command(*args: Any, plan_file: Optional[Path], git_url: Optional[str], ref: Optional[str],
                plan_path: str, platform_kind: Optional[str], **kwargs: Any) -> Any:
        return func(*args, where=target(plan_file, git_url, ref, plan_path, platform_kind), **kwargs)

    return _decorate(command, [_FILE, _GIT, _REF, _PLAN_PATH, _PLATFORM])


def repo_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """For commands on a repository they are given (``BARE_REPO``): the plan's path in it and
    the platform, as in :func:`source_options`; the command receives ``where: Target``."""

    @functools.wraps(func)
    def command(*args: Any, bare_repo: str, plan_path: str, platform_kind: Optional[str], **kwargs: Any) -> Any:
        return func(*args, where=Target(None, bare_repo, None, plan_path, platform_kind), **kwargs)

    return _decorate(command, [click.argument("bare_repo", metavar="BARE_REPO"), _PLAN_PATH, _PLATFORM])


def _decorate(command: Callable[..., Any], decorators: List[Callable[..., Any]]) -> Callable[..., Any]:
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def target(plan_file: Optional[Path], git_url: Optional[str], ref: Optional[str], plan_path: str,
           platform_kind: Optional[str]) -> Target:
    if plan_file is not None and git_url is not None:
        raise click.UsageError("Either -f/--file or --git can be used, not both.")
    if git_url is None and ref is not None:
        raise click.UsageError("--ref goes with --git.")
    if plan_file is None and git_url is None:
        plan_file = Path(DEFAULT_PLAN_FILE)
        if not plan_file.is_file():
            raise FusionizerError(
                f"no {DEFAULT_PLAN_FILE} in {Path.cwd()}: pass -f PATH to a plan file, or --git URL"
            )
    return Target(plan_file, git_url, ref, plan_path, platform_kind)
