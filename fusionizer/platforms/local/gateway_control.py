"""Keeping one gateway process per local namespace running, on a stable port.

Functions get the gateway's URL in their environment, and it is part of their spec hash;
so the gateway is restarted on the port it had before whenever that port is free.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from typing import Optional

from fusionizer.errors import PlatformError
from fusionizer.platforms.local import processes
from fusionizer.platforms.local.processes import ServingProcess, StartFailed
from fusionizer.platforms.local.store import Store

_START_TIMEOUT = 30.0


def ensure_gateway(store: Store) -> str:
    with open(store.dir("run") / "gateway.lock", "w") as lock:
        # Parallel deploys (threads, or two plans in one namespace) must not start two gateways.
        fcntl.flock(lock, fcntl.LOCK_EX)
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
