"""Calls that leave the function: the process-wide keep-alive pool, and requests_session's
routed calls over it (a real requests.Response, the environment read once per server); with
the namespace's secret, the server proves itself on every new connection, both call styles."""

from __future__ import annotations

import contextvars
import gzip
import http.server
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterator, List, Optional, Tuple

import nuclio_sdk
import pytest
import requests
import requests.utils

from fusionizer.runtime import session as session_module
from fusionizer.runtime import trust
from fusionizer.runtime.conversion import HttpResult
from fusionizer.runtime.interception import InterceptingPlatform
from fusionizer.runtime.pool import ConnectFailed, ConnectionPool, Origin
from fusionizer.runtime.routing import Router, ServerAddress
from fusionizer.runtime.session import InterceptingSession

SECRET = b"namespace-secret"
proving = pytest.mark.parametrize("server", [SECRET], indirect=True, ids=["proving"])


class Server:
    """A keep-alive HTTP server that records which connection served each request."""

    def __init__(self, secret: Optional[bytes] = None) -> None:
        self.requests: List[Tuple[Tuple[str, int], str, str, Dict[str, str], bytes]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body in two writes wait ~40 ms

            def do_GET(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.requests.append((self.client_address, self.command, self.path, dict(self.headers), body))
                if self.path.startswith("/close"):
                    self.close_connection = True
                if self.path == trust.PROOF_PATH:
                    self.prove()
                    return
                payload, extra = b'{"ok": true}', [("Content-Type", "application/json")]
                if self.path.startswith("/gzip"):
                    payload, extra = gzip.compress(b"zipped"), [("Content-Type", "text/plain"),
                                                               ("Content-Encoding", "gzip")]
                if self.path.startswith("/cookie"):
                    extra.append(("Set-Cookie", "k=v; Path=/"))
                self.send_response(201)
                for name, value in extra + [("X-Server", "yes"), ("Content-Length", str(len(payload)))]:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_PUT = do_GET

            def prove(self) -> None:
                challenge = self.headers.get(trust.HEADER_CHALLENGE, "")
                self.send_response(200 if secret else 404)
                if secret:
                    self.send_header(trust.HEADER_PROOF, trust.server_proof(secret, challenge))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.http.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connections(self) -> int:
        return len({r[0] for r in self.requests})

    def paths(self) -> List[str]:
        return [r[2] for r in self.requests]

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """A server; one that can prove ``SECRET`` with ``@proving``."""
    made = Server(getattr(request, "param", None))
    yield made
    made.close()


def test_one_kept_alive_connection_serves_many_calls(server: Server) -> None:
    pool = ConnectionPool()
    origin = Origin("http", "127.0.0.1", server.port)
    for index in range(5):
        response, body = pool.request(origin, "POST", f"/x{index}", b"hi", {"Content-Type": "text/plain"})
        assert (response.status, body, response.getheader("X-Server")) == (201, b'{"ok": true}', "yes")
    assert server.connections() == 1 and [r[4] for r in server.requests] == [b"hi"] * 5
    idle = pool._idle[(origin, None)]
    assert idle[0].sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    pool.clear()


def test_a_connection_the_server_closed_is_not_reused(server: Server) -> None:
    pool = ConnectionPool()
    origin = Origin("http", "127.0.0.1", server.port)
    pool.request(origin, "GET", "/close", None, {})  # the server closes after answering
    pool.request(origin, "GET", "/a", None, {})
    pool.request(origin, "GET", "/b", None, {})
    assert server.connections() == 2
    pool.clear()


def test_a_request_on_a_connection_dropped_meanwhile_is_sent_again(server: Server) -> None:
    pool = ConnectionPool()
    origin = Origin("http", "127.0.0.1", server.port)
    pool.request(origin, "GET", "/a", None, {})
    # The server went away between two calls, after the idle check: the pooled socket is dead.
    kept = pool._idle[(origin, None)][0]
    kept.sock.shutdown(socket.SHUT_RDWR)
    response, _ = pool.request(origin, "POST", "/b", b"again", {})
    assert response.status == 201 and [r[2] for r in server.requests] == ["/a", "/b"]
    pool.clear()


def test_no_server_is_a_connect_failure_and_nothing_was_sent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: refused
        with pytest.raises(ConnectFailed) as failed:
            ConnectionPool().request(Origin("http", "127.0.0.1", port), "GET", "/", None, {}, 5, 5)
    assert isinstance(failed.value.__cause__, ConnectionRefusedError)


def test_threads_share_the_pool_safely(server: Server) -> None:
    pool = ConnectionPool(idle_limit=4)
    origin = Origin("http", "127.0.0.1", server.port)

    def call(index: int) -> bytes:
        return pool.request(origin, "POST", f"/t{index}", str(index).encode(), {})[1]

    with ThreadPoolExecutor(8) as workers:
        assert list(workers.map(call, range(64))) == [b'{"ok": true}'] * 64
    assert sorted(int(r[4]) for r in server.requests) == list(range(64))
    assert server.connections() <= 8 + 64 // 2 and len(pool._idle[(origin, None)]) <= 4
    pool.clear()


class Link:
    """A dispatcher stand-in: no local tasks, one server (that must prove ``secret``)."""

    def __init__(self, url: str, secret: Optional[bytes] = None) -> None:
        self.server = ServerAddress("127.0.0.1", url)
        self.router = Router(frozenset({"here"}), self.server)
        self.plan, self.function, self.raw_events = "demo", "demo-fn", False
        self.secret = secret
        self.edges: List[Tuple[str, str, bool]] = []

    def call_local(self, task: str, event: Any) -> HttpResult:
        raise AssertionError("no local task is called here")

    def proving_secret(self, server: ServerAddress) -> Optional[bytes]:
        return self.secret if server == self.server else None

    def outbound(self, server: ServerAddress) -> Dict[str, str]:
        secret = self.proving_secret(server)
        return trust.outbound_headers(trust.caller_token(secret) if secret else None)

    def record(self, caller: str, callee: str, local: bool, started: float, duration: float) -> None:
        self.edges.append((caller, callee, local))


def _summary(response: requests.Response) -> Dict[str, Any]:
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("date", "server")}
    return {"status": response.status_code, "reason": response.reason, "headers": headers, "url": response.url,
            "content": response.content, "encoding": response.encoding, "cookies": response.cookies.get_dict(),
            "history": response.history, "request_url": response.request.url, "raw": type(response.raw).__name__}


@pytest.mark.parametrize("path", ["/away", "/gzip", "/cookie?q=1"])
def test_routed_session_calls_answer_what_requests_answers(server: Server, path: str) -> None:
    link = Link(server.url)
    routed = InterceptingSession(link, "caller")
    plain = requests.Session()
    through_pool = routed.post(f"http://127.0.0.1:8000{path}", json={"a": 1})
    direct = plain.post(f"{server.url}{path}", json={"a": 1}, headers={
        "Fusionizer-Server-Address": "127.0.0.1", "Fusionizer-Server-Url": server.url, "Fusionizer-Plan": "demo",
        trust.HEADER_HOPS: "0"})
    assert _summary(through_pool) == _summary(direct)
    assert routed.cookies.get_dict() == plain.cookies.get_dict()
    sent_routed, sent_plain = server.requests[0][3], server.requests[1][3]
    assert {k: v for k, v in sent_routed.items()} == {k: v for k, v in sent_plain.items()}
    assert link.edges == [("caller", path.split("?")[0].lstrip("/"), False)]


def test_routed_session_calls_read_the_environment_once_and_keep_the_connection(
        server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: List[str] = []
    original = requests.utils.get_environ_proxies

    def counting(url: str, no_proxy: Any = None) -> Dict[str, str]:
        reads.append(url)
        return original(url, no_proxy)

    monkeypatch.setattr(requests.utils, "get_environ_proxies", counting)
    monkeypatch.setattr(session_module, "_ENVIRONMENT", {})
    routed = InterceptingSession(Link(server.url), "caller")
    for _ in range(5):
        assert routed.post("http://127.0.0.1:8000/away", json={}).status_code == 201
    assert reads == [server.url + "/"]
    assert server.connections() == 1


def test_call_function_to_the_server_reuses_one_connection(server: Server) -> None:
    link = Link(server.url)
    platform = InterceptingPlatform(nuclio_sdk.Platform("local"), link, "caller")
    for _ in range(3):
        answer = platform.call_function("away", nuclio_sdk.Event(body={"a": 1}, method="POST"))
        assert (answer.status_code, answer.body) == (201, {"ok": True})
    assert server.connections() == 1
    assert [r[2] for r in server.requests] == ["/away"] * 3
    assert server.requests[0][3]["Task-Name"] == "away"


@proving
def test_a_proven_connection_is_proven_once_and_kept_apart(server: Server) -> None:
    pool = ConnectionPool()
    origin = Origin("http", "127.0.0.1", server.port)
    for index in range(3):
        assert pool.request(origin, "POST", f"/p{index}", b"x", {}, 5, 5, SECRET)[0].status == 201
    assert server.paths() == [trust.PROOF_PATH, "/p0", "/p1", "/p2"]
    assert server.connections() == 1
    pool.request(origin, "GET", "/plain", None, {}, 5, 5)  # no proof asked: not on the proven one
    assert server.connections() == 2 and server.paths()[-1] == "/plain"
    assert len(pool._idle[(origin, SECRET)]) == 1 and len(pool._idle[(origin, None)]) == 1
    pool.clear()


@pytest.mark.parametrize("secret", [None, b"another-secret"])
def test_a_server_that_cannot_prove_the_secret_gets_nothing(secret: Optional[bytes]) -> None:
    squatter = Server(secret)
    try:
        pool = ConnectionPool()
        origin = Origin("http", "127.0.0.1", squatter.port)
        with pytest.raises(ConnectFailed) as failed:
            pool.request(origin, "POST", "/pay", b"card", {trust.HEADER_CALLER: "token"}, 5, 5, SECRET)
        assert isinstance(failed.value.__cause__, trust.ServerNotProven)
        assert squatter.paths() == [trust.PROOF_PATH] and squatter.requests[0][4] == b""
        assert not pool._idle.get((origin, SECRET))
    finally:
        squatter.close()


def _fresh_context(hops: str) -> contextvars.Context:
    """A context serving a request that came with ``hops`` (the test's own stays at 0)."""
    context = contextvars.copy_context()
    context.run(trust.enter_request, {trust.HEADER_HOPS: hops})
    return context


@proving
def test_call_function_proves_the_server_and_carries_hops_and_token(server: Server) -> None:
    platform = InterceptingPlatform(nuclio_sdk.Platform("local"), Link(server.url, SECRET), "caller")
    event = nuclio_sdk.Event(body={"a": 1}, method="POST")
    for _ in range(2):
        answer = _fresh_context("4").run(platform.call_function, "away", event)
        assert (answer.status_code, answer.body) == (201, {"ok": True})
    assert server.paths() == [trust.PROOF_PATH, "/away", "/away"]
    sent = server.requests[1][3]
    assert sent[trust.HEADER_HOPS] == "4" and sent[trust.HEADER_CALLER] == trust.caller_token(SECRET)
    assert server.connections() == 1


@proving
@pytest.mark.parametrize("stream", [False, True])  # the pool, or requests' own urllib3 pool
def test_session_calls_prove_the_server_and_carry_hops_and_token(server: Server, stream: bool) -> None:
    routed = InterceptingSession(Link(server.url, SECRET), "caller")
    for _ in range(2):
        answer = _fresh_context("2").run(routed.post, "http://127.0.0.1:8000/away", json={}, stream=stream)
        assert (answer.status_code, answer.json()) == (201, {"ok": True})
    assert server.paths() == [trust.PROOF_PATH, "/away", "/away"]
    sent = server.requests[1][3]
    assert sent[trust.HEADER_HOPS] == "2" and sent[trust.HEADER_CALLER] == trust.caller_token(SECRET)


def test_session_calls_to_a_squatter_fail_and_send_nothing(server: Server) -> None:
    routed = InterceptingSession(Link(server.url, SECRET), "caller")
    routed.mount("http://", requests.adapters.HTTPAdapter())  # a task's own adapter does not skip the proof
    with pytest.raises(requests.exceptions.ConnectionError, match="not the Fusionizer server"):
        routed.post("http://127.0.0.1:8000/away", json={"card": 1})
    assert server.paths() == [trust.PROOF_PATH]


@proving
def test_a_proxy_is_refused_when_the_server_must_prove_itself(
        server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_module, "_ENVIRONMENT", {})
    routed = InterceptingSession(Link(server.url, SECRET), "caller")
    with pytest.raises(requests.exceptions.ConnectionError, match="NO_PROXY"):
        routed.post("http://127.0.0.1:8000/away", json={}, proxies={"http": "http://127.0.0.1:9"})
    assert server.requests == []
