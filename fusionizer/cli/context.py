"""What every command shares: where the plan comes from and which platform it targets.

``source_options`` adds ``-f/--file`` or ``--git URL [--ref REF] [--plan-path P]``,
``--platform`` and ``--strict`` (``repo_options`` the part a git hook needs); a command
receives them as one :class:`Target`. ``Target.read()`` loads the revision the one way the
watch loop does too (:func:`fusionizer.reconciler.revision.load_revision`); ``Target.load()``
refuses an invalid plan, so no command can act on one, and prints the plan's warnings as
``validate`` does. ``Target.deployed()`` answers what is deployed for the plan even when the
source's newest revision is broken (``invoke``, ``logs``, ``status``: the last good apply
keeps serving, and can be asked about).
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import click

from fusionizer.errors import FusionizerError
from fusionizer.paths import DEFAULT_PLAN_FILE
from fusionizer.platforms.base import FunctionRecord, Platform
from fusionizer.platforms.factory import KINDS
from fusionizer.reconciler.reconcile import owned
from fusionizer.reconciler.revision import Loaded, Platforms, Refused, Revision, load_revision
from fusionizer.sources import PollableSource, open_source


@dataclass(frozen=True)
class Target:
    plan_file: Optional[Path]
    git_url: Optional[str]
    ref: Optional[str]
    plan_path: str
    platform_kind: Optional[str]
    strict: bool = False

    @property
    def platforms(self) -> Platforms:
        return Platforms(self.platform_kind)

    def source(self) -> PollableSource:
        return open_source(self.plan_file, self.git_url, self.ref, self.plan_path if self.git_url else None)

    def read(self) -> Revision:
        """The source's revision now: :class:`Loaded` or :class:`Refused` (with ``--strict``,
        a plan with warnings is refused)."""
        return load_revision(self.source(), self.platforms, self.strict)

    def load(self) -> Loaded:
        """The source's revision, valid, its warnings printed; an invalid plan raises its PlanError."""
        revision = self.read()
        if not isinstance(revision, Loaded):
            raise revision.error
        warn(revision)
        return revision

    def deployed(self, announce: bool = True) -> "Deployment":
        """What is deployed for the plan: the plan's own platform when the source's newest
        revision is valid, else the one the broken file still names (saying so on stderr
        when ``announce``)."""
        revision = self.read()
        if isinstance(revision, Loaded):
            return Deployment(revision.plan.name, revision.platform, tuple(revision.plan.tasks), None)
        if revision.identity is None:
            raise revision.error
        deployment = Deployment(revision.identity.name, self.platforms.claimed_by(revision.identity), None, revision)
        if announce:
            click.echo(click.style(f"Warning: {deployment.broken_note()}; answering from what is deployed, "
                                   f"the last good apply:", fg="yellow"), err=True)
            for error in revision.errors:
                click.echo(click.style(f"  {error}", fg="yellow"), err=True)
        return deployment


@dataclass(frozen=True)
class Deployment:
    """A plan's functions as deployed: ``tasks`` are the valid plan's, None when the source
    is broken (``refused``), and then the functions' own say which tasks they serve."""

    plan: str
    platform: Platform
    tasks: Optional[Tuple[str, ...]]
    refused: Optional[Refused]

    def records(self) -> Dict[str, FunctionRecord]:
        return owned(self.platform.list(), self.plan)

    def broken_note(self) -> str:
        assert self.refused is not None
        return (f"the source is broken: the plan at {self.refused.snapshot.short_revision} is invalid "
                f"(`fusionizer validate` says why)")

    def known_tasks(self, records: Dict[str, FunctionRecord]) -> Tuple[str, ...]:
        if self.tasks is not None:
            return self.tasks
        return tuple(sorted({t for r in records.values() for t in r.tasks()}))


def describe(loaded: Loaded) -> str:
    """``plan demo from <source> (<revision>), local platform, namespace default``."""
    return (f"plan {loaded.plan.name} from {loaded.snapshot.description} ({loaded.snapshot.short_revision}), "
            f"{loaded.platform.kind} platform, namespace {loaded.platform.namespace}")


def warn(loaded: Loaded) -> None:
    """The plan's warnings on stderr, as ``validate`` prints them (``--strict`` makes them errors)."""
    for diagnostic in loaded.diagnostics:
        click.echo(click.style(diagnostic.render(), fg="yellow"), err=True)


def unknown(kind: str, name: str, known: Iterable[str], where: str) -> FusionizerError:
    """``task 'pament' is not in plan demo; did you mean 'payment'?``, else the known names."""
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=3)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else f"known: {', '.join(names) or 'none'}"
    return FusionizerError(f"{kind} '{name}' is not {where}; {hint}")


_FILE_HELP = f"Plan file [default: ./{DEFAULT_PLAN_FILE}]."
_FILE = click.option("-f", "--file", "plan_file", type=click.Path(path_type=Path), default=None, help=_FILE_HELP)
# For `logs`, where -f means --follow as in kubectl and docker.
_LONG_FILE = click.option("--file", "plan_file", type=click.Path(path_type=Path), default=None, help=_FILE_HELP)
_GIT = click.option("--git", "git_url", metavar="URL", help="Read the plan from this git repo (URL or path).")
_REF = click.option("--ref", metavar="REF", help="Branch, tag or commit of --git [default: the remote's HEAD].")
_PLAN_PATH = click.option("--plan-path", default=DEFAULT_PLAN_FILE, show_default=True,
                          help="Path of the plan file inside the git repo.")
_PLATFORM = click.option("--platform", "platform_kind", type=click.Choice(KINDS),
                         help="Override the plan's platform (also: env FUSIONIZER_PLATFORM).")
_STRICT = click.option("--strict", is_flag=True,
                       help="Treat the plan's warnings (e.g. a group naming an undefined task) as errors.")


def source_options(func: Callable[..., Any], file_option: Callable[..., Any] = _FILE) -> Callable[..., Any]:
    """Add the source options; the command receives them as one ``where: Target``."""

    @functools.wraps(func)
    def command(*args: Any, plan_file: Optional[Path], git_url: Optional[str], ref: Optional[str],
                plan_path: str, platform_kind: Optional[str], strict: bool, **kwargs: Any) -> Any:
        return func(*args, where=target(plan_file, git_url, ref, plan_path, platform_kind, strict), **kwargs)

    return decorate(command, [file_option, _GIT, _REF, _PLAN_PATH, _PLATFORM, _STRICT])


def long_source_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """:func:`source_options` with the plan file as ``--file`` only, leaving ``-f`` to the command."""
    return source_options(func, _LONG_FILE)


def repo_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """For commands on a repository they are given (``BARE_REPO``): the plan's path in it and
    the platform, as in :func:`source_options`; the command receives ``where: Target``."""

    @functools.wraps(func)
    def command(*args: Any, bare_repo: str, plan_path: str, platform_kind: Optional[str], strict: bool,
                **kwargs: Any) -> Any:
        return func(*args, where=Target(None, bare_repo, None, plan_path, platform_kind, strict), **kwargs)

    return decorate(command, [click.argument("bare_repo", metavar="BARE_REPO"), _PLAN_PATH, _PLATFORM, _STRICT])


def decorate(command: Callable[..., Any], decorators: List[Callable[..., Any]]) -> Callable[..., Any]:
    """``command`` with ``decorators`` applied as if written above it, in this order."""
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def target(plan_file: Optional[Path], git_url: Optional[str], ref: Optional[str], plan_path: str,
           platform_kind: Optional[str], strict: bool = False) -> Target:
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
    return Target(plan_file, git_url, ref, plan_path, platform_kind, strict)
