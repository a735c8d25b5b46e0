"""The local platform's gateway process: the one gateway, fed from the namespace's store.

Tasks call ``{server}/<task>``; this process runs :class:`fusionizer.gateway.app.Gateway`
on uvicorn and keeps its routing table equal to the store's serving functions (re-read
when the store's functions directory changes, and at once when the platform asks it to
drain an old function before stopping it). A task name served by several plans goes to
the caller's plan, named by the ``Fusionizer-Plan`` header the runtime sends.

Run as ``python -m fusionizer.platforms.local.gateway --store DIR --namespace NS --port P
--ready-file F --secret-file S``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Tuple

from fusionizer.gateway import serving
from fusionizer.gateway.app import Gateway, Settings
from fusionizer.gateway.routes import RoutingTable
from fusionizer.platforms.base import FunctionRecord
from fusionizer.platforms.local.store import Store, write_json
from fusionizer.platforms.routes import local_address, route_entries


class StoreRoutes:
    """Keeps a routing table equal to the store's serving functions."""

    def __init__(self, store: Store, table: RoutingTable) -> None:
        self._store = store
        self._table = table
        self._stamp: Tuple[int, int] = (-1, -1)

    def refresh(self, force: bool) -> None:
        try:
            st = (self._store.root / "functions").stat()
        except OSError:
            st = None
        stamp = (st.st_mtime_ns, st.st_ino) if st is not None else (0, 0)
        if stamp == self._stamp and not force:
            return
        self._stamp = stamp
        records = [FunctionRecord.from_nuctl(raw) for raw in self._store.records()]
        self._table.replace(route_entries(records, local_address))


def serve(store: Store, host: str, port: int, ready_file: Path, secret: bytes) -> None:
    sock = serving.listen(host, port)
    url = f"http://{host}:{sock.getsockname()[1]}"
    table = RoutingTable()
    routes = StoreRoutes(store, table)
    routes.refresh(True)
    gateway = Gateway(table, Settings(secret=secret, server_url=url), refresh=routes.refresh)

    def ready() -> None:
        write_json(ready_file, {"pid": os.getpid(), "host": host, "port": sock.getsockname()[1]})

    serving.server(gateway, gateway.settings.limits, on_ready=ready, on_stop=gateway.close).run(sockets=[sock])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", required=True, type=Path)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", required=True, type=Path)
    parser.add_argument("--secret-file", required=True, type=Path)
    args = parser.parse_args()
    secret = args.secret_file.read_bytes().strip()
    serve(Store(args.namespace, args.store), args.host, args.port, args.ready_file, secret)


if __name__ == "__main__":
    main()
