"""The gateway over real sockets: pass-through, hops, header trust, caps, timeouts, auth."""

from __future__ import annotations

import http.client
import json
import socket
import time
from typing import Dict, Optional, Tuple

from fusionizer.gateway.app import Limits
from fusionizer.gateway.routes import RouteEntry
from fusionizer.gateway.upstream import Endpoint
from fusionizer.runtime import trust
from fusionizer.runtime.pool import ConnectionPool, Origin

from tests.gateway.conftest import SECRET, SERVER_URL, Stack, make_stack, raw_exchange


def call(port: int, method: str, path: str, body: Optional[bytes] = None,
         headers: Optional[Dict[str, str]] = None) -> Tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.msg, response.read()
    finally:
        conn.close()


def test_status_headers_and_body_pass_through(stack: Stack) -> None:
    status, headers, body = call(stack.gateway.port, "POST", "/echo/deeper/path?x=1&y=2", b'{"a": 1}',
                                 {"Content-Type": "application/json", "X-Caller": "me"})
    assert status == 203
    assert headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert headers["X-Custom"] == "Value"
    seen = json.loads(body)
    assert (seen["method"], seen["path"], seen["query"], seen["body"]) == ("POST", "/deeper/path", "x=1&y=2", '{"a": 1}')
    got = stack.headers_seen(seen)
    assert got["task-name"] == ["echo"]
    assert got["x-caller"] == ["me"]
    assert got["content-type"] == ["application/json"]
    assert got["fusionizer-hops"] == ["1"]


def test_chunked_answers_stay_chunked_and_complete(stack: Stack) -> None:
    reply = raw_exchange(stack.gateway.port, b"GET /echo/chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 201")
    assert b"transfer-encoding: chunked" in head.lower()
    status, _, body = call(stack.gateway.port, "GET", "/echo/chunked")
    assert (status, body) == (201, b"one,two,three")


def test_chunked_request_bodies_reach_the_function(stack: Stack) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", stack.gateway.port, timeout=10)
    conn.request("POST", "/echo", body=iter([b"ab", b"cd"]), encode_chunked=True,
                 headers={"Transfer-Encoding": "chunked"})
    response = conn.getresponse()
    seen = json.loads(response.read())
    conn.close()
    assert seen["body"] == "abcd"
    assert "transfer-encoding" not in stack.headers_seen(seen)


def test_head_and_204_answers(stack: Stack) -> None:
    status, headers, body = call(stack.gateway.port, "HEAD", "/echo")
    assert (status, body) == (203, b"")
    assert int(headers["Content-Length"]) > 0
    assert call(stack.gateway.port, "DELETE", "/echo/empty")[0] == 204
    # The connection pool survives answers without bodies.
    assert call(stack.gateway.port, "GET", "/echo")[0] == 203


def test_keep_alive_connections_to_the_function_are_reused(stack: Stack) -> None:
    ports = set()
    for _ in range(5):
        seen = json.loads(call(stack.gateway.port, "GET", "/echo")[2])
        ports.add(seen["path"])
    endpoint = stack.table.entries()[0].endpoint
    assert stack.app.pool.in_flight(endpoint) == 0
    assert len(stack.app.pool._endpoints[endpoint].idle) == 1


def test_hop_limit_answers_508(stack: Stack) -> None:
    limit = Limits().max_hops
    status, _, body = call(stack.gateway.port, "POST", "/echo", b"", {trust.HEADER_HOPS: str(limit)})
    assert status == 508
    assert b"loop detected" in body
    status, _, body = call(stack.gateway.port, "POST", "/echo", b"", {trust.HEADER_HOPS: str(limit - 1)})
    assert status == 203
    assert stack.headers_seen(json.loads(body))["fusionizer-hops"] == [str(limit)]
    assert call(stack.gateway.port, "POST", "/echo", b"", {trust.HEADER_HOPS: "-3"})[0] == 400


def test_server_headers_from_outside_are_replaced(stack: Stack) -> None:
    status, _, body = call(stack.gateway.port, "POST", "/echo", b"", {
        "Fusionizer-Server-Url": "http://evil.invalid:9999", "Fusionizer-Server-Address": "evil.invalid",
        "Task-Name": "other", "Fusionizer-Plan": "demo", trust.HEADER_CALLER: "forged",
    })
    got = stack.headers_seen(json.loads(body))
    assert got["fusionizer-server-url"] == [SERVER_URL]
    assert got["fusionizer-server-address"] == ["gateway.invalid"]
    assert got["task-name"] == ["echo"]
    assert "fusionizer-plan" not in got and "fusionizer-caller" not in got


def test_body_over_the_cap_is_413_before_it_is_read(stack: Stack) -> None:
    reply = raw_exchange(stack.gateway.port,
                         b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4294967296\r\n\r\n" + b"x" * 100)
    assert reply.startswith(b"HTTP/1.1 413")
    conn = http.client.HTTPConnection("127.0.0.1", stack.gateway.port, timeout=10)
    conn.request("POST", "/echo", body=iter([b"x" * 600, b"y" * 600]), encode_chunked=True)
    assert conn.getresponse().status == 413
    conn.close()


def test_oversized_heads_get_431(stack: Stack) -> None:
    reply = raw_exchange(stack.gateway.port, b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 431")
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
    reply = raw_exchange(stack.gateway.port, b"GET /echo HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert reply.startswith(b"HTTP/1.1 431")


def test_slow_clients_are_cut_off(stack: Stack) -> None:
    began = time.monotonic()
    reply = raw_exchange(stack.gateway.port, b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Slow: ", timeout=10)
    assert reply.startswith(b"HTTP/1.1 408")
    assert time.monotonic() - began < 5
    reply = raw_exchange(stack.gateway.port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
                         timeout=10)
    assert reply.startswith(b"HTTP/1.1 408")
    with socket.create_connection(("127.0.0.1", stack.gateway.port), timeout=10) as silent:
        assert silent.recv(10) == b""  # said nothing: closed after the head timeout


def test_unknown_ambiguous_and_unreachable_tasks(stack: Stack) -> None:
    assert call(stack.gateway.port, "POST", "/nothing")[0] == 404
    assert call(stack.gateway.port, "POST", "/")[0] == 404
    entry = stack.table.entries()[0]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead = Endpoint("http", "127.0.0.1", closed.getsockname()[1])
    closed.close()
    stack.table.replace([entry, RouteEntry("echo", "other", "other-echo", entry.endpoint),
                         RouteEntry("gone", "demo", "demo-gone", dead)])
    assert call(stack.gateway.port, "POST", "/echo")[0] == 409
    assert call(stack.gateway.port, "POST", "/echo", b"", {"Fusionizer-Plan": "other"})[0] == 203
    status, _, body = call(stack.gateway.port, "POST", "/gone")
    assert status == 502 and b"demo-gone" in body


def test_proof_of_the_secret() -> None:
    made = make_stack()
    try:
        status, headers, _ = call(made.gateway.port, "GET", trust.PROOF_PATH, None, {trust.HEADER_CHALLENGE: "abc"})
        assert status == 200
        assert headers[trust.HEADER_PROOF] == trust.server_proof(SECRET, "abc")
        # and the runtime's pool accepts it
        pool = ConnectionPool()
        origin = Origin("http", "127.0.0.1", made.gateway.port)
        assert pool.request(origin, "POST", "/echo", b"hi", {}, 5, 5, SECRET)[0].status == 203
        pool.clear()
    finally:
        made.gateway.stop()
        made.upstream.stop()


def test_bearer_token_for_outside_callers_not_for_functions() -> None:
    made = make_stack(invoke_token="s3cret")
    try:
        port = made.gateway.port
        status, headers, _ = call(port, "POST", "/echo")
        assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
        assert call(port, "POST", "/echo", b"", {"Authorization": "Bearer wrong"})[0] == 401
        status, _, body = call(port, "POST", "/echo", b"", {"Authorization": "Bearer s3cret"})
        assert status == 203
        assert "authorization" not in made.headers_seen(json.loads(body))  # the server's token stays here
        token = trust.caller_token(SECRET)
        assert call(port, "POST", "/echo", b"", {trust.HEADER_CALLER: token})[0] == 203
    finally:
        made.gateway.stop()
        made.upstream.stop()


def test_a_function_that_does_not_answer_gets_504_and_its_connection_is_dropped() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    made = make_stack(Limits(answer_timeout=0.5))
    try:
        endpoint = Endpoint("http", "127.0.0.1", silent.getsockname()[1])
        made.table.replace([RouteEntry("mute", "demo", "demo-mute", endpoint)])
        status, _, body = call(made.gateway.port, "POST", "/mute", b"x")
        assert status == 504 and b"demo-mute" in body
        accepted, _ = silent.accept()
        with accepted:
            accepted.settimeout(5)
            assert accepted.recv(65536).startswith(b"POST / HTTP/1.1")
            assert accepted.recv(65536) == b""  # the gateway closed it: its answer would be stale
        assert made.app.pool.in_flight(endpoint) == 0
    finally:
        silent.close()
        made.gateway.stop()
        made.upstream.stop()
