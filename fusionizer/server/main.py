"""Assembling ``fusionizer serve``: the loop, the gateway, the API, one uvicorn process.

The loop runs on its own thread; uvicorn serves in the main thread until SIGTERM or
Ctrl-C, then in-flight requests finish, the run in progress finishes, and it exits (0 on
SIGTERM, 130 on Ctrl-C, as ``watch``).

Where functions find the server (``serverUrl`` on nuctl, unless the plan sets one): in a
cluster (``KUBERNETES_SERVICE_HOST`` set) its Service, ``http://SERVICE.NAMESPACE.svc:PORT``
(``FUSIONIZER_SERVICE_NAME``, default ``fusionizer``; the pod's namespace); elsewhere
``--public-url``, default this server's own address. The gateway reaches nuctl functions at
their internal invocation URL in a cluster, their external one elsewhere; on the local
platform it goes through the namespace's own gateway, which switches and drains routes in
step with every redeploy (so a redeploy drops no call through ``serve`` either).

The server's secret (env ``FUSIONIZER_SERVER_SECRET``, else kept in
``$FUSIONIZER_HOME/serve/secret``) is given to nuctl functions at deploy time: they make
the server prove it before they call it, and it knows their calls from outside ones. It
must outlive the server (functions keep the one they were deployed with): in a cluster,
give it from a Kubernetes Secret.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from fusionizer import paths
from fusionizer.errors import FusionizerError
from fusionizer.gateway import serving
from fusionizer.gateway.app import Gateway, Settings
from fusionizer.gateway.routes import RoutingTable
from fusionizer.loop.looping import LoopSettings
from fusionizer.loop.reconciling import Runner
from fusionizer.platforms.base import FunctionRecord, Platform
from fusionizer.platforms.factory import make_platform
from fusionizer.platforms.local import gateway_control
from fusionizer.platforms.local.platform import LocalPlatform
from fusionizer.platforms.nuctl.invoking import candidate_urls
from fusionizer.platforms.routes import Address
from fusionizer.reconciler.reconcile import Options
from fusionizer.reconciler.revision import Platforms
from fusionizer.runtime.trust import ENV_SECRET
from fusionizer.server.app import Server, ServeSettings
from fusionizer.server.control import LOG, Controller
from fusionizer.server.metrics import Metrics
from fusionizer.server.optimizing import AutoOptimizer
from fusionizer.sources.base import PollableSource
from fusionizer.sources.directory import DirectorySource

_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
EXIT_CODES: Dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 0}


@dataclass(frozen=True)
class ServeConfig:
    host: str
    port: int
    public_url: Optional[str]
    token: Optional[str]
    webhook_secret: Optional[bytes]
    loop: LoopSettings
    options: Options
    verbose: bool = False
    strict: bool = False  # plan warnings refuse a revision, as --strict does everywhere
    optimize_every: Optional[float] = None  # --auto-optimize: seconds between optimizer periods


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def server_url(config: ServeConfig, port: int) -> str:
    """The URL functions are given to reach this server (listening on ``port``)."""
    if config.public_url:
        return config.public_url.rstrip("/")
    if in_cluster():
        service = os.environ.get("FUSIONIZER_SERVICE_NAME", "fusionizer")
        return f"http://{service}.{_pod_namespace()}.svc:{port}"
    host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
    return f"http://{host}:{port}"


def _pod_namespace() -> str:
    try:
        return _SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return os.environ.get("POD_NAMESPACE", "default")


def function_address(cluster: bool) -> Callable[[Platform], Tuple[Address, bool]]:
    def address(record: FunctionRecord) -> Optional[str]:
        if cluster and record.internal_urls:
            return "http://" + record.internal_urls[0]
        urls = candidate_urls(record)
        return urls[0] if urls else None

    def address_for(platform: Platform) -> Tuple[Address, bool]:
        if isinstance(platform, LocalPlatform):
            store = platform.store
            return (lambda record: gateway_control.gateway_url(store)), True
        return address, False

    return address_for


def server_secret() -> bytes:
    given = os.environ.get(ENV_SECRET, "").strip()
    return given.encode() if given else gateway_control.secret_at(paths.home() / "serve" / "secret")


def platforms_with_server(override: Optional[str], url: str, secret: bytes) -> Platforms:
    """Platforms as the plan says; on nuctl, ``serverUrl`` defaults to this server, and
    functions get its secret when they call it."""

    def make(kind: str, namespace: str, options: Mapping[str, Any]) -> Platform:
        if kind == "nuctl":  # a plan's own serverUrl must reach this server too (an ingress, say)
            options = {**options, "serverUrl": options.get("serverUrl") or url, "serverSecret": secret.decode()}
        return make_platform(kind, namespace, options)

    return Platforms(override, make=make)


def run(source: PollableSource, platform_kind: Optional[str], config: ServeConfig) -> int:
    """Serve until a signal; returns the exit status."""
    if config.optimize_every is not None and not isinstance(source, DirectorySource):
        raise FusionizerError(f"--auto-optimize applies setups live, but the plan comes from git "
                              f"({source.describe()}): git decides. Run `fusionizer suggest` and push its change")
    _setup_logging(config.verbose)
    try:
        sock = serving.listen(config.host, config.port)
    except OSError as exc:
        raise FusionizerError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from None
    bound = sock.getsockname()[1]
    url = server_url(config, bound)
    table = RoutingTable()
    metrics = Metrics(table.serves)
    secret = server_secret()
    runner = Runner(source, platforms_with_server(platform_kind, url, secret), config.options,
                         strict=config.strict)
    controller = Controller(runner, config.loop, table, function_address(in_cluster()), on_run=metrics.observe_run)
    gateway = Gateway(table, Settings(secret=secret, server_url=url, invoke_token=config.token),
                      observe=metrics.observe_request)
    optimizer = AutoOptimizer(controller, config.optimize_every) if config.optimize_every is not None else None
    app = Server(controller, gateway, metrics, ServeSettings(config.token, config.webhook_secret), optimizer)
    if config.token is None and config.host not in ("127.0.0.1", "localhost", "::1"):
        LOG.warning(f"serving on {config.host} without a token: anyone who reaches it may deploy and invoke")
    watched = controller.start()
    if optimizer is not None:
        optimizer.start()
    server = serving.server(app, gateway.settings.limits, on_ready=lambda: LOG.info(
        f"serving {source.describe()} on http://{config.host}:{bound} (functions call {url}); "
        f"watching {watched}; Ctrl-C to stop"), on_stop=gateway.close)
    try:
        server.run(sockets=[sock])
    finally:
        LOG.info("stopping: the run in progress finishes first")
        if optimizer is not None:
            optimizer.stop()
        controller.stop()
    LOG.info("stopped")
    return EXIT_CODES.get(server.received or signal.SIGTERM, 0)


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    for name in ("fusionizer.loop", "fusionizer.serve"):
        log = logging.getLogger(name)
        log.handlers[:] = [handler]
        log.setLevel(logging.DEBUG if verbose else logging.INFO)
        log.propagate = False
