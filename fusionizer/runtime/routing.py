"""Recognise calls that target the Fusionizer server and decide where they go.

Tasks call each other through the Fusionizer server: ``http://{addr}:8000/<task>`` (the
original contract, ``addr`` from header ``Fusionizer-Server-Address``) or
``{url}/<task>`` (``url`` from header ``Fusionizer-Server-Url``). A :class:`Router` knows
the server's address(es) and which tasks live in this function, and answers for a URL:
not the server (``None``), or a :class:`Route` saying which task it names and the URL to
use when the call must really go out (``http://{addr}:8000/...`` rewritten onto the
server's real base URL, so the port-8000 contract works whatever port the server uses).
Like the server, it routes on the first path segment and hands the callee the rest of the
path (``/<task>`` -> ``/``, ``/<task>/x`` -> ``/x``); ``/-/...`` is the server's own.

With no server configured, tasks are still told one (:data:`OFFLINE`: address
``127.0.0.1``, URL ``http://127.0.0.1:8000``), so the original contract's
``http://{addr}:8000/<task>`` keeps working for tasks fused in the same function; that
address is never contacted (:meth:`Router.reachable`): a call that would leave the function
is answered 503 naming ``serverUrl``.

Answers are cached per URL string: the interception hot path pays one dict lookup.
"""

from __future__ import annotations

import threading
import urllib.parse
from dataclasses import dataclass
from typing import Dict, FrozenSet, Optional, Tuple

# The port of the original Fusionizer contract: tasks call http://{addr}:8000/<task>.
CONTRACT_PORT = 8000
_CACHE_LIMIT = 4096


@dataclass(frozen=True)
class ServerAddress:
    """Where the Fusionizer server is: the host tasks are told, and its real base URL."""

    host: str
    url: str  # base URL without a trailing slash, e.g. http://127.0.0.1:8000


@dataclass(frozen=True)
class Route:
    """A URL that targets the Fusionizer server."""

    task: str  # first path segment: "/<task>[/rest]" names a task ("" for "/")
    local: bool  # the task lives in this function: answer in-process
    remote_url: str  # the same request on the server's real base URL
    path: str  # decoded path below the task ("/rest", or "/"): the callee's event.path
    query: str  # raw query string ("" if none)
    host: str  # the Host header of the request as sent to the server (remote_url's)
    server: ServerAddress


@dataclass(frozen=True)
class _Base:
    scheme: str
    host: str
    port: int
    prefix: str  # path prefix of the base URL, "" or "/something" without trailing slash
    server: ServerAddress

    @property
    def host_header(self) -> str:
        """The Host header http.client sends to this base: the port only if not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _default_port(self.scheme) else f"{host}:{self.port}"


# The server tasks are told about when none is configured: never contacted.
OFFLINE = ServerAddress(host="127.0.0.1", url=f"http://127.0.0.1:{CONTRACT_PORT}")


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def server_address(url: str) -> Optional[ServerAddress]:
    """Parse a server base URL (``FUSIONIZER_SERVER_URL``); None if it is unusable."""
    text = url.strip().rstrip("/")
    if not text:
        return None
    try:
        parts = urllib.parse.urlsplit(text)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    return ServerAddress(host=host, url=text)


def contract_url(host: str) -> str:
    """The base URL the original contract implies for a bare server address."""
    return f"http://{host}:{CONTRACT_PORT}"


def _base_of(server: ServerAddress) -> Optional[_Base]:
    try:
        parts = urllib.parse.urlsplit(server.url)
        port = parts.port or _default_port(parts.scheme)
    except ValueError:
        return None
    return _Base(parts.scheme, (parts.hostname or "").lower(), port, parts.path.rstrip("/"), server)


class Router:
    """Which URLs are the server, and which of the tasks they name are local."""

    def __init__(self, local_tasks: FrozenSet[str], default: Optional[ServerAddress]) -> None:
        self._local = local_tasks
        self._default = default  # the configured server, if any
        self._lock = threading.Lock()
        self._servers: Dict[str, _Base] = {}  # lower-cased host of a learned server -> base
        self._bases: Tuple[_Base, ...] = ()
        self._cache: Dict[str, Optional[Route]] = {}
        if default is not None:
            self.learn(default)

    def is_local(self, task: str) -> bool:
        return task in self._local

    def server(self) -> ServerAddress:
        """The server for calls that name only a task (``call_function``): the configured
        one, else the last one a request told us about, else :data:`OFFLINE`."""
        if self._default is not None:
            return self._default
        bases = self._bases
        return bases[-1].server if bases else OFFLINE

    @staticmethod
    def reachable(server: ServerAddress) -> bool:
        """False for :data:`OFFLINE`: there is no server to send the call to."""
        return server != OFFLINE

    def knows(self, server: ServerAddress) -> bool:
        known = self._servers.get(server.host.lower())
        return known is not None and known.server == server

    def learn(self, server: ServerAddress) -> None:
        """Remember a server a request named (headers); invalidates cached answers."""
        base = _base_of(server)
        if base is None:
            return
        with self._lock:
            servers = dict(self._servers)
            held = servers.get(server.host.lower())
            # The contract form names a host only: the configured server keeps its host,
            # else one request naming another server would reroute every other request.
            if held is None or held.server != self._default:
                servers[server.host.lower()] = base
            bases = [b for b in self._bases if b.server.url != server.url]
            bases.append(base)
            # Swap whole objects: readers on other threads never see a half-updated map.
            self._servers = servers
            self._bases = tuple(bases)
            self._cache = {}

    def route(self, url: str) -> Optional[Route]:
        """None when ``url`` does not target the Fusionizer server."""
        cache = self._cache
        try:
            return cache[url]
        except KeyError:
            pass
        answer = self._route(url)
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[url] = answer
        return answer

    def _route(self, url: str) -> Optional[Route]:
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port or _default_port(parts.scheme)
        except ValueError:
            return None
        if parts.scheme not in ("http", "https"):
            return None
        host = (parts.hostname or "").lower()
        remainder, base = self._match(parts.scheme, host, port, parts.path)
        if base is None:
            return None
        task, below = _split_task(urllib.parse.unquote(remainder))
        remote = base.server.url + remainder + (f"?{parts.query}" if parts.query else "")
        return Route(
            task=task,
            local=bool(task) and task in self._local,
            remote_url=remote,
            path=below,
            query=parts.query,
            host=base.host_header,
            server=base.server,
        )

    def _match(self, scheme: str, host: str, port: int, path: str) -> Tuple[str, Optional[_Base]]:
        """(path below the server base, the base) or ("", None) when not the server."""
        for base in self._bases:
            if (scheme, host, port) != (base.scheme, base.host, base.port):
                continue
            if not base.prefix:
                return path, base
            if path == base.prefix or path.startswith(base.prefix + "/"):
                return path[len(base.prefix):], base
        # The original contract: http://{addr}:8000/<task>, whatever port the server uses.
        if scheme == "http" and port == CONTRACT_PORT:
            learned = self._servers.get(host)
            if learned is not None:
                return path, learned
        return "", None


def _split_task(path: str) -> Tuple[str, str]:
    """``/<task>/rest`` -> (task, ``/rest``); the server routes on the first segment and
    forwards the rest as the function's path (``/`` when there is none)."""
    task, _, rest = path.lstrip("/").partition("/")
    if task == "-":
        task = ""  # the server's reserved prefix (/-/healthz, /-/status...): not a task
    return task, "/" + rest
