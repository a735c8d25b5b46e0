"""The local platform's gateway process under attack and load: real functions, real CLI."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Dict, Iterator, Tuple

import pytest

from fusionizer.platforms.local import gateway_control, processes
from fusionizer.platforms.local.store import Store
from testing.plans import discovering_plan, write_task
from testing.waiting import wait_for
from testing.example import ORDER, Cli, copy_example

pytestmark = pytest.mark.e2e

def post(port: int, path: str, body: bytes = b"", headers: Dict[str, str] | None = None) -> Tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def gateway_port() -> int:
    url = gateway_control.gateway_url(Store("nuclio"))
    assert url is not None
    return int(url.rsplit(":", 1)[1])


def function_port(cli: Cli, name: str) -> int:
    return int(cli.functions()[name]["url"].rsplit(":", 1)[1])


class Listener:
    """A TCP listener that records every byte sent to it and answers 200 to anything."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.received = bytearray()
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.received += conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    self.received += conn.recv(65536)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop = True
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    made = Listener()
    yield made
    made.close()


@pytest.fixture
def example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    cli = Cli(capsys, copy_example(tmp_path / "example"))
    cli.ok("apply")
    return cli


def test_server_headers_from_a_caller_never_redirect_a_call(example: Cli, listener: Listener) -> None:
    spoof = {"Content-Type": "application/json", "Fusionizer-Server-Url": f"http://127.0.0.1:{listener.port}",
             "Fusionizer-Server-Address": "127.0.0.1", "Task-Name": "checkout"}
    order = json.dumps(ORDER).encode()
    # Through the gateway, and straight at the function's own port.
    for port, path in ((gateway_port(), "/checkout"), (function_port(example, "demo-storefront"), "/")):
        status, body = post(port, path, order, spoof)
        assert status == 200, body
        assert json.loads(body)["payment"]["status"] == "paid"
    assert bytes(listener.received) == b""


def test_a_squatter_on_a_dead_gateways_port_gets_nothing(example: Cli) -> None:
    store = Store("nuclio")
    state = store.read("run", "gateway")
    assert state is not None
    processes.stop(processes.ProcessRef.from_json(state))
    squatter = Listener(int(state["port"]))
    try:
        status, body = post(function_port(example, "demo-storefront"), "/", json.dumps(ORDER).encode(),
                            {"Content-Type": "application/json", "Task-Name": "checkout"})
        assert status == 500, body  # the call to payment failed: the server did not prove itself
        assert ORDER["card"].encode() not in bytes(squatter.received)
        assert b"/-/proof" in bytes(squatter.received)  # it was asked, and got only a challenge
    finally:
        squatter.close()


def test_calls_looping_between_functions_end_with_508(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "fusionizer.yaml").write_text(discovering_plan("loop"))
    for me, other in (("ping", "pong"), ("pong", "ping")):
        write_task(tmp_path, me, f'''
def handler(context, event, requests_session):
    r = requests_session.post(f"http://{{event.headers['Fusionizer-Server-Address']}}:8000/{other}", data=b"x")
    return r.status_code, r.text
''')
    Cli(capsys, tmp_path / "fusionizer.yaml").ok("apply")
    began = time.monotonic()
    status, body = post(gateway_port(), "/ping", b"x")
    assert status == 508, body
    assert b"loop detected" in body
    assert time.monotonic() - began < 30


def test_a_redeploy_under_load_drops_no_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "fusionizer.yaml").write_text(discovering_plan("load"))
    write_task(tmp_path, "echo", 'def handler(context, event):\n    return "v0"\n')
    cli = Cli(capsys, tmp_path / "fusionizer.yaml")
    cli.ok("apply")
    port = gateway_port()
    results: Counter[str] = Counter()
    stop = threading.Event()
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while not stop.is_set():
            try:
                conn.request("POST", "/echo", body=b"")
                response = conn.getresponse()
                outcome = f"{response.status} {response.read().decode()}"
            except (OSError, http.client.HTTPException) as exc:
                outcome = f"error {type(exc).__name__}"
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            with lock:
                results[outcome] += 1
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        for version in (1, 2, 3):
            write_task(tmp_path, "echo", f'def handler(context, event):\n    return "v{version}"\n')
            cli.ok("apply")
            wait_for(lambda want=f"200 v{version}": results[want] > 0, f"v{version} serving")
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    failures = {k: n for k, n in results.items() if not k.startswith("200 v")}
    assert failures == {}, results
    assert sum(results.values()) > 50

