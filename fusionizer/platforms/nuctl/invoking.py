"""Calling a deployed function over HTTP at the addresses nuctl reports for it.

Candidates, in order (reference/nuclio.md §3, §4): the last external invocation URL (what
``nuctl invoke --via any`` uses off-cluster; on the docker platform ``0.0.0.0:PORT``,
which means this host), then the internal URLs (reachable from inside the cluster or the
docker network), then ``127.0.0.1:<httpPort>``. Only a failure to connect moves on to the
next candidate: once a request reached the function it may have run, so it is never resent.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional

import requests
import urllib3.exceptions

from fusionizer.platforms.base import FunctionRecord, InvokeRequest, InvokeResponse

_LOOPBACK_ALIASES = ("0.0.0.0", "localhost")
CONNECT_TIMEOUT = 3.0


def candidate_urls(record: FunctionRecord) -> List[str]:
    """Base URLs (``http://host:port[/prefix]``) to try, best first, without duplicates."""
    hosts: List[str] = []
    if record.external_urls:
        hosts.append(_loopback(record.external_urls[-1]))
    hosts.extend(record.internal_urls)
    if record.http_port:
        hosts.append(f"127.0.0.1:{record.http_port}")
    seen: Dict[str, None] = {}
    for host in hosts:
        if host:
            seen.setdefault("http://" + host.rstrip("/"), None)
    return list(seen)


def _loopback(address: str) -> str:
    host, sep, rest = address.partition(":")
    return f"127.0.0.1{sep}{rest}" if host in _LOOPBACK_ALIASES else address


def request_headers(task: str, headers: Mapping[str, str], task_header: str) -> Dict[str, str]:
    merged = {k: v for k, v in headers.items() if k.lower() != task_header.lower()}
    merged[task_header] = task
    return merged


class HttpInvoker:
    """One requests session per platform, so connections to a function are reused."""

    def __init__(self, read_timeout: float) -> None:
        self._session = requests.Session()
        # Invocation URLs are direct addresses (loopback, node IPs, cluster DNS): an
        # HTTP(S)_PROXY from the environment would only get in the way.
        self._session.trust_env = False
        self._read_timeout = read_timeout

    def try_urls(self, urls: List[str], request: InvokeRequest, headers: Dict[str, str]) -> Optional[InvokeResponse]:
        """The response from the first URL that accepts a connection, or None if none does."""
        path = request.path if request.path.startswith("/") else "/" + request.path
        for base in urls:
            try:
                response = self._session.request(
                    request.method,
                    base + path,
                    headers=headers,
                    data=request.body,
                    timeout=(CONNECT_TIMEOUT, self._read_timeout),
                    allow_redirects=False,
                )
            except requests.ConnectionError as exc:
                if not _never_connected(exc):
                    raise
                continue
            return InvokeResponse(response.status_code, dict(response.headers), response.content)
        return None

    def close(self) -> None:
        self._session.close()


def _never_connected(exc: requests.ConnectionError) -> bool:
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError))
