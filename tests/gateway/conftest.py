"""The gateway in-process on a real socket, in front of a real upstream app (uvicorn).

Both run on their own threads; each fixture stops what it started. Readiness is waited for
on an event, never slept for.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from fusionizer.gateway import serving
from fusionizer.gateway.app import Gateway, Limits, Settings
from fusionizer.gateway.routes import RouteEntry, RoutingTable
from fusionizer.gateway.upstream import Endpoint

SECRET = b"test-secret"
SERVER_URL = "http://gateway.invalid:8000"


class Running:
    """An ASGI app served by uvicorn on 127.0.0.1 in a thread."""

    def __init__(self, app: Any, limits: Limits = Limits()) -> None:
        self.sock = serving.listen("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        ready = threading.Event()
        self.server = serving.server(app, limits, on_ready=ready.set, on_stop=getattr(app, "close", None))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        assert ready.wait(10), "server did not start"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


async def echo_app(scope: Dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    """The upstream: echoes the request as JSON; a few paths answer in special ways."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    path = scope["path"]
    if path == "/chunked":  # no Content-Length: uvicorn sends it chunked
        await send({"type": "http.response.start", "status": 201, "headers": [(b"X-Kind", b"chunked")]})
        for part in (b"one,", b"two,", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    if path == "/empty":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    payload = json.dumps({
        "method": scope["method"], "path": path, "query": scope["query_string"].decode(),
        "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]], "body": body.decode("latin-1"),
    }).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
               (b"Set-Cookie", b"a=1"), (b"Set-Cookie", b"b=2"), (b"X-Custom", b"Value")]
    await send({"type": "http.response.start", "status": 203, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


@dataclass
class Stack:
    upstream: Running
    gateway: Running
    app: Gateway
    table: RoutingTable

    def headers_seen(self, response_json: Dict[str, Any]) -> Dict[str, List[str]]:
        seen: Dict[str, List[str]] = {}
        for name, value in response_json["headers"]:
            seen.setdefault(name, []).append(value)
        return seen


def make_stack(limits: Limits = Limits(), invoke_token: Optional[str] = None) -> Stack:
    upstream = Running(echo_app)
    endpoint = Endpoint.parse(upstream.url)
    table = RoutingTable([RouteEntry("echo", "demo", "demo-echo", endpoint)])
    app = Gateway(table, Settings(limits=limits, secret=SECRET, server_url=SERVER_URL, invoke_token=invoke_token))
    return Stack(upstream, Running(app, limits), app, table)


@pytest.fixture
def stack() -> Iterator[Stack]:
    made = make_stack(Limits(max_body=1024, max_head=4096, head_timeout=1.0, body_timeout=1.0))
    yield made
    made.gateway.stop()
    made.upstream.stop()


def raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, read until the server closes (or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)
