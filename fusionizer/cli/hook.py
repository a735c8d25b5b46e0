"""``fusionizer hook install|uninstall``: a post-receive hook, so that a push reconciles."""

from __future__ import annotations

import os
from typing import Optional

import click

from fusionizer.cli.context import Target, repo_options
from fusionizer.loop import posthook


@click.group("hook")
def hook() -> None:
    """Git hooks: reconcile on `git push` to a repository you host.

    \b
    Example:
      fusionizer hook install /srv/git/shop.git
    """


@hook.command("install")
@repo_options
@click.option("--branch", metavar="B", help="Branch whose pushes reconcile [default: the repository's HEAD branch].")
@click.option("--chain", is_flag=True, help="Keep an existing post-receive hook: it runs first, then ours.")
def install(where: Target, branch: Optional[str], chain: bool) -> None:
    """Install hooks/post-receive in BARE_REPO: a push to the branch runs `fusionizer apply`
    at the pushed commit (the pusher sees the result as `remote:` lines) and wakes any
    running `fusionizer watch --git BARE_REPO`.

    The hook uses this python and the FUSIONIZER_HOME set now (if any), so it deploys to
    the same local platform store as your other commands; the pusher sees the plan's
    warnings, and with --strict a plan with warnings is refused. Installing again updates it.

    \b
    Examples:
      fusionizer hook install /srv/git/shop.git
      fusionizer hook install /srv/git/shop.git --branch release --strict
    """
    assert where.git_url is not None
    done = posthook.install(where.git_url, branch, where.plan_path, where.platform_kind, chain,
                            home=os.environ.get("FUSIONIZER_HOME") or None, strict=where.strict)
    settings = done.settings
    verb = {"installed": "Installed", "updated": "Updated", "unchanged": "Already up to date:"}[done.action]
    click.echo(f"{verb} {done.path}")
    click.echo(f"  a push to {settings.branch} applies {settings.plan_path}"
               f" on the {settings.platform or 'plan'}'s platform"
               + (f", with FUSIONIZER_HOME={settings.home}" if settings.home else ""))
    if settings.chained:
        click.echo(f"  the previous hook runs first: {settings.chained}")


@hook.command("uninstall")
@click.argument("bare_repo", metavar="BARE_REPO")
def uninstall(bare_repo: str) -> None:
    """Remove the fusionizer's post-receive hook (a hook it chained is put back).

    \b
    Example:
      fusionizer hook uninstall /srv/git/shop.git
    """
    restored = posthook.uninstall(bare_repo)
    click.echo(f"Removed the fusionizer hook from {bare_repo}" + (f"; restored {restored}" if restored else ""))
