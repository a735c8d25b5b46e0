"""One process-wide pool of keep-alive HTTP connections for calls that leave the function.

Calls to the Fusionizer server go through :data:`POOL`, from both call styles
(``context.platform.call_function`` always; ``requests_session`` through the transport
adapter in ``session``), from every task and every thread of the process. Opening a TCP
connection per call costs a connect (and a new handler thread in the server) on every hop;
reusing one costs nothing.

- Connections are kept per (scheme, host, port); one is lent to exactly one request at a
  time, so the lock guards only the lists of idle connections, never network I/O.
- ``TCP_NODELAY`` on every connection: Nagle's algorithm with the peer's delayed ACK adds
  ~40 ms to a keep-alive request whose headers and body leave in two writes.
- An idle connection the server closed is noticed before it is reused (its socket is
  readable: end of file), and a request that fails on a reused connection before any byte
  of the answer arrived (the server closed it at that very moment) is sent once more on a
  new connection. A fresh connection is never retried.
- At most :data:`IDLE_LIMIT` idle connections per server; a forked child starts empty
  (sharing a socket with its parent would interleave their requests).
- A request made with a ``proof`` secret goes only on a connection whose server proved it
  knows that secret right after connecting (``trust.Proving``), before any byte of
  a request was sent; proven connections are kept apart from the others and reused.

Standard library only: this runs inside every deployed function.
"""

from __future__ import annotations

import http.client
import os
import select
import socket
import threading
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple, Union

from .trust import Proving

IDLE_LIMIT = 32
Timeout = Optional[float]
Body = Union[bytes, str, None]
# Errors that mean "the server closed this kept-alive connection", not "the request failed".
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class ConnectFailed(OSError):
    """No connection could be made (the cause is the socket's own error): nothing was sent."""


class Origin(NamedTuple):
    """Where a connection goes: ``http``/``https``, host, port."""

    scheme: str
    host: str
    port: int


class _NoDelay:
    sock: Any

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


# Proving first: the proof is sent once the socket is connected and has no Nagle delay.
class _PooledHTTP(Proving, _NoDelay, http.client.HTTPConnection):
    pass


class _PooledHTTPS(Proving, _NoDelay, http.client.HTTPSConnection):
    pass


# Idle connections are kept by where they go and the secret their server proved.
_Key = Tuple[Origin, Optional[bytes]]


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """An idle connection whose socket is readable was closed (or spoke out of turn)."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):  # closed, or a descriptor beyond select's range
        return True
    return bool(readable)


class ConnectionPool:
    """Keep-alive connections shared by every thread of the process."""

    def __init__(self, idle_limit: int = IDLE_LIMIT) -> None:
        self._idle: Dict[_Key, List[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._idle_limit = idle_limit

    def request(
        self,
        origin: Origin,
        method: str,
        target: str,
        body: Body,
        headers: Mapping[str, str],
        connect_timeout: Timeout = None,
        read_timeout: Timeout = None,
        proof: Optional[bytes] = None,
    ) -> Tuple[http.client.HTTPResponse, bytes]:
        """Send one request; the response (already read: its headers, status, reason stay
        readable) and its body. With ``proof``, only on a connection whose server proved it
        knows that secret. Raises :class:`ConnectFailed` when it cannot connect or the
        server does not prove itself (nothing was sent), else OSError /
        http.client.HTTPException as http.client does."""
        key = (origin, proof)
        connection, reused = self._take(key, connect_timeout)
        try:
            return self._exchange(connection, key, method, target, body, headers, read_timeout)
        except _STALE:
            connection.close()
            if not reused:
                raise
        connection, _ = self._take(key, connect_timeout, fresh=True)
        try:
            return self._exchange(connection, key, method, target, body, headers, read_timeout)
        except BaseException:
            connection.close()
            raise

    def _exchange(
        self,
        connection: http.client.HTTPConnection,
        key: _Key,
        method: str,
        target: str,
        body: Body,
        headers: Mapping[str, str],
        read_timeout: Timeout,
    ) -> Tuple[http.client.HTTPResponse, bytes]:
        if connection.sock is None:
            try:
                connection.connect()
            except OSError as exc:
                raise ConnectFailed(str(exc)) from exc
        connection.sock.settimeout(read_timeout)
        try:
            connection.request(method, target, body=body, headers=dict(headers))
            response = connection.getresponse()
            data = response.read()
        except _STALE:
            raise
        except BaseException:
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            self._give_back(key, connection)
        return response, data

    def _take(self, key: _Key, timeout: Timeout, fresh: bool = False) -> Tuple[http.client.HTTPConnection, bool]:
        while not fresh:
            with self._lock:
                idle = self._idle.get(key)
                connection = idle.pop() if idle else None
            if connection is None:
                break
            if not _closed_by_peer(connection):
                return connection, True
            connection.close()
        origin, proof = key
        kind = _PooledHTTPS if origin.scheme == "https" else _PooledHTTP
        connection = kind(origin.host, origin.port, timeout=timeout)
        connection.proof = proof
        return connection, False

    def _give_back(self, key: _Key, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self._idle_limit:
                idle.append(connection)
                return
        connection.close()

    def clear(self) -> None:
        """Close every idle connection (tests: a forked child forgets its parent's instead,
        see :meth:`_forget_after_fork`)."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def _forget_after_fork(self) -> None:
        # The parent still uses these sockets: the child must not close or reuse them.
        self._idle = {}
        self._lock = threading.Lock()


POOL = ConnectionPool()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=POOL._forget_after_fork)
