"""Intercept task-to-task calls: in-process when the callee is fused here, else the server.

Two call styles reach another task, and both are intercepted:

- :class:`InterceptingSession` (the ``requests_session`` handed to 3-parameter handlers,
  the original Fusionizer contract): ``requests_session.post(f"http://{addr}:8000/<task>",
  json=...)``. ``request()`` (so ``get``/``post``/``put``... too) looks at the URL BEFORE
  requests prepares anything, because requests' own preparation costs 200-500 us per call
  on a small machine while the whole in-process path costs about 20.
- :class:`InterceptingPlatform` (each task's ``context.platform``, a ``nuclio_sdk.Platform``):
  ``context.platform.call_function("<task>", event)``.

For a callee fused in this function, the request is turned into a fresh Event exactly as
it would arrive over HTTP through the server (body bytes as the client library would
encode them, headers canonicalised, ``Task-Name`` set, path below ``/<task>``, JSON
decoded only for ``application/json``), the callee runs through the
dispatcher, and its output is converted by ``conversion`` (the same code the HTTP
processor uses) into what the client library would have returned: a real
``requests.Response``, or a ``nuclio_sdk.Response`` shaped like ``Platform.call_function``'s.
The caller's objects are never handed to the callee (fresh Event, copied headers, body
re-encoded), so the callee cannot mutate them.

Anything this module cannot reproduce exactly (files=, streamed bodies, auth, cookies,
hooks, bodies the client would reject...) is sent over HTTP instead, through the server,
where the real client library does (or refuses) it: correct first, fast when possible.
A callee that lives in another function goes to the server: ``http://{addr}:8000/<task>``
is rewritten onto the server's real base URL, and the Fusionizer headers are passed on.

Every task-to-task call, local or remote, appends a trace edge via the link.
"""

from __future__ import annotations

import datetime
import http.client
import json
import time
import urllib.parse
from typing import Any, Callable, Dict, Mapping, Optional, Protocol, Tuple

import nuclio_sdk
import requests
import requests.compat
import requests.models
import requests.utils
from requests.cookies import RequestsCookieJar
from requests.structures import CaseInsensitiveDict

from .conversion import HttpResult, has_body, strict_json_encoder
from .events import JSON_CONTENT_TYPE, build_event
from .headers import canonical_key, get_header
from .layout import HEADER_SERVER_ADDRESS, HEADER_SERVER_URL, HEADER_TASK
from .routing import Route, Router, ServerAddress

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
NUCLIO_TARGET_HEADER = "X-Nuclio-Target"
_NO_BODY_METHODS = frozenset({"GET", "HEAD"})
_HTTP_CLIENT_BODY_METHODS = frozenset({"PATCH", "POST", "PUT"})  # http.client sends length 0

# requests' own helpers, so bodies are encoded byte-for-byte as requests would.
_complexjson: Any = getattr(requests.compat, "json", json)
# requests calls complexjson.dumps(obj, allow_nan=False), which builds a new encoder per
# call; with the stdlib json module a reused one writes the same bytes, faster.
_fast_dumps = strict_json_encoder(json.JSONEncoder().default) if _complexjson is json else None


def _json_dumps(value: Any) -> Any:
    """``complexjson.dumps(value, allow_nan=False)``, as requests encodes ``json=``."""
    if _fast_dumps is not None:
        try:
            return _fast_dumps(value)
        except ValueError:
            pass  # NaN, a circular reference or a false alarm: let the plain path decide
    return _complexjson.dumps(value, allow_nan=False)


_encode_params: Callable[[Any], Any] = getattr(requests.models.RequestEncodingMixin, "_encode_params")
_REASONS: Dict[int, str] = dict(http.client.responses)
_ENCODINGS: Dict[str, Optional[str]] = {}


class CallLink(Protocol):
    """What interception needs from the dispatcher."""

    @property
    def router(self) -> Router: ...

    def call_local(self, task: str, event: Any) -> HttpResult: ...

    def record(self, caller: str, callee: str, local: bool, started: float, duration: float) -> None: ...


class _Unsupported(Exception):
    """This request cannot be reproduced in-process exactly: send it over HTTP."""


# -- requests_session style --------------------------------------------------------------


def _header_text(value: Any) -> str:
    """A header value as the server would read it, or _Unsupported where requests or
    http.client would refuse it (they then raise their own error on the HTTP path)."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        raise _Unsupported
    if "\r" in value or "\n" in value or value[:1].isspace():
        raise _Unsupported
    if not value.isascii():
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise _Unsupported from None
    return value


class _VersionedHeaders(CaseInsensitiveDict):  # type: ignore[type-arg]
    """Session headers that count their changes, so their validated canonical form is
    computed once, not per call (update/clear/pop all go through these two methods)."""

    version = 0

    def __setitem__(self, key: Any, value: Any) -> None:
        self.version += 1
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        self.version += 1
        super().__delitem__(key)


def _canonical_headers(source: Mapping[str, Any]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for key, value in source.items():
        if not isinstance(key, str):
            raise _Unsupported
        if value is None:
            out.pop(canonical_key(key), None)  # requests drops None-valued headers
        else:
            out[canonical_key(key)] = _header_text(value)
    return out


def _merge_headers(session: Dict[str, str], request: Optional[Mapping[str, Any]]) -> Dict[str, str]:
    """requests' merge_setting: session headers, overridden by the request's, None drops."""
    merged = dict(session)
    if request:
        for key, value in request.items():
            if not isinstance(key, str):
                raise _Unsupported
            if value is None:
                merged.pop(canonical_key(key), None)
            else:
                merged[canonical_key(key)] = _header_text(value)
    return merged


def _request_body(data: Any, json_body: Any) -> Tuple[Optional[bytes], Optional[str]]:
    """(body bytes or None, content type requests would add) as PreparedRequest does."""
    if not data and json_body is not None:
        try:
            text = _json_dumps(json_body)
        except ValueError:
            raise _Unsupported from None  # requests raises InvalidJSONError on the HTTP path
        return (text.encode("utf-8") if isinstance(text, str) else text), JSON_CONTENT_TYPE
    if not data:
        return None, None
    if isinstance(data, bytes):
        return data, None
    if isinstance(data, str):
        try:
            return data.encode("iso-8859-1"), None  # http.client's encoding of a str body
        except UnicodeEncodeError:
            raise _Unsupported from None
    if isinstance(data, (dict, list, tuple)):
        try:
            encoded = _encode_params(data)
        except (TypeError, ValueError):
            raise _Unsupported from None
        return encoded.encode("ascii"), FORM_CONTENT_TYPE
    raise _Unsupported  # files, generators, bytearray: requests streams them


def _query_fields(query: str, params: Any) -> Dict[str, str]:
    if params:
        if isinstance(params, bytes):
            params = params.decode("utf-8")
        try:
            extra = params if isinstance(params, str) else _encode_params(params)
        except (TypeError, ValueError):
            raise _Unsupported from None
        query = f"{query}&{extra}" if query else extra
    if not query:
        return {}
    # Last value wins, as in the Go map Nuclio's processor builds.
    return dict(urllib.parse.parse_qsl(query, keep_blank_values=True))


def _encoding(content_type: str) -> Optional[str]:
    try:
        return _ENCODINGS[content_type]
    except KeyError:
        value = requests.utils.get_encoding_from_headers({"content-type": content_type})
        _ENCODINGS[content_type] = value
        return value


class LocalResponse(requests.Response):
    """The ``requests.Response`` a client would get for an in-process call over HTTP.

    The same class API; built without ``Response.__init__`` and with ``headers``,
    ``elapsed`` and ``cookies`` made on first use: most callers read only ``status_code``
    and ``json()``, and those objects are most of the cost of a response (~2 us).
    """

    def __init__(self, result: HttpResult, method: str, url: str, elapsed: float) -> None:
        self._fz_result = result
        self._fz_seconds = elapsed
        self._content = b"" if method == "HEAD" else result.body
        self._content_consumed = True
        self._next = None
        self.raw = None
        self.history = []
        self.request = None  # type: ignore[assignment]  # no PreparedRequest was made
        self.status_code = result.status
        self.url = url
        self.encoding = _encoding(result.content_type)
        self.reason = _REASONS.get(result.status, "")

    @property
    def headers(self) -> CaseInsensitiveDict[str]:
        headers: Optional[CaseInsensitiveDict[str]] = self.__dict__.get("_fz_headers")
        if headers is None:
            headers = self.__dict__["_fz_headers"] = _response_headers(self._fz_result)
        return headers

    @headers.setter
    def headers(self, value: CaseInsensitiveDict[str]) -> None:
        self.__dict__["_fz_headers"] = value

    @property
    def elapsed(self) -> datetime.timedelta:
        value: Optional[datetime.timedelta] = self.__dict__.get("_fz_elapsed")
        if value is None:
            value = self.__dict__["_fz_elapsed"] = datetime.timedelta(seconds=self._fz_seconds)
        return value

    @elapsed.setter
    def elapsed(self, value: datetime.timedelta) -> None:
        self.__dict__["_fz_elapsed"] = value

    @property
    def cookies(self) -> RequestsCookieJar:
        jar: Optional[RequestsCookieJar] = self.__dict__.get("_fz_cookies")
        if jar is None:
            jar = self.__dict__["_fz_cookies"] = RequestsCookieJar()
        return jar

    @cookies.setter
    def cookies(self, jar: RequestsCookieJar) -> None:
        self.__dict__["_fz_cookies"] = jar


def _response_headers(result: HttpResult) -> CaseInsensitiveDict[str]:
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    headers["Content-Type"] = result.content_type
    for key, value in result.headers:
        headers[key] = value
    if has_body(result.status):
        headers["Content-Length"] = str(len(result.body))
    return headers


def _with_server_headers(headers: Optional[Mapping[str, Any]], server: ServerAddress) -> Dict[str, Any]:
    out: Dict[str, Any] = dict(headers or {})
    if get_header(out, HEADER_SERVER_ADDRESS) is None:
        out[HEADER_SERVER_ADDRESS] = server.host
    if get_header(out, HEADER_SERVER_URL) is None:
        out[HEADER_SERVER_URL] = server.url
    return out


class InterceptingSession(requests.Session):
    """``requests.Session`` whose calls to fused tasks run in-process."""

    def __init__(self, link: CallLink, caller: str) -> None:
        super().__init__()
        self.headers = _VersionedHeaders(self.headers)
        self._fz_link = link
        self._fz_caller = caller
        self._fz_headers_seen: Tuple[int, int] = (0, -1)
        self._fz_headers: Dict[str, str] = {}

    def _fz_session_headers(self) -> Dict[str, str]:
        """This session's headers, canonical and validated (cached while unchanged)."""
        headers = self.headers
        if isinstance(headers, _VersionedHeaders):
            seen = (id(headers), headers.version)
            if seen == self._fz_headers_seen:
                return self._fz_headers
            self._fz_headers = _canonical_headers(headers)
            self._fz_headers_seen = seen
            return self._fz_headers
        return _canonical_headers(headers)  # replaced by a plain mapping: no caching

    def request(  # noqa: PLR0913 - requests' own signature
        self,
        method: Any,
        url: Any,
        params: Any = None,
        data: Any = None,
        headers: Any = None,
        cookies: Any = None,
        files: Any = None,
        auth: Any = None,
        timeout: Any = None,
        allow_redirects: bool = True,
        proxies: Any = None,
        hooks: Any = None,
        stream: Any = None,
        verify: Any = None,
        cert: Any = None,
        json: Any = None,
    ) -> requests.Response:
        route = self._fz_link.router.route(url) if isinstance(url, str) else None
        if route is not None and route.local and isinstance(method, str):
            if files is None and auth is None and cookies is None and not hooks and self._fz_plain():
                response = self._fz_local(route, method.upper(), url, params, data, headers, json)
                if response is not None:
                    return response
        if route is None:
            target = url
        else:
            target = route.remote_url
            headers = _with_server_headers(headers, route.server)
        started, begin = time.time(), time.perf_counter()
        try:
            return super().request(
                method, target, params, data, headers, cookies, files, auth, timeout,
                allow_redirects, proxies, hooks, stream, verify, cert, json,
            )
        finally:
            if route is not None and route.task:
                self._fz_link.record(
                    self._fz_caller, route.task, False, started, time.perf_counter() - begin
                )

    def _fz_plain(self) -> bool:
        """No session-level state that would change the request on the wire."""
        jar = self.cookies
        # CookieJar.__len__ iterates every cookie; its private dict says "empty" for free.
        no_cookies = not getattr(jar, "_cookies", jar)
        return no_cookies and self.auth is None and not self.params and not any(self.hooks.values())

    def _fz_local(
        self,
        route: Route,
        method: str,
        url: str,
        params: Any,
        data: Any,
        headers: Any,
        json_body: Any,
    ) -> Optional[requests.Response]:
        try:
            body, body_type = _request_body(data, json_body)
            merged = _merge_headers(self._fz_session_headers(), headers)
            fields = _query_fields(route.query, params)
        except _Unsupported:
            return None
        if body_type is not None and "Content-Type" not in merged:
            merged["Content-Type"] = body_type
        if body is not None:
            merged["Content-Length"] = str(len(body))
        elif method not in _NO_BODY_METHODS and "Content-Length" not in merged:
            merged["Content-Length"] = "0"
        merged.setdefault("Host", route.host)
        merged[HEADER_TASK] = route.task  # what the server sets when it routes /<task>
        event = build_event(
            method, route.path, fields, merged, body or b"", merged.get("Content-Type", ""),
            headers_are_canonical=True,
        )
        link = self._fz_link
        started, begin = time.time(), time.perf_counter()
        result = link.call_local(route.task, event)
        elapsed = time.perf_counter() - begin
        link.record(self._fz_caller, route.task, True, started, elapsed)
        return LocalResponse(result, method, url, elapsed)


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
            raise _Unsupported from None
    raise _Unsupported  # http.client would stream or reject it


def _platform_request(task: str, event: Any) -> Any:
    """A fresh Event for ``task`` from a ``call_function`` event, as it would arrive."""
    method = getattr(event, "method", None)
    if not isinstance(method, str):
        raise _Unsupported  # http.client rejects it on the HTTP path
    body, content_type = _platform_body(event)
    data = _platform_body_bytes(body)
    source = event.headers or {}
    target = source.get(NUCLIO_TARGET_HEADER, task)
    headers: Dict[str, str] = {}
    for key, value in source.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise _Unsupported
        headers[canonical_key(key)] = value
    if not isinstance(target, str):
        raise _Unsupported
    headers["Content-Type"] = content_type
    headers[NUCLIO_TARGET_HEADER] = target
    headers.pop("Content-Length", None)
    if body is not None or method.upper() in _HTTP_CLIENT_BODY_METHODS:
        headers["Content-Length"] = str(len(data))
    headers.setdefault("Accept-Encoding", "identity")  # http.client adds it when absent
    headers[HEADER_TASK] = task
    return build_event(
        method, _event_path(event), {}, headers, data, content_type, headers_are_canonical=True
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


def call_server(server: ServerAddress, task: str, event: Any, timeout: Any) -> Any:
    """``call_function`` through the Fusionizer server: ``{method} {base}/<task>[path]``
    with ``Task-Name``; otherwise the sdk's exact request and response handling, except
    that the caller's event is not mutated."""
    parts = urllib.parse.urlsplit(server.url)
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.netloc, timeout=timeout)
    body, content_type = _platform_body(event)
    source = event.headers or {}
    headers = dict(source)
    headers["Content-Type"] = content_type
    headers[NUCLIO_TARGET_HEADER] = source.get(NUCLIO_TARGET_HEADER, task)
    headers.pop("Content-Length", None)
    headers[HEADER_TASK] = task
    headers = _with_server_headers(headers, server)
    # The server routes on /<task> and forwards the rest as the function's path, so the
    # callee sees the event's path, as with Nuclio's own call_function.
    below = _event_path(event)
    path = parts.path.rstrip("/") + "/" + urllib.parse.quote(task) + (below if below != "/" else "")
    try:
        connection.request(event.method, path, body=body, headers=headers)
        response = connection.getresponse()
        response_body = response.read()
    finally:
        connection.close()
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
        router = link.router
        if service_name_override is None and router.is_local(function_name):
            try:
                callee_event = _platform_request(function_name, event)
            except _Unsupported:
                callee_event = None
            if callee_event is not None:
                started, begin = time.time(), time.perf_counter()
                result = link.call_local(function_name, callee_event)
                link.record(self._fz_caller, function_name, True, started, time.perf_counter() - begin)
                return platform_response(result, callee_event.method)
        server = router.server() if service_name_override is None else None
        started, begin = time.time(), time.perf_counter()
        try:
            if server is None:
                return super().call_function(
                    function_name, event, node, timeout, service_name_override
                )
            return call_server(server, function_name, event, timeout)
        finally:
            link.record(self._fz_caller, function_name, False, started, time.perf_counter() - begin)
