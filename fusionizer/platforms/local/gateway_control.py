"""Keeping one gateway process per local namespace running, on a stable port.

Functions get the gateway's URL in their environment when their process starts (it is not
part of their spec hash). So the gateway is restarted on the port it had before whenever
that port is free, and running functions keep reaching it; only when another program took
the port does it move, and the platform then restarts the functions on the new URL.
:func:`gateway_url` is a question and starts nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from typing import Iterator, Optional

from fusionizer.errors import PlatformError
from fusionizer.platforms.local import processes
from fusionizer.platforms.local.processes import ServingProcess, StartFailed
from fusionizer.platforms.local.store import Store

_START_TIMEOUT = 30.0


def ensure_gateway(store: Store) -> str:
    """The gateway's URL, started first if it is not running."""
    with running_gateway(store) as url:
        return url


@contextlib.contextmanager
def running_gateway(store: Store) -> Iterator[str]:
    """The running gateway's URL (started first if needed), while holding the namespace's
    gateway lock: parallel deploys (threads, or two plans in one namespace) must not start
    two gateways, nor re-point the same function twice."""
    with open(store.dir("run") / "gateway.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield _ensure(store)


def _ensure(store: Store) -> str:
    state = _gateway(store)
    if state and processes.alive(state.ref):
        return _url(state.port)
    started = _start(store, state.port if state else 0) or _start(store, 0)
    if started is None:
        raise PlatformError(f"cannot start the local gateway; see {store.log_file('gateway')}")
    store.write("run", "gateway", ServingProcess(started.ref, int(started.ready["port"])).to_json())
    return _url(int(started.ready["port"]))


def stop_gateway(store: Store) -> None:
    state = _gateway(store)
    if state:
        processes.stop(state.ref)
        store.remove("run", "gateway")


def gateway_url(store: Store) -> Optional[str]:
    state = _gateway(store)
    if state and processes.alive(state.ref):
        return _url(state.port)
    return None


def _gateway(store: Store) -> Optional[ServingProcess]:
    raw = store.read("run", "gateway")
    return ServingProcess.from_json(raw) if raw else None


def _start(store: Store, port: int) -> Optional[processes.Started]:
    ready = store.dir("run") / f"gateway-{uuid.uuid4().hex[:8]}.ready"
    argv = processes.python_argv(
        "fusionizer.platforms.local.gateway", "--store", str(store.root), "--namespace", store.namespace,
        "--port", str(port), "--ready-file", str(ready),
    )
    try:
        return processes.start(argv, dict(os.environ), store.root, store.log_file("gateway"), ready, _START_TIMEOUT)
    except StartFailed:
        return None


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}"
