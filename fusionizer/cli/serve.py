"""``fusionizer serve``: the Fusionizer server (API, gateway and reconcile loop in one process).

The server stack (uvicorn, Starlette, prometheus-client) is imported only when the command
runs, so every other command starts without it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import click

from fusionizer.cli.context import Target, source_options
from fusionizer.cli.watch import loop_options, loop_settings
from fusionizer.errors import FusionizerError
from fusionizer.plan.values import DURATION_HELP, parse_duration

DEFAULT_PERIOD = "5m"


@click.command("serve")
@source_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--public-url", metavar="URL",
              help="URL functions use to reach this server (nuctl serverUrl default) [default: this address; "
                   "in a cluster its Service].")
@click.option("--token-file", type=click.Path(path_type=Path, dir_okay=False),
              help="Bearer token for deploys, deletes, invocations and /-/status (also: env FUSIONIZER_TOKEN).")
@click.option("--webhook-secret-file", type=click.Path(path_type=Path, dir_okay=False),
              help="Secret of GitHub/GitLab webhooks to /-/webhook (also: env FUSIONIZER_WEBHOOK_SECRET).")
@click.option("--auto-optimize", is_flag=True,
              help="Apply the plan's optimizer's proposals live, every --every (not on a git source: git decides).")
@click.option("--every", metavar="DURATION", default=None, help="Period of --auto-optimize, e.g. 30s, 5m [default: 5m].")
@loop_options
def serve(where: Target, host: str, port: int, public_url: Optional[str], token_file: Optional[Path],
          webhook_secret_file: Optional[Path], auto_optimize: bool, every: Optional[str], interval: float,
          resync: float, debounce: int, parallel: int, no_prune: bool, verbose: bool) -> None:
    """Serve the original Fusionizer API (PUT/DELETE/GET/POST /TASK), route calls between
    tasks in different functions, and reconcile continuously like `watch`.

    PUT and DELETE change the plan's directory and answer once the change serves; on a
    --git source they answer 409 (git decides). Operations: /-/healthz, /-/status,
    /-/traces (the calls between tasks, aggregated), /-/metrics (Prometheus), /-/webhook.

    With --auto-optimize, every --every the plan's optimizer (spec.optimizer, else the
    feedback one) proposes a setup from the call traces, and a different one is applied
    live, without git, and shown in /-/status; a new revision of the plan starts over
    from its own setup.

    \b
    Examples:
      fusionizer serve
      fusionizer serve --host 0.0.0.0 --token-file /run/secrets/fusionizer-token
      fusionizer serve --git https://example.com/shop.git --webhook-secret-file hook.secret
      fusionizer serve --auto-optimize --every 1m
    """
    from fusionizer.reconciler.reconcile import Options
    from fusionizer.server import main

    optimize_every = _period(auto_optimize, every)
    token = _secret(token_file, "FUSIONIZER_TOKEN", "--token-file")
    webhook = _secret(webhook_secret_file, "FUSIONIZER_WEBHOOK_SECRET", "--webhook-secret-file")
    source = where.source()
    config = main.ServeConfig(
        host=host, port=port, public_url=public_url, token=token,
        webhook_secret=webhook.encode() if webhook else None,
        loop=loop_settings(where, interval, resync, debounce),
        options=Options(parallel=parallel, prune=not no_prune), verbose=verbose, strict=where.strict,
        optimize_every=optimize_every,
    )
    code = main.run(source, where.platform_kind, config)
    if code:
        click.get_current_context().exit(code)


def _period(auto_optimize: bool, every: Optional[str]) -> Optional[float]:
    """Seconds between optimizer periods, or None without --auto-optimize."""
    if every is not None and not auto_optimize:
        raise click.UsageError("--every goes with --auto-optimize.")
    if not auto_optimize:
        return None
    period = parse_duration(every or DEFAULT_PERIOD)
    if period is None or period.total_seconds() <= 0:
        raise click.BadParameter(f"'{every}' is not a duration ({DURATION_HELP})", param_hint="--every")
    return period.total_seconds()


def _secret(path: Optional[Path], env: str, option: str) -> Optional[str]:
    if path is not None:
        try:
            value = path.read_text().strip()
        except OSError as e:
            raise FusionizerError(f"cannot read {option} {path}: {e.strerror}") from None
        if not value:
            raise FusionizerError(f"{option} {path} is empty")
        return value
    return os.environ.get(env) or None
