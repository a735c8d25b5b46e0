"""The local platform's gateway: the Fusionizer server address of a namespace.

Tasks call ``{server}/<task>``; the gateway finds the function that serves ``<task>`` in
the namespace's store and forwards the request there with the ``Task-Name`` header, so a
call between tasks in different functions works with nothing started by hand. A task name
served by several plans goes to the caller's plan, named by the ``Fusionizer-Plan`` header
the runtime sends.

Run as ``python -m fusionizer.platforms.local.gateway --store DIR --port P --ready-file F``.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from fusionizer.platforms.base import FunctionRecord
from fusionizer.platforms.local.store import Store, write_json
from fusionizer.runtime import layout

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
     "transfer-encoding", "upgrade", "host", "content-length"}
)
# Headers the gateway consumes: the callee sees what an in-process call would give it.
_NOT_FORWARDED = _HOP_BY_HOP | {layout.HEADER_PLAN.lower()}


class Routes:
    """task -> [(plan, port)], rebuilt when the store's functions directory changes."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._stamp: Tuple[int, int] = (-1, -1)
        self._table: Dict[str, List[Tuple[str, int]]] = {}

    def lookup(self, task: str, plan: Optional[str]) -> List[Tuple[str, int]]:
        self._refresh()
        found = self._table.get(task, [])
        if plan is not None:
            own = [entry for entry in found if entry[0] == plan]
            if own:
                return own
        return found

    def _refresh(self) -> None:
        folder = self._store.root / "functions"
        try:
            st = folder.stat()
        except OSError:
            return
        stamp = (st.st_mtime_ns, st.st_ino)
        with self._lock:
            if stamp == self._stamp:
                return
            table: Dict[str, List[Tuple[str, int]]] = {}
            for raw in self._store.records():
                record = FunctionRecord.from_nuctl(raw)
                plan = record.plan()
                if plan is None or not record.serving or not record.http_port:
                    continue
                for task in record.tasks():
                    table.setdefault(task, []).append((plan, record.http_port))
            self._table, self._stamp = table, stamp


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without it Nagle + delayed ACK add ~40 ms to every keep-alive call.
    disable_nagle_algorithm = True
    routes: Routes
    _local = threading.local()

    def do_GET(self) -> None:
        self._forward()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def _forward(self) -> None:
        path, _, query = self.path.partition("?")
        parts = path.lstrip("/").split("/", 1)
        task = parts[0]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        targets = self.routes.lookup(task, self.headers.get(layout.HEADER_PLAN))
        if len(targets) != 1:
            plans = ", ".join(sorted(p for p, _ in targets))
            reason = f"no ready function serves task '{task}'" if not targets else (
                f"task '{task}' is served by several plans ({plans}); send the Fusionizer-Plan header")
            self._reply(404 if not targets else 409, [("Content-Type", "text/plain")], reason.encode())
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _NOT_FORWARDED}
        headers[layout.HEADER_TASK] = task
        target = "/" + (parts[1] if len(parts) > 1 else "") + (f"?{query}" if query else "")
        try:
            status, out_headers, out_body = self._send(targets[0][1], target, headers, body)
        except OSError as e:
            self._reply(502, [("Content-Type", "text/plain")], f"function for task '{task}' unreachable: {e}".encode())
            return
        self._reply(status, out_headers, out_body)

    def _send(self, port: int, target: str, headers: Dict[str, str], body: bytes) -> Tuple[int, List[Tuple[str, str]], bytes]:
        pool: Dict[int, http.client.HTTPConnection] = self._local.__dict__.setdefault("pool", {})
        for attempt in (0, 1):
            conn = pool.get(port) or http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            pool[port] = conn
            try:
                conn.request(self.command, target, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                return resp.status, [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP_BY_HOP], data
            except (http.client.HTTPException, OSError):
                conn.close()
                pool.pop(port, None)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _reply(self, status: int, headers: List[Tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def serve(store: Store, host: str, port: int, ready_file: Path) -> None:
    handler = type("Handler", (_Handler,), {"routes": Routes(store)})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    write_json(ready_file, {"pid": os.getpid(), "host": host, "port": server.server_address[1]})
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", required=True, type=Path)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", required=True, type=Path)
    args = parser.parse_args()
    serve(Store(args.namespace, args.store), args.host, args.port, args.ready_file)


if __name__ == "__main__":
    main()
