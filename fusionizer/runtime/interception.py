"""Intercept ``context.platform.call_function``: in-process when the callee is fused here,
else the Fusionizer server; and what both call styles share.

Two call styles reach another task, and both are intercepted:

- :class:`InterceptingPlatform` (each task's ``context.platform``, a ``nuclio_sdk.Platform``):
  ``context.platform.call_function("<task>", event)``, here;
- ``requests_session`` (the original Fusionizer contract), in ``session``: that module
  needs ``requests`` and is imported only by functions with a task that takes it.

For a callee fused in this function, the request is turned into a fresh Event exactly as
it would arrive over HTTP through the server (body bytes as the client library would
encode them, headers canonicalised, ``Task-Name`` set, JSON decoded only for
``application/json``; all metadata ``bytes`` when the function runs with
``NUCLIO_PYTHON_DECODE_EVENT_STRINGS`` disabled), the callee runs through the dispatcher,
and its output is converted by ``conversion`` (the same code the HTTP processor uses) into
what the client library would have returned, here a ``nuclio_sdk.Response`` shaped like
``Platform.call_function``'s. The caller's objects are never handed to the callee.

Anything that cannot be reproduced exactly is sent over HTTP instead, through the server.
A callee that lives in another function goes to the server over the process-wide
keep-alive pool (``pool``), carrying the hop count and, with the namespace's secret, the
caller token, on connections where the server proved it knows that secret (``trust``).
With no server configured, such a call is answered 503 naming ``serverUrl``
(:func:`no_server_result`): it has nowhere to go.

Every task-to-task call, local or remote, appends a trace edge via the link.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any, Dict, Mapping, Optional, Protocol, Tuple

import nuclio_sdk

from .conversion import HttpResult, has_body
from .events import JSON_CONTENT_TYPE, build_event
from .headers import canonical_token, get_header
from .layout import HEADER_PLAN, HEADER_SERVER_ADDRESS, HEADER_SERVER_URL, HEADER_TASK
from .pool import POOL, ConnectFailed, Origin
from .routing import Router, ServerAddress

NUCLIO_TARGET_HEADER = "X-Nuclio-Target"
_HTTP_CLIENT_BODY_METHODS = frozenset({"PATCH", "POST", "PUT"})  # http.client sends length 0
# Headers http.client computes itself unless given (then it sends the given ones as they are).
_HTTP_CLIENT_OWN = frozenset({"Content-Length", "Transfer-Encoding"})


class CallLink(Protocol):
    """What interception needs from the dispatcher."""

    @property
    def router(self) -> Router: ...

    @property
    def plan(self) -> str: ...

    @property
    def function(self) -> str: ...

    @property
    def raw_events(self) -> bool: ...

    def call_local(self, task: str, event: Any) -> HttpResult: ...

    def proving_secret(self, server: ServerAddress) -> Optional[bytes]: ...

    def outbound(self, server: ServerAddress) -> Dict[str, str]: ...

    def record(self, caller: str, callee: str, local: bool, started: float, duration: float) -> None: ...


class Unsupported(Exception):
    """This request cannot be reproduced in-process exactly: send it over HTTP."""


def no_server_result(link: CallLink, task: str, local: bool = False) -> HttpResult:
    """The answer to a call that must leave the function when no server is configured."""
    where = f"function {link.function}" if link.function else "this function"
    why = (
        f"task {task!r} is fused in {where}, but this request can only be sent over HTTP "
        f"(files=, auth=, cookies=, hooks or a streamed body)"
        if local
        else f"task {task!r} is not fused in {where}"
    )
    text = (
        f"No Fusionizer server is configured, so this call cannot leave the function: {why}. "
        f"Set spec.platform.serverUrl in the plan (it becomes the function's "
        f"FUSIONIZER_SERVER_URL), or fuse the caller and the callee in one group.\n"
    )
    return HttpResult(503, "text/plain", (), text.encode("utf-8"))


def header_text(value: Any) -> str:
    """A header value as the server would read it, or Unsupported where the client library
    would refuse it (it then raises its own error on the HTTP path)."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        raise Unsupported
    if "\r" in value or "\n" in value or value[:1].isspace():
        raise Unsupported
    if not value.isascii():
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise Unsupported from None
    return value


def server_headers(given: Mapping[Any, Any], server: ServerAddress) -> Dict[str, str]:
    """The Fusionizer headers a call to the server carries unless ``given`` names them."""
    out: Dict[str, str] = {}
    if get_header(given, HEADER_SERVER_ADDRESS) is None:
        out[HEADER_SERVER_ADDRESS] = server.host
    if get_header(given, HEADER_SERVER_URL) is None:
        out[HEADER_SERVER_URL] = server.url
    return out


def origin_of(url: str) -> Tuple[Origin, str]:
    """(scheme/host/port, path prefix) of a server base URL."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return Origin(parts.scheme, parts.hostname or "", port), parts.path.rstrip("/")


# -- context.platform.call_function style ------------------------------------------------


def _platform_body(event: Any) -> Tuple[Any, str]:
    """(body, content type) exactly as ``nuclio_sdk.Platform.call_function`` sends them."""
    if isinstance(event.body, dict):
        return json.dumps(event.body), JSON_CONTENT_TYPE
    return event.body, event.content_type or "text/plain"


def _platform_body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        try:
            return body.encode("iso-8859-1")  # http.client's encoding of a str body
        except UnicodeEncodeError:
            raise Unsupported from None
    raise Unsupported  # http.client would stream or reject it


def _sdk_headers(task: str, event: Any, content_type: str, server: Optional[ServerAddress]) -> Dict[Any, Any]:
    """The headers ``Platform.call_function`` sends for ``event`` (built on a copy: the
    event is not mutated), with ``Task-Name`` and the Fusionizer headers the server needs."""
    source = event.headers or {}
    headers = dict(source)
    headers["Content-Type"] = content_type
    headers[NUCLIO_TARGET_HEADER] = source.get(NUCLIO_TARGET_HEADER, task)
    headers.pop("Content-Length", None)
    headers[HEADER_TASK] = task
    if server is not None:
        headers.update(server_headers(headers, server))
    return headers


def _platform_request(task: str, event: Any, server: ServerAddress, raw: bool) -> Any:
    """A fresh Event for ``task`` from a ``call_function`` event, as it would arrive."""
    method = getattr(event, "method", None)
    if not isinstance(method, str):
        raise Unsupported  # http.client rejects it on the HTTP path
    body, content_type = _platform_body(event)
    data = _platform_body_bytes(body)
    headers: Dict[str, str] = {}
    # In wire order, so a name sent twice in two spellings ends as the processor has it.
    for key, value in _sdk_headers(task, event, content_type, None).items():
        name = canonical_token(key) if isinstance(key, str) else None
        if name is None or name in _HTTP_CLIENT_OWN:
            raise Unsupported  # refused, or sent as given instead of the real length
        headers[name] = header_text(value)
    headers.setdefault(HEADER_SERVER_ADDRESS, server.host)  # as _sdk_headers adds them
    headers.setdefault(HEADER_SERVER_URL, server.url)
    if body is not None or method.upper() in _HTTP_CLIENT_BODY_METHODS:
        headers["Content-Length"] = str(len(data))
    headers.setdefault("Accept-Encoding", "identity")  # http.client adds it when absent
    return build_event(
        method, _event_path(event), {}, headers, data, content_type, headers_are_canonical=True, raw=raw
    )


def _event_path(event: Any) -> str:
    path = getattr(event, "path", None)
    return path if isinstance(path, str) and path.startswith("/") else "/"


def _platform_response(status: int, headers: Dict[str, str], body: bytes) -> Any:
    """``nuclio_sdk.Response`` shaped as ``Platform.call_function`` returns it."""
    content_type = headers.get("content-type", "text/plain")
    decoded: Any = body
    if content_type == JSON_CONTENT_TYPE:
        decoded = json.loads(body)  # the sdk lets a bad JSON body raise, so do we
    return nuclio_sdk.Response(
        headers=headers, body=decoded, content_type=content_type, status_code=status
    )


def platform_response(result: HttpResult, method: str) -> Any:
    """What ``Platform.call_function`` returns for ``result`` (header names lower-cased,
    as http.client reports them)."""
    headers = {"content-type": result.content_type}
    for key, value in result.headers:
        headers[key.lower()] = value
    if has_body(result.status):
        headers["content-length"] = str(len(result.body))
    return _platform_response(result.status, headers, b"" if method == "HEAD" else result.body)


def call_server(link: CallLink, server: ServerAddress, task: str, event: Any, timeout: Any) -> Any:
    """``call_function`` through the Fusionizer server: ``{method} {base}/<task>[path]``
    with ``Task-Name``, the hop count and caller token (``link.outbound``), on a pooled
    keep-alive connection (proven, when the link has a secret for the server); otherwise
    the sdk's exact request and response handling, except that the caller's event is not
    mutated."""
    origin, prefix = origin_of(server.url)
    body, content_type = _platform_body(event)
    headers = _sdk_headers(task, event, content_type, server)
    if link.plan:
        headers.setdefault(HEADER_PLAN, link.plan)
    headers.update(link.outbound(server))
    # The server routes on /<task> and forwards the rest as the function's path, so the
    # callee sees the event's path, as with Nuclio's own call_function.
    below = _event_path(event)
    path = prefix + "/" + urllib.parse.quote(task) + (below if below != "/" else "")
    proof = link.proving_secret(server)
    try:
        response, response_body = POOL.request(origin, event.method, path, body, headers, timeout, timeout, proof)
    except ConnectFailed as exc:
        raise exc.__cause__ or exc from None  # the socket's own error, as the sdk raises it
    response_headers = {name.lower(): value for name, value in response.getheaders()}
    return _platform_response(response.status, response_headers, response_body)


class InterceptingPlatform(nuclio_sdk.Platform):  # type: ignore[misc]  # sdk is untyped
    """A task's ``context.platform``: ``call_function`` to a fused task runs in-process."""

    def __init__(self, original: Any, link: CallLink, caller: str) -> None:
        super().__init__(
            getattr(original, "kind", "local"),
            namespace=getattr(original, "namespace", "default"),
            connection_provider=getattr(original, "_connection_provider", None),
            on_control_callback=getattr(original, "_control_callback", None),
        )
        self._fz_link = link
        self._fz_caller = caller

    def call_function(
        self,
        function_name: str,
        event: Any,
        node: Any = None,
        timeout: Any = None,
        service_name_override: Any = None,
    ) -> Any:
        link = self._fz_link
        if service_name_override is None and link.router.is_local(function_name):
            response = self._fz_local(function_name, event, link.router.server())
            if response is not None:
                return response
        started, begin = time.time(), time.perf_counter()
        try:
            if service_name_override is not None:  # an explicit Nuclio service, as the sdk does
                return super().call_function(function_name, event, node, timeout, service_name_override)
            server = link.router.server()
            if not link.router.reachable(server):
                return platform_response(no_server_result(link, function_name), str(event.method))
            return call_server(link, server, function_name, event, timeout)
        finally:
            link.record(self._fz_caller, function_name, False, started, time.perf_counter() - begin)

    def _fz_local(self, task: str, event: Any, server: ServerAddress) -> Any:
        """The in-process answer, or None when the request cannot be reproduced exactly."""
        link = self._fz_link
        try:
            callee_event = _platform_request(task, event, server, link.raw_events)
        except Unsupported:
            return None
        started, begin = time.time(), time.perf_counter()
        result = link.call_local(task, callee_event)
        link.record(self._fz_caller, task, True, started, time.perf_counter() - begin)
        return platform_response(result, event.method)
