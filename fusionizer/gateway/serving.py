"""Serving an ASGI app (the gateway, or ``serve``'s whole server) on uvicorn, hardened.

uvicorn with httptools (and uvloop where installed) is the production stack; on top of it:

- a listen backlog of :data:`BACKLOG` (the kernel caps it at ``net.core.somaxconn``), so a
  burst of clients connecting at once is queued instead of reset;
- a cap on a request's head (request line + headers; 431 past it: uvicorn has none with
  httptools) and a deadline for it (:class:`Limits.head_timeout`): a client that trickles
  its headers, or connects and sends nothing, is closed instead of holding a connection;
- ``Server: uvicorn`` and ``Date`` left out, so a function's answer passes through as it was;
- in-flight requests finish on SIGTERM or SIGINT (graceful shutdown), new ones are
  refused, and the process then returns normally (uvicorn would re-raise the signal,
  ending the process before the caller's own clean-up).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from typing import Any, Callable, Iterator, Optional, Type

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from fusionizer.gateway.app import Limits

BACKLOG = 2048
_KEEP_ALIVE = 75.0  # seconds an idle client connection stays open (callers pool them)
_GRACE = 30.0  # seconds in-flight requests get to finish on shutdown


class _HardenedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a size cap and a deadline on every request head."""

    fz_limits = Limits()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._fz_in_head = True
        self._fz_head_bytes = 0  # bytes received while in a head (bounds a head still arriving)
        self._fz_head_size = 0  # size of the head parsed so far
        self._fz_refused = False
        self._fz_timer: Optional[asyncio.TimerHandle] = None
        super().connection_made(transport)
        self._fz_arm()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._fz_disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._fz_refused:
            return
        if self._fz_in_head:
            self._fz_head_bytes += len(data)
        super().data_received(data)
        if self._fz_in_head and self._fz_head_bytes > self.fz_limits.max_head:
            self._fz_refuse(431, f"request head over {self.fz_limits.max_head} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._fz_in_head = True
        self._fz_head_size = 0
        if self._fz_timer is None:
            self._fz_arm()

    def on_url(self, url: bytes) -> None:
        self._fz_head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fz_head_size += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._fz_in_head = False
        self._fz_head_bytes = 0
        self._fz_disarm()
        if self._fz_head_size > self.fz_limits.max_head:
            self._fz_refuse(431, f"request head over {self.fz_limits.max_head} bytes")
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._fz_refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._fz_refused:
            super().on_message_complete()

    def _fz_arm(self) -> None:
        self._fz_timer = self.loop.call_later(self.fz_limits.head_timeout, self._fz_expired)

    def _fz_disarm(self) -> None:
        if self._fz_timer is not None:
            self._fz_timer.cancel()
            self._fz_timer = None

    def _fz_expired(self) -> None:
        self._fz_timer = None
        if not self._fz_in_head or self.transport.is_closing():
            return
        if self._fz_head_bytes or self._fz_head_size:
            self._fz_refuse(408, f"request head not received within {self.fz_limits.head_timeout:g}s")
        else:
            self.transport.close()  # connected and said nothing

    def _fz_refuse(self, status: int, reason: str) -> None:
        self._fz_refused = True
        self._fz_disarm()
        body = f"{reason}\n".encode()
        phrase = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, phrase, len(body), body)
        )
        self.transport.close()


def protocol_for(limits: Limits) -> Type[HttpToolsProtocol]:
    return type("HardenedProtocol", (_HardenedProtocol,), {"fz_limits": limits})


def listen(host: str, port: int) -> socket.socket:
    """A bound socket (port 0: any free port); uvicorn listens on it with :data:`BACKLOG`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class Server(uvicorn.Server):
    def __init__(
        self, config: uvicorn.Config, on_ready: Optional[Callable[[], None]], on_stop: Optional[Callable[[], None]]
    ) -> None:
        super().__init__(config)
        self._on_ready = on_ready
        self._on_stop = on_stop
        self.received: Optional[int] = None  # the signal that stopped it, if any

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self._on_ready is not None and not self.should_exit:
            self._on_ready()

    async def shutdown(self, sockets: Any = None) -> None:
        await super().shutdown(sockets)
        if self._on_stop is not None:
            self._on_stop()  # on the server's loop: e.g. close the gateway's pooled connections

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, sig: int, frame: Any) -> None:
        if self.received is not None and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: do not wait for in-flight requests
        self.received = self.received or sig
        self.should_exit = True


def server(
    app: Any, limits: Limits, on_ready: Optional[Callable[[], None]] = None, on_stop: Optional[Callable[[], None]] = None
) -> Server:
    """A uvicorn server for ``app``; run it with ``server.run(sockets=[listen(...)])``."""
    config = uvicorn.Config(
        app,
        http=protocol_for(limits),
        loop="auto",
        lifespan="off",
        access_log=False,
        proxy_headers=False,  # X-Forwarded-* from callers decide nothing here
        log_level="warning",
        backlog=BACKLOG,
        timeout_keep_alive=int(_KEEP_ALIVE),
        timeout_graceful_shutdown=int(_GRACE),
        server_header=False,
        date_header=False,
    )
    return Server(config, on_ready, on_stop)
