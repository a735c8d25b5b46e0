"""What every command shares: where the plan comes from and which platform it targets.

``source_options`` adds ``-f/--file`` or ``--git URL [--ref REF] [--plan-path P]`` and
``--platform``; ``Target.load()`` snapshots the source, validates the plan and builds the
platform, so no command can act on an invalid plan.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence

import click

from fusionizer.errors import Diagnostic, FusionizerError, PlanError
from fusionizer.plan.identity import Identity, read_identity
from fusionizer.plan.loader import load_plan
from fusionizer.plan.model import Plan
from fusionizer.platforms.base import Platform
from fusionizer.platforms.factory import KINDS, make_platform
from fusionizer.sources import open_source
from fusionizer.sources.base import Snapshot

@dataclass(frozen=True)
class Target:
    plan_file: Optional[Path]
    git_url: Optional[str]
    ref: Optional[str]
    plan_path: str
    platform_kind: Optional[str]

    def load(self) -> "Loaded":
        """Snapshot the source and validate its plan; an invalid plan raises
        :class:`InvalidPlan`, which carries the snapshot and the plan's claimed identity."""
        source = open_source(self.plan_file, self.git_url, self.ref, self.plan_path if self.git_url else None, None)
        snapshot = source.snapshot()
        shown_as = self.plan_file if self.git_url is None else Path(self.plan_path)
        try:
            plan = load_plan(snapshot.plan_file, shown_as=shown_as, tree=snapshot.root)
        except PlanError as e:
            raise InvalidPlan(e.diagnostics, snapshot, read_identity(snapshot.plan_file)) from None
        return Loaded(snapshot, plan, self.platform_for(plan), self.kind_for(plan))

    def platform_of(self, identity: Identity) -> Platform:
        kind = self.platform_kind or os.environ.get("FUSIONIZER_PLATFORM") or identity.kind
        return make_platform(kind, identity.namespace, identity.options)

    def kind_for(self, plan: Plan) -> str:
        return self.platform_kind or os.environ.get("FUSIONIZER_PLATFORM") or plan.platform.kind

    def platform_for(self, plan: Plan) -> Platform:
        return make_platform(self.kind_for(plan), plan.platform.namespace, plan.platform.options)


class InvalidPlan(PlanError):
    """A plan that failed validation, with what is needed to report it against its functions."""

    def __init__(self, diagnostics: Sequence[Diagnostic], snapshot: Snapshot, identity: Optional[Identity]) -> None:
        super().__init__(diagnostics)
        self.snapshot = snapshot
        self.identity = identity

    def errors(self) -> List[str]:
        return [d.render() for d in self.diagnostics if d.severity == "error"]


@dataclass(frozen=True)
class Loaded:
    snapshot: Snapshot
    plan: Plan
    platform: Platform
    platform_kind: str

    def describe(self) -> str:
        return (f"plan {self.plan.name} from {self.snapshot.description} ({self.snapshot.short_revision}), "
                f"{self.platform_kind} platform, namespace {self.platform.namespace}")


def source_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the source options; the command receives them as one ``where: Target``."""
    options = [
        click.option("-f", "--file", "plan_file", type=click.Path(path_type=Path), default=None,
                     help="Plan file [default: ./fusionizer.yaml]."),
        click.option("--git", "git_url", metavar="URL", help="Read the plan from this git repo (URL or path)."),
        click.option("--ref", metavar="REF", help="Branch, tag or commit of --git [default: the remote's HEAD]."),
        click.option("--plan-path", default="fusionizer.yaml", show_default=True,
                     help="Path of the plan file inside the --git repo."),
        click.option("--platform", "platform_kind", type=click.Choice(KINDS),
                     help="Override the plan's platform (also: env FUSIONIZER_PLATFORM)."),
    ]

    @functools.wraps(func)
    def command(*args: Any, plan_file: Optional[Path], git_url: Optional[str], ref: Optional[str],
                plan_path: str, platform_kind: Optional[str], **kwargs: Any) -> Any:
        return func(*args, where=target(plan_file, git_url, ref, plan_path, platform_kind), **kwargs)

    wrapped: Callable[..., Any] = command
    for option in reversed(options):
        wrapped = option(wrapped)
    return wrapped


def target(plan_file: Optional[Path], git_url: Optional[str], ref: Optional[str], plan_path: str,
           platform_kind: Optional[str]) -> Target:
    if plan_file is not None and git_url is not None:
        raise click.UsageError("Either -f/--file or --git can be used, not both.")
    if git_url is None and ref is not None:
        raise click.UsageError("--ref goes with --git.")
    if plan_file is None and git_url is None:
        plan_file = Path("fusionizer.yaml")
        if not plan_file.is_file():
            raise FusionizerError(
                f"no fusionizer.yaml in {Path.cwd()}: pass -f PATH to a plan file, or --git URL"
            )
    return Target(plan_file, git_url, ref, plan_path, platform_kind)
