"""Keeping one gateway process per local namespace running, on a stable port.

Functions get the gateway's URL in their environment when their process starts (it is not
part of their spec hash). So the gateway is restarted on the port it had before whenever
that port is free, and running functions keep reaching it; only when another program took
the port does it move, and the platform then restarts the functions on the new URL.
:func:`gateway_url` is a question and starts nothing.

The namespace's secret (``run/gateway.secret``, owner-only) is shared by the gateway and the
functions: the gateway proves it knows it before a function sends a call, so whatever
squats the port of a dead gateway gets nothing. Before an old function process is stopped,
:func:`drain` has the gateway switch its routes away and finish what it sent there.

A gateway is recorded before it is spawned (``run/gateway-pending.json``, an
:class:`~.attempts.Attempt`), so an apply killed between the spawn and ``run/gateway.json``
leaves no gateway nobody knows of: the next start, under the same lock, stops it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import uuid
from pathlib import Path
from typing import Iterable, Iterator, Optional

from fusionizer import paths
from fusionizer.errors import PlatformError
from fusionizer.platforms.local import attempts, processes
from fusionizer.platforms.local.attempts import Attempt
from fusionizer.platforms.local.logsize import LogLimits
from fusionizer.platforms.local.processes import ServingProcess, StartFailed
from fusionizer.platforms.local.store import Store

_START_TIMEOUT = 30.0
_DRAIN_TIMEOUT = 60.0  # above the gateway's own drain limit, which answers first
PENDING = "gateway-pending"  # under run/: a gateway being started


def ensure_gateway(store: Store, limits: LogLimits) -> str:
    """The gateway's URL, started first if it is not running."""
    state = _gateway(store)
    if state and processes.alive(state.ref):  # as the locked look would find: each deploy asks
        return _url(state.port)
    with running_gateway(store, limits) as url:
        return url


@contextlib.contextmanager
def running_gateway(store: Store, limits: LogLimits) -> Iterator[str]:
    """The running gateway's URL (started first if needed), while holding the namespace's
    gateway lock: parallel deploys (threads, or two plans in one namespace) must not start
    two gateways, nor re-point the same function twice."""
    with _locked(store):
        yield _ensure(store, limits)


@contextlib.contextmanager
def _locked(store: Store) -> Iterator[None]:
    with open(store.dir("run") / "gateway.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _ensure(store: Store, limits: LogLimits) -> str:
    _reap(store)
    state = _gateway(store)
    if state and processes.alive(state.ref):
        return _url(state.port)
    started = _start(store, state.port if state else 0, limits) or _start(store, 0, limits)
    if started is None:
        raise PlatformError(f"cannot start the local gateway; see {store.log_file('gateway')}")
    return _url(int(started.ready["port"]))


def stop_gateway(store: Store) -> None:
    with _locked(store):
        _reap(store)
        state = _gateway(store)
        if state:
            processes.stop(state.ref)
            store.remove("run", "gateway")


def _reap(store: Store) -> None:
    """Stop the gateway a killed start left unrecorded (under the lock, so no start is live)."""
    pending = attempts.abandoned(store, "run", PENDING)
    if pending is None:
        return
    state = _gateway(store)
    attempts.undo(pending, state.ref if state else None)
    attempts.forget(store, "run", PENDING, pending)


def gateway_url(store: Store) -> Optional[str]:
    state = _gateway(store)
    if state and processes.alive(state.ref):
        return _url(state.port)
    return None


def _gateway(store: Store) -> Optional[ServingProcess]:
    raw = store.read("run", "gateway")
    return ServingProcess.from_json(raw) if raw else None


def secret(store: Store) -> bytes:
    """The namespace's secret, made on first use (readable by this user only)."""
    return secret_at(_secret_file(store))


def _secret_file(store: Store) -> Path:
    return store.dir("run") / "gateway.secret"


def secret_at(path: Path) -> bytes:
    """The secret kept in ``path``, made on first use (readable by this user only)."""
    try:
        return paths.read_bytes(path).strip()  # read at every deploy: its directory is made only when missing
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".gateway.secret.{uuid.uuid4().hex[:8]}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32))
    try:
        os.link(tmp, path)  # the first writer wins; everyone reads what it wrote
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes().strip()


def drain(store: Store, endpoints: Iterable[str]) -> None:
    """Have the running gateway (if any) route away from ``endpoints`` and wait for the
    requests it sent there; best effort: a gateway that cannot be asked is not waited for."""
    url = gateway_url(store)
    wanted = list(endpoints)
    if url is None or not wanted:
        return
    import urllib.error  # here, not above: with trust, they load ssl, which a no-op does without
    import urllib.request

    from fusionizer.runtime import trust

    request = urllib.request.Request(
        url + "/-/drain", data=json.dumps({"endpoints": wanted}).encode(), method="POST",
        headers={"Content-Type": "application/json", trust.HEADER_CALLER: trust.caller_token(secret(store))},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
    try:
        opener.open(request, timeout=_DRAIN_TIMEOUT).close()
    except (OSError, urllib.error.URLError):
        pass


def _start(store: Store, port: int, limits: LogLimits) -> Optional[processes.Started]:
    ready = store.dir("run") / f"gateway-{uuid.uuid4().hex[:8]}.ready"
    secret(store)
    module = ["fusionizer.platforms.local.gateway", "--store", str(store.root), "--namespace", store.namespace,
              "--port", str(port), "--ready-file", str(ready), "--secret-file", str(_secret_file(store))]
    attempt = Attempt(store, "run", PENDING, ready)
    try:
        started = processes.start(module, {**os.environ, **attempt.env()}, store.root, store.log_file("gateway"),
                                  limits, ready, _START_TIMEOUT, attempt.running)
        store.write("run", "gateway", ServingProcess(started.ref, int(started.ready["port"])).to_json())
        return started
    except StartFailed:
        return None
    finally:
        attempt.end()


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}"
