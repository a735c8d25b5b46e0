"""The gateway as an ASGI app: ``/{task}[/rest]`` is forwarded to the function serving it.

One implementation, run by the local platform as a process per namespace and mounted
in-process by ``fusionizer serve``. For each request it:

- counts the hop (``Fusionizer-Hops``, see ``fusionizer.runtime.trust``) and answers 508
  past the limit, so calls looping between functions end;
- decides trust: a request carrying a valid ``Fusionizer-Caller`` token comes from one of
  the namespace's functions; the ``Fusionizer-Server-*`` headers a request carries are
  never passed on: the gateway sets them itself (a caller cannot point a function's next
  call at its own listener);
- asks for the invocation bearer token, when one is configured, from everyone else;
- caps the body (413) and the time a client may take to send it (408); uvicorn's protocol
  (``serving``) caps the head;
- forwards with ``Task-Name`` set, over pooled keep-alive connections, and streams the
  function's status, headers and body back unchanged (chunked answers stay chunked);
- answers ``GET /-/proof`` (the server's side of the secret handshake) and, for its
  functions' platform only, ``POST /-/drain`` (wait until an old function's requests
  are done before it is stopped).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import sys
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, List, MutableMapping, Optional, Sequence, Tuple, TypeVar
from urllib.parse import quote

from fusionizer.gateway.routes import RoutingTable
from fusionizer.gateway.upstream import Endpoint, Headers, Pool, Response, UpstreamError
from fusionizer.runtime import layout, trust

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Observer = Callable[[str, int, float], None]
Refresh = Callable[[bool], None]

T = TypeVar("T")
DRAIN_PATH = "/-/drain"
_PLAN = layout.HEADER_PLAN.lower().encode()
_HOPS = trust.HEADER_HOPS.lower().encode()
_CALLER = trust.HEADER_CALLER.lower().encode()
_CHALLENGE = trust.HEADER_CHALLENGE.lower().encode()
_AUTHORIZATION = b"authorization"
_CONTENT_LENGTH = b"content-length"
# Never forwarded to a function: hop-by-hop headers, the framing (recomputed), and what the
# gateway consumes or sets itself.
_NOT_FORWARDED = frozenset({
    b"connection", b"keep-alive", b"proxy-authorization", b"proxy-authenticate", b"te", b"trailer",
    b"trailers", b"transfer-encoding", b"upgrade", b"host", _CONTENT_LENGTH, b"expect",
    _PLAN, _HOPS, _CALLER, layout.HEADER_TASK.lower().encode(),
    layout.HEADER_SERVER_ADDRESS.lower().encode(), layout.HEADER_SERVER_URL.lower().encode(),
})
_NOT_RETURNED = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade",
                           b"proxy-authenticate"})


@dataclass(frozen=True)
class Limits:
    max_body: int = 32 * 1024 * 1024  # Nuclio's own default request body limit
    max_head: int = 64 * 1024  # request line + headers, bytes
    max_headers: int = 128
    head_timeout: float = 10.0  # seconds for a client to send a request's head
    body_timeout: float = 60.0  # ... and its body
    answer_timeout: float = 300.0  # seconds for a function to start answering
    max_hops: int = 16
    drain_timeout: float = 30.0


@dataclass(frozen=True)
class Settings:
    limits: Limits = Limits()
    secret: Optional[bytes] = None  # the namespace's secret shared with its functions
    server_url: Optional[str] = None  # what functions are told (Fusionizer-Server-Url)
    invoke_token: Optional[str] = None  # bearer token asked from outside callers


@dataclass
class _Inbound:
    """What the gateway reads from a request's headers, in one pass."""

    forwarded: Headers
    plan: Optional[str] = None
    hops: Optional[bytes] = None
    caller: bytes = b""
    authorization: bytes = b""
    length: Optional[bytes] = None


class _Refused(Exception):
    def __init__(self, status: int, message: str, headers: Sequence[Tuple[bytes, bytes]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.headers = list(headers)


class Gateway:
    """The ASGI app. ``refresh(force)`` (optional) brings the table up to date before a
    lookup; ``observe(task, status, seconds)`` (optional) sees every forwarded request."""

    def __init__(
        self,
        table: RoutingTable,
        settings: Settings = Settings(),
        refresh: Optional[Refresh] = None,
        observe: Optional[Observer] = None,
    ) -> None:
        self.table = table
        self.settings = settings
        self.pool = Pool()
        self._refresh = refresh
        self._observe = observe
        self._token = trust.caller_token(settings.secret).encode() if settings.secret else None
        url = settings.server_url
        self._server_headers: Headers = [] if not url else [
            (layout.HEADER_SERVER_ADDRESS.encode(), Endpoint.parse(url).host.encode()),
            (layout.HEADER_SERVER_URL.encode(), url.rstrip("/").encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.startswith("/-/"):
            await self.operate(scope, receive, send)
            return
        task, _, rest = path[1:].partition("/")
        await self.forward(scope, receive, send, task, "/" + rest)

    # -- trust ---------------------------------------------------------------------------------

    def is_function(self, scope: Scope) -> bool:
        """Whether the request carries the caller token of this namespace's functions."""
        if self._token is None:
            return False
        caller = _header(scope, _CALLER)
        return caller is not None and hmac.compare_digest(caller, self._token)

    def _authorized(self, inbound: _Inbound) -> bool:
        token = self.settings.invoke_token
        if token is None:
            return True
        if self._token is not None and hmac.compare_digest(inbound.caller, self._token):
            return True
        return hmac.compare_digest(inbound.authorization, b"Bearer " + token.encode())

    # -- the gateway's own paths -------------------------------------------------------------------

    async def operate(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``/-/proof`` and ``/-/drain``; anything else under ``/-/`` is not found."""
        path, method = scope["path"], scope["method"]
        if path == trust.PROOF_PATH and method == "GET" and self.settings.secret is not None:
            challenge = _header(scope, _CHALLENGE)
            if challenge:
                proof = trust.server_proof(self.settings.secret, challenge.decode("latin-1"))
                await _reply(send, 200, b"", [(trust.HEADER_PROOF.encode(), proof.encode())])
                return
        if path == DRAIN_PATH and method == "POST" and self.is_function(scope):
            await self._drain(receive, send)
            return
        await _reply(send, 404, f"not found: {path}\n".encode())

    async def _drain(self, receive: Receive, send: Send) -> None:
        try:
            body = await _read_body(receive, 1024 * 1024, self.settings.limits.body_timeout, None)
            urls = json.loads(body).get("endpoints") or []
            endpoints = [Endpoint.parse(str(url)) for url in urls]
        except (_Refused, ValueError, AttributeError) as exc:
            await _reply(send, 400, f"bad drain request: {exc}\n".encode())
            return
        if self._refresh is not None:
            self._refresh(True)
        results = [
            await self.pool.drain(endpoint, self.settings.limits.drain_timeout)
            for endpoint in endpoints
            if not self.table.routes_to(endpoint)
        ]
        await _reply(send, 200, json.dumps({"drained": all(results)}).encode(), content_type=b"application/json")

    # -- forwarding ----------------------------------------------------------------------------

    async def forward(self, scope: Scope, receive: Receive, send: Send, task: str, rest: str) -> None:
        """Forward the request to the function serving ``task``, with ``rest`` as its path."""
        began = time.perf_counter()
        status = 500
        try:
            status = await self._forward(scope, receive, send, task, rest)
        except _Refused as refusal:
            status = refusal.status
            await _reply(send, refusal.status, f"{refusal}\n".encode(), refusal.headers)
        finally:
            if self._observe is not None and task:
                self._observe(task, status, time.perf_counter() - began)

    async def _forward(self, scope: Scope, receive: Receive, send: Send, task: str, rest: str) -> int:
        limits = self.settings.limits
        inbound = self._inbound(scope)
        hops = _hop_count(inbound.hops) + 1
        if hops > limits.max_hops:
            raise _Refused(508, f"loop detected: more than {limits.max_hops} hops between functions "
                                f"(header {trust.HEADER_HOPS})")
        if not self._authorized(inbound):
            raise _Refused(401, "invoking a task needs the bearer token (Authorization: Bearer ...)",
                           [(b"www-authenticate", b"Bearer")])
        if not task:
            raise _Refused(404, "name a task: /<task>")
        entry = self._route(task, inbound.plan)
        body = await _read_body(receive, limits.max_body, limits.body_timeout, inbound.length)
        headers = inbound.forwarded
        headers.append((b"task-name", task.encode()))
        headers.append((_HOPS, str(hops).encode()))
        if entry.via_gateway:
            headers.append((_PLAN, entry.plan.encode()))
        headers.extend(self._server_headers)
        if entry.via_gateway:  # the next gateway routes on the task too
            rest = "/" + task + (rest if rest != "/" else "")
        target = _target(rest, scope.get("query_string") or b"")
        try:
            response = await _within(
                self.pool.request(entry.endpoint, scope["method"], target, headers, body), limits.answer_timeout
            )
        except UpstreamError as exc:
            raise _Refused(502, f"function {entry.function} serving task '{task}' is unreachable: {exc}") from None
        except asyncio.TimeoutError:
            raise _Refused(504, f"function {entry.function} did not answer within {limits.answer_timeout:g}s") from None
        await self._relay(response, send, limits.answer_timeout)
        return response.status

    def _route(self, task: str, plan: Optional[str]) -> Any:
        if self._refresh is not None:
            self._refresh(False)
        found = self.table.lookup(task, plan)
        if found.target is not None:
            return found.target
        if found.plans:
            raise _Refused(409, f"task '{task}' is served by several plans ({', '.join(found.plans)}); "
                                f"send the {layout.HEADER_PLAN} header")
        raise _Refused(404, f"no ready function serves task '{task}'")

    def _inbound(self, scope: Scope) -> _Inbound:
        limits = self.settings.limits
        raw: List[Tuple[bytes, bytes]] = scope["headers"]
        if len(raw) > limits.max_headers:
            raise _Refused(431, f"too many headers (at most {limits.max_headers})")
        inbound = _Inbound([])
        token = self.settings.invoke_token
        for name, value in raw:
            if name not in _NOT_FORWARDED:
                if name == _AUTHORIZATION:
                    inbound.authorization = value
                    if token is not None:
                        continue  # the server's own token is not the function's business
                inbound.forwarded.append((name, value))
            elif name == _PLAN:
                inbound.plan = value.decode("latin-1")
            elif name == _HOPS:
                inbound.hops = value
            elif name == _CALLER:
                inbound.caller = value
            elif name == _CONTENT_LENGTH:
                inbound.length = value
        return inbound

    async def _relay(self, response: Response, send: Send, timeout: float) -> None:
        headers = [(name, value) for name, value in response.headers if name.lower() not in _NOT_RETURNED]
        started: List[bool] = []
        try:
            await _within(self._stream(response, headers, send, started), timeout)
        except (asyncio.TimeoutError, UpstreamError) as exc:
            response.release()
            if started:
                # The status is out: the client sees the answer cut off (the connection is
                # closed), as it would from the function itself.
                raise ConnectionAbortedError(f"answer cut off: {exc or 'timed out'}") from None
            raise _Refused(504 if isinstance(exc, asyncio.TimeoutError) else 502,
                           f"the function's answer failed: {exc or 'timed out'}") from None

    @staticmethod
    async def _stream(response: Response, headers: Headers, send: Send, started: List[bool]) -> None:
        started.append(True)
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        previous: Optional[bytes] = None
        async for chunk in response.chunks():
            if previous is not None:
                await send({"type": "http.response.body", "body": previous, "more_body": True})
            previous = chunk
        await send({"type": "http.response.body", "body": previous or b"", "more_body": False})

    def close(self) -> None:
        self.pool.close()


async def _timeout_scope(awaitable: Awaitable[T], seconds: float) -> T:
    async with asyncio.timeout(seconds):  # type: ignore[attr-defined,unused-ignore]  # 3.11+
        return await awaitable


# A timeout on every request's body, answer and relay: asyncio.timeout (3.11+) arms a timer,
# where wait_for also makes a task (measured ~15 us each on the hot path).
_within: Callable[[Awaitable[T], float], Awaitable[T]] = (
    _timeout_scope if sys.version_info >= (3, 11) else asyncio.wait_for
)


def _hop_count(value: Optional[bytes]) -> int:
    if value is None:
        return 0
    hops = trust.parse_hops(value)
    if hops is None:
        raise _Refused(400, f"bad {trust.HEADER_HOPS} header: a non-negative integer, please")
    return hops


def _target(rest: str, query: bytes) -> bytes:
    path = quote(rest, safe="/%:@!$&'()*+,;=~-._").encode("ascii")
    return path + b"?" + query if query else path


def _header(scope: Scope, wanted: bytes) -> Optional[bytes]:
    for name, value in scope["headers"]:
        if name == wanted:
            return bytes(value)
    return None


async def _read_body(receive: Receive, cap: int, timeout: float, length: Optional[bytes]) -> bytes:
    if length is not None:
        if not length.isdigit():
            raise _Refused(400, "bad Content-Length")
        if int(length) > cap:
            raise _Refused(413, f"request body over the limit of {cap} bytes", [(b"connection", b"close")])
    parts: List[bytes] = []
    size = 0
    deadline = time.monotonic() + timeout
    while True:
        try:
            message = await _within(receive(), max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            raise _Refused(408, f"request body not received within {timeout:g}s", [(b"connection", b"close")]) from None
        if message["type"] == "http.disconnect":
            raise _Refused(499, "client went away")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > cap:
                raise _Refused(413, f"request body over the limit of {cap} bytes", [(b"connection", b"close")])
            parts.append(chunk)
        if not message.get("more_body", False):
            return parts[0] if len(parts) == 1 else b"".join(parts)


async def _reply(
    send: Send, status: int, body: bytes, headers: Sequence[Tuple[bytes, bytes]] = (),
    content_type: bytes = b"text/plain; charset=utf-8",
) -> None:
    out = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    out.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})
