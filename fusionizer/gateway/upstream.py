"""Keep-alive HTTP/1.1 connections from the gateway to functions, pooled per endpoint.

A small asyncio client on ``httptools`` (the C parser uvicorn uses): measured on a 2-core
machine against a uvicorn app, a request costs ~20 us here, ~300 us through aiohttp and
~850 us through httpx, and the gateway's budget is 1 ms in all. It does only what the
gateway needs: one request at a time per connection, a buffered request body, the
response streamed back (``Content-Length``, chunked, or until close), and idle
connections reused. A request that fails on a reused connection before any byte of the
answer arrived (the function closed it while idle) is retried once on a new one.

Every :class:`Endpoint` counts the requests in flight to it, so a route switch can wait
for the old function to finish them (:meth:`Pool.drain`) before it is stopped.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from dataclasses import dataclass
from typing import AsyncIterator, Deque, Dict, List, Optional, Tuple

import httptools

Headers = List[Tuple[bytes, bytes]]
_HIGH_WATER = 256 * 1024  # response bytes buffered before reading from the function pauses
_IDLE_PER_ENDPOINT = 64


class UpstreamError(Exception):
    """The function could not be reached, or broke the connection mid-answer."""


@dataclass(frozen=True)
class Endpoint:
    """Where a function listens: ``http://127.0.0.1:4711`` -> ("http", "127.0.0.1", 4711)."""

    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> "Endpoint":
        """A base URL, or a bare ``host:port`` as Nuclio reports invocation URLs."""
        scheme, sep, rest = url.partition("://")
        if not sep:
            scheme, rest = "http", url
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported scheme in {url!r}")
        hostport = rest.split("/", 1)[0]
        host, _, port = hostport.rpartition(":")
        if not host or not port.isdigit():
            host, port = hostport, "443" if scheme == "https" else "80"
        return cls(scheme, host.strip("[]"), int(port))

    @property
    def authority(self) -> bytes:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}".encode()

    def __str__(self) -> str:
        return f"{self.scheme}://{self.authority.decode()}"


class _Connection(asyncio.Protocol):
    """One connection; its parser callbacks fill the response being read."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: Optional[asyncio.Transport] = None
        self._parser: Optional[httptools.HttpResponseParser] = None
        self._head: Optional[asyncio.Future[None]] = None
        self._wakeup: Optional[asyncio.Future[None]] = None
        self._chunks: Deque[bytes] = collections.deque()
        self._buffered = 0
        self._paused = False
        self._complete = False
        self._skip_body = False
        self._received_any = False
        self._error: Optional[BaseException] = None
        self.status = 0
        self.headers: Headers = []
        self.keep_alive = False
        self.closed = False

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport

    def data_received(self, data: bytes) -> None:
        self._received_any = True
        if self._parser is None:
            self._fail(UpstreamError("the function sent data without being asked"))
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"malformed response from the function: {exc}"))

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.closed = True
        if self._parser is not None and not self._complete:
            if self._head is not None and self._head.done() and not self._has_length():
                self.on_message_complete()  # a body delimited by the close of the connection
            else:
                self._fail(UpstreamError(f"the function closed the connection{f': {exc}' if exc else ''}"))

    # -- httptools callbacks ---------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        self.status = self._parser.get_status_code()
        self.keep_alive = self._parser.should_keep_alive()
        if self._head is not None and not self._head.done():
            self._head.set_result(None)
        if self._skip_body:  # an answer to HEAD: headers only, whatever Content-Length says
            self.on_message_complete()

    def on_body(self, body: bytes) -> None:
        if self._complete:
            return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._complete:
            return
        self._complete = True
        self._parser = None
        self._wake()

    # -- used by Pool ----------------------------------------------------------------------

    def send(self, head: bytes, body: bytes, skip_body: bool) -> None:
        assert self.transport is not None
        self._parser = httptools.HttpResponseParser(self)
        self._head = self._loop.create_future()
        self._chunks.clear()
        self._buffered = 0
        self._complete = False
        self._skip_body = skip_body
        self._received_any = False
        self._error = None
        self.status, self.headers, self.keep_alive = 0, [], False
        self.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.transport.write(body)

    async def read_head(self) -> None:
        assert self._head is not None
        if self._error is not None:
            raise self._error
        await self._head

    @property
    def answered(self) -> bool:
        """Whether any byte of an answer arrived (a failure after that is not retried)."""
        return self._received_any

    @property
    def reusable(self) -> bool:
        return self._complete and self.keep_alive and not self.closed and self._error is None

    async def body(self) -> AsyncIterator[bytes]:
        while True:
            while self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._paused and self._buffered <= _HIGH_WATER // 2 and self.transport is not None:
                    self._paused = False
                    self.transport.resume_reading()
                yield chunk
            if self._error is not None:
                raise self._error
            if self._complete:
                return
            self._wakeup = self._loop.create_future()
            await self._wakeup

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _has_length(self) -> bool:
        return any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self.headers)

    def _fail(self, error: BaseException) -> None:
        self._error = error
        if self._head is not None and not self._head.done():
            self._head.set_exception(error)
            self._head.exception()  # retrieved: a retried request must not log "never retrieved"
        self._wake()
        self.close()

    def _wake(self) -> None:
        waiter = self._wakeup
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


@dataclass
class _EndpointState:
    idle: Deque[_Connection]
    in_flight: int = 0
    drained: Optional[asyncio.Event] = None


class Response:
    """A function's answer: status and headers now, the body as it arrives."""

    def __init__(self, pool: "Pool", endpoint: Endpoint, connection: _Connection) -> None:
        self._pool = pool
        self._endpoint = endpoint
        self._connection = connection
        self.status = connection.status
        self.headers = connection.headers
        self._released = False

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._connection.body():
                yield chunk
        finally:
            self.release()

    def release(self) -> None:
        """Hand the connection back (reused only when its answer was read to the end)."""
        if not self._released:
            self._released = True
            self._pool._release(self._endpoint, self._connection)


class Pool:
    """Keep-alive connections per endpoint, shared by every request of the event loop."""

    def __init__(self, connect_timeout: float = 5.0) -> None:
        self._endpoints: Dict[Endpoint, _EndpointState] = {}
        self._connect_timeout = connect_timeout
        self._ssl: Optional[ssl.SSLContext] = None

    async def request(
        self, endpoint: Endpoint, method: str, target: bytes, headers: Headers, body: bytes
    ) -> Response:
        """Send one request; returns once the status and headers arrived. The caller must
        read :meth:`Response.chunks` to the end or call :meth:`Response.release`."""
        state = self._state(endpoint)
        head = _encode_head(method, target, endpoint, headers, body)
        state.in_flight += 1
        try:
            connection = await self._exchange(endpoint, state, head, body, method == "HEAD")
        except BaseException:
            self._done(endpoint, state)
            raise
        return Response(self, endpoint, connection)

    def in_flight(self, endpoint: Endpoint) -> int:
        state = self._endpoints.get(endpoint)
        return state.in_flight if state else 0

    async def drain(self, endpoint: Endpoint, timeout: float) -> bool:
        """Close the idle connections to ``endpoint`` and wait (up to ``timeout`` seconds)
        until no request to it is in flight. True when it drained in time."""
        state = self._endpoints.get(endpoint)
        if state is None:
            return True
        self._close_idle(state)
        if state.in_flight:
            state.drained = state.drained or asyncio.Event()
            try:
                await asyncio.wait_for(state.drained.wait(), timeout)
            except asyncio.TimeoutError:
                return False
        self._close_idle(state)
        if not state.in_flight:
            self._endpoints.pop(endpoint, None)
        return True

    def close(self) -> None:
        for state in self._endpoints.values():
            self._close_idle(state)
        self._endpoints.clear()

    async def _exchange(
        self, endpoint: Endpoint, state: _EndpointState, head: bytes, body: bytes, skip_body: bool
    ) -> _Connection:
        while True:
            connection, reused = self._idle(state), True
            if connection is None:
                connection, reused = await self._connect(endpoint), False
            connection.send(head, body, skip_body)
            try:
                await connection.read_head()
                return connection
            except UpstreamError:
                connection.close()
                if not reused or connection.answered:
                    raise
                # The function closed this idle connection before it saw the request: retry.
            except BaseException:
                connection.close()  # cancelled (a timeout): its answer may still come; never reuse it
                raise

    def _idle(self, state: _EndpointState) -> Optional[_Connection]:
        while state.idle:
            connection = state.idle.pop()
            if not connection.closed:
                return connection
        return None

    async def _connect(self, endpoint: Endpoint) -> _Connection:
        loop = asyncio.get_running_loop()
        context = self._ssl_context() if endpoint.scheme == "https" else None
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(loop), endpoint.host, endpoint.port, ssl=context),
                self._connect_timeout,
            )
        except (OSError, asyncio.TimeoutError) as exc:
            raise UpstreamError(f"cannot connect to {endpoint}: {exc or 'timed out'}") from None
        return protocol

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def _release(self, endpoint: Endpoint, connection: _Connection) -> None:
        state = self._endpoints.get(endpoint)
        keep = connection.reusable and state is not None and state.drained is None
        if keep and state is not None and len(state.idle) < _IDLE_PER_ENDPOINT:
            state.idle.append(connection)
        else:
            connection.close()
        if state is not None:
            self._done(endpoint, state)

    def _done(self, endpoint: Endpoint, state: _EndpointState) -> None:
        state.in_flight -= 1
        if state.in_flight == 0 and state.drained is not None:
            state.drained.set()

    def _state(self, endpoint: Endpoint) -> _EndpointState:
        state = self._endpoints.get(endpoint)
        if state is None:
            state = self._endpoints[endpoint] = _EndpointState(collections.deque())
        return state

    @staticmethod
    def _close_idle(state: _EndpointState) -> None:
        while state.idle:
            state.idle.pop().close()


def _encode_head(method: str, target: bytes, endpoint: Endpoint, headers: Headers, body: bytes) -> bytes:
    lines = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\nhost: ", endpoint.authority, b"\r\n"]
    for name, value in headers:
        lines += [name, b": ", value, b"\r\n"]
    if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        lines += [b"content-length: ", str(len(body)).encode("ascii"), b"\r\n"]
    lines.append(b"\r\n")
    return b"".join(lines)
