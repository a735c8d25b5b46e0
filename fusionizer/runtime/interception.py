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
from types import SimpleNamespace
from typing import Any, Callable, Dict, Generic, List, Mapping, Optional, Protocol, Tuple, TypeVar

import nuclio_sdk
import requests
import requests.adapters
import requests.compat
import requests.cookies
import requests.models
import requests.utils
import urllib3
import urllib3.connection
from requests.cookies import RequestsCookieJar
from requests.structures import CaseInsensitiveDict

from .conversion import HttpResult, has_body, strict_json_encoder
from .events import JSON_CONTENT_TYPE, build_event
from .headers import canonical_token, get_header
from .layout import HEADER_PLAN, HEADER_SERVER_ADDRESS, HEADER_SERVER_URL, HEADER_TASK
from .routing import Route, Router, ServerAddress
from .trust import ProvingConnection, ProvingHTTPSConnection, prove_server

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
NUCLIO_TARGET_HEADER = "X-Nuclio-Target"
_NO_BODY_METHODS = frozenset({"GET", "HEAD"})
_HTTP_CLIENT_BODY_METHODS = frozenset({"PATCH", "POST", "PUT"})  # http.client sends length 0
# Answers that requests' Session.send does more with than return them (redirects, cookies).
_SESSION_HEADERS = frozenset({"Location", "Set-Cookie"})
# Headers http.client computes itself unless given (then it sends the given ones as they are).
_HTTP_CLIENT_OWN = frozenset({"Content-Length", "Transfer-Encoding"})
# A str body: urllib3 2 sends it UTF-8 encoded, urllib3 1 leaves it to http.client (Latin-1).
_STR_BODY_ENCODING = "iso-8859-1" if str(getattr(urllib3, "__version__", "")).startswith("1.") else "utf-8"
T = TypeVar("T")

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
_extract_cookies: Callable[[Any, Any, Any], None] = requests.cookies.extract_cookies_to_jar
_REASONS: Dict[int, str] = dict(http.client.responses)
_ENCODINGS: Dict[str, Optional[str]] = {}


class CallLink(Protocol):
    """What interception needs from the dispatcher."""

    @property
    def router(self) -> Router: ...

    @property
    def plan(self) -> str: ...

    def call_local(self, task: str, event: Any) -> HttpResult: ...

    def proving_secret(self, server: ServerAddress) -> Optional[bytes]: ...

    def outbound(self, server: ServerAddress) -> Dict[str, str]: ...

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


def _apply_headers(out: Dict[str, str], source: Any) -> Dict[str, str]:
    """requests' merge_setting onto ``out`` (canonical names): ``source`` wins, None drops.
    _Unsupported for what the HTTP path would send otherwise, or refuse: names that are not
    tokens (a server answers 400), headers given as a list of pairs."""
    if not source:
        return out
    if not isinstance(source, Mapping):
        raise _Unsupported
    for key, value in source.items():
        name = canonical_token(key) if isinstance(key, str) else None
        if name is None:
            raise _Unsupported
        if value is None:
            out.pop(name, None)
        else:
            out[name] = _header_text(value)
    return out


def _server_headers(given: Mapping[str, Any], server: ServerAddress) -> Dict[str, str]:
    """The Fusionizer headers a call to the server carries unless ``given`` names them."""
    out: Dict[str, str] = {}
    if get_header(given, HEADER_SERVER_ADDRESS) is None:
        out[HEADER_SERVER_ADDRESS] = server.host
    if get_header(given, HEADER_SERVER_URL) is None:
        out[HEADER_SERVER_URL] = server.url
    return out


def _with_server_headers(headers: Any, server: ServerAddress, plan: str) -> Dict[str, Any]:
    out: Dict[str, Any] = dict(headers or {})
    out.update(_server_headers(out, server))
    if plan and get_header(out, HEADER_PLAN) is None:
        out[HEADER_PLAN] = plan
    return out


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
            return data.encode(_STR_BODY_ENCODING), None
        except UnicodeEncodeError:
            raise _Unsupported from None
    if isinstance(data, (dict, list, tuple)):
        try:
            encoded = _encode_params(data)
        except (TypeError, ValueError):
            raise _Unsupported from None
        return encoded.encode("ascii"), FORM_CONTENT_TYPE
    raise _Unsupported  # files, generators, bytearray: requests streams them


def _query(route: Route, params: Any) -> str:
    """The query string requests sends: the URL's, then the encoded ``params``."""
    if not params:
        return route.query
    try:
        if isinstance(params, bytes):
            params = params.decode("ascii")  # requests' to_native_string
        extra = params if isinstance(params, str) else _encode_params(params)
    except (TypeError, ValueError):
        raise _Unsupported from None
    return f"{route.query}&{extra}" if route.query and extra else route.query or extra


def _query_fields(query: str) -> Dict[str, str]:
    # Last value wins, as in the Go map Nuclio's processor builds.
    return dict(urllib.parse.parse_qsl(query, keep_blank_values=True)) if query else {}


def _encoding(content_type: str) -> Optional[str]:
    try:
        return _ENCODINGS[content_type]
    except KeyError:
        value = requests.utils.get_encoding_from_headers({"content-type": content_type})
        _ENCODINGS[content_type] = value
        return value


def _prepared_url(remote_url: str, query: str) -> str:
    """``response.url`` over HTTP: the remote URL with ``query``, as requests normalises it."""
    prepared = requests.PreparedRequest()
    prepared.prepare_url(remote_url.partition("?")[0] + (f"?{query}" if query else ""), None)
    return str(prepared.url)


def _response_headers(result: HttpResult) -> CaseInsensitiveDict[str]:
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    headers["Content-Type"] = result.content_type
    for key, value in result.headers:
        headers[key] = value
    if has_body(result.status):
        headers["Content-Length"] = str(len(result.body))
    return headers


class _OnFirstUse(Generic[T]):
    """A Response attribute made on first use and settable, as requests' plain ones are."""

    def __init__(self, make: Callable[["LocalResponse"], T]) -> None:
        self._make = make
        self._slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = "_fz_made_" + name

    def __get__(self, response: "LocalResponse", owner: type) -> T:
        try:
            value: T = response.__dict__[self._slot]
        except KeyError:
            value = response.__dict__[self._slot] = self._make(response)
        return value

    def __set__(self, response: "LocalResponse", value: T) -> None:
        response.__dict__[self._slot] = value


class LocalResponse(requests.Response):
    """The ``requests.Response`` a client would get for an in-process call over HTTP.

    The same class API; built without ``Response.__init__`` and with ``headers``, ``url``,
    ``elapsed`` and ``cookies`` made on first use: most callers read only ``status_code``
    and ``json()``, and those objects are most of the cost of a response (~2 us).
    ``request`` is None: no PreparedRequest was made (except for the answers in
    ``_SESSION_HEADERS``, which go through requests' own redirect and cookie handling).
    """

    _fz_result: HttpResult
    _fz_target: Tuple[str, str]  # (route.remote_url, query): the URL requests would send
    _fz_seconds: float

    headers = _OnFirstUse(lambda response: _response_headers(response._fz_result))
    url = _OnFirstUse(lambda response: _prepared_url(*response._fz_target))
    elapsed = _OnFirstUse(lambda response: datetime.timedelta(seconds=response._fz_seconds))
    cookies = _OnFirstUse(lambda response: RequestsCookieJar())

    def __init__(self, result: HttpResult, method: str, url: Tuple[str, str], elapsed: float) -> None:
        self._fz_result = result
        self._fz_target = url
        self._fz_seconds = elapsed
        self._content = b"" if method == "HEAD" else result.body
        self._content_consumed = True
        self._next = None
        self.raw = None
        self.history = []
        self.request = None  # type: ignore[assignment]
        self.status_code = result.status
        self.encoding = _encoding(result.content_type)
        self.reason = _REASONS.get(result.status, "")

    def needs_session(self) -> bool:
        """Whether requests' Session.send would do more with this answer than return it."""
        headers = self._fz_result.headers
        return bool(headers) and any(name in _SESSION_HEADERS for name, _ in headers)


class _RawHeaders:
    """Enough of urllib3's response for requests' cookie extraction: the header message."""

    def __init__(self, headers: Tuple[Tuple[str, str], ...]) -> None:
        message = http.client.HTTPMessage()
        for name, value in headers:
            message[name] = value
        self._original_response = SimpleNamespace(msg=message)


class InterceptingSession(requests.Session):
    """``requests.Session`` whose calls to fused tasks run in-process."""

    def __init__(self, link: CallLink, caller: str) -> None:
        super().__init__()
        self.headers = _VersionedHeaders(self.headers)
        self._fz_link = link
        self._fz_caller = caller
        self._fz_cache: Tuple[Any, int, Dict[str, str]] = (None, 0, {})
        server = link.router.server()
        secret = link.proving_secret(server) if server is not None else None
        if server is not None and secret is not None:
            self.mount(server.url + "/", _ProvingAdapter(secret))

    def _fz_session_headers(self) -> Dict[str, str]:
        """This session's headers, canonical and validated (cached while unchanged)."""
        headers = self.headers
        if not isinstance(headers, _VersionedHeaders):
            return _apply_headers({}, headers)  # replaced by another mapping: no caching
        seen, version, canonical = self._fz_cache
        if seen is headers and version == headers.version:
            return canonical
        version = headers.version
        canonical = _apply_headers({}, headers)
        self._fz_cache = (headers, version, canonical)
        return canonical

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
        if isinstance(url, bytes):
            url = url.decode("utf-8")  # requests' own first step
        route = self._fz_link.router.route(url) if isinstance(url, str) else None
        if route is not None and route.local and isinstance(method, str):
            if files is None and auth is None and cookies is None and not hooks and self._fz_plain():
                response = self._fz_local(route, method.upper(), params, data, headers, json)
                if response is not None and response.needs_session():
                    request = requests.Request(method.upper(), route.remote_url, headers, data=data or {},
                                               json=json, params=params or {})
                    send = {"timeout": timeout, "proxies": proxies, "stream": stream, "verify": verify, "cert": cert}
                    return self._fz_as_sent(response, request, allow_redirects, send)
                if response is not None:
                    return response
        if route is not None:
            url, headers = route.remote_url, _with_server_headers(headers, route.server, self._fz_link.plan)
            headers.update(self._fz_link.outbound(route.server))
        started, begin = time.time(), time.perf_counter()
        try:
            return super().request(
                method, url, params, data, headers, cookies, files, auth, timeout,
                allow_redirects, proxies, hooks, stream, verify, cert, json,
            )
        finally:
            if route is not None and route.task:
                self._fz_link.record(self._fz_caller, route.task, False, started, time.perf_counter() - begin)

    def _fz_plain(self) -> bool:
        """No session-level state that would change the request on the wire."""
        jar = self.cookies
        # CookieJar.__len__ iterates every cookie; its private dict says "empty" for free.
        no_cookies = not getattr(jar, "_cookies", jar)
        return no_cookies and self.auth is None and not self.params and not any(self.hooks.values())

    def _fz_local(
        self, route: Route, method: str, params: Any, data: Any, headers: Any, json_body: Any
    ) -> Optional[LocalResponse]:
        """The in-process answer, or None when the request cannot be reproduced exactly."""
        try:
            body, body_type = _request_body(data, json_body)
            merged = _apply_headers(dict(self._fz_session_headers()), headers)
            query = _query(route, params)
        except _Unsupported:
            return None
        if body_type is not None and "Content-Type" not in merged:
            merged["Content-Type"] = body_type
        if body is not None:
            merged["Content-Length"] = str(len(body))
        elif method not in _NO_BODY_METHODS and "Content-Length" not in merged:
            merged["Content-Length"] = "0"
        merged.setdefault("Host", route.host)
        if headers:  # the request's own Fusionizer headers win, as in _with_server_headers
            merged.update(_server_headers(headers, route.server))
        else:
            merged[HEADER_SERVER_ADDRESS], merged[HEADER_SERVER_URL] = route.server.host, route.server.url
        merged[HEADER_TASK] = route.task  # what the server sets when it routes /<task>
        event = build_event(
            method, route.path, _query_fields(query), merged, body or b"",
            merged.get("Content-Type", ""), headers_are_canonical=True,
        )
        link = self._fz_link
        started, begin = time.time(), time.perf_counter()
        result = link.call_local(route.task, event)
        elapsed = time.perf_counter() - begin
        link.record(self._fz_caller, route.task, True, started, elapsed)
        return LocalResponse(result, method, (route.remote_url, query), elapsed)

    def _fz_as_sent(
        self, response: LocalResponse, request: requests.Request, allow_redirects: bool, send: Dict[str, Any]
    ) -> requests.Response:
        """What Session.send does after its adapter answered: keep the answer's cookies,
        follow its redirect over HTTP (or offer it as ``response.next``)."""
        prepared = self.prepare_request(request)
        response.request, response.url = prepared, str(prepared.url)
        response.raw = _RawHeaders(response._fz_result.headers)
        _extract_cookies(response.cookies, prepared, response.raw)
        _extract_cookies(self.cookies, prepared, response.raw)
        settings = self.merge_environment_settings(
            response.url, send.pop("proxies") or {}, send.pop("stream"), send.pop("verify"), send.pop("cert")
        )
        send.update(settings)
        if not allow_redirects:
            response._next = next(self.resolve_redirects(response, prepared, yield_requests=True, **send), None)
            return response
        history: List[requests.Response] = [response, *self.resolve_redirects(response, prepared, **send)]
        final = history.pop()
        final.history = history
        return final


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
        headers.update(_server_headers(headers, server))
    return headers


def _platform_request(task: str, event: Any, server: Optional[ServerAddress]) -> Any:
    """A fresh Event for ``task`` from a ``call_function`` event, as it would arrive."""
    method = getattr(event, "method", None)
    if not isinstance(method, str):
        raise _Unsupported  # http.client rejects it on the HTTP path
    body, content_type = _platform_body(event)
    data = _platform_body_bytes(body)
    headers: Dict[str, str] = {}
    # In wire order, so a name sent twice in two spellings ends as the processor has it.
    for key, value in _sdk_headers(task, event, content_type, None).items():
        name = canonical_token(key) if isinstance(key, str) else None
        if name is None or name in _HTTP_CLIENT_OWN:
            raise _Unsupported  # refused, or sent as given instead of the real length
        headers[name] = _header_text(value)
    if server is not None:  # as _sdk_headers adds them, on names now canonical
        headers.setdefault(HEADER_SERVER_ADDRESS, server.host)
        headers.setdefault(HEADER_SERVER_URL, server.url)
    if body is not None or method.upper() in _HTTP_CLIENT_BODY_METHODS:
        headers["Content-Length"] = str(len(data))
    headers.setdefault("Accept-Encoding", "identity")  # http.client adds it when absent
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


def _server_connection(url: str, timeout: Any, secret: Optional[bytes]) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(url)
    https = parts.scheme == "https"
    if secret is not None:
        proving = ProvingHTTPSConnection if https else ProvingConnection
        return proving(parts.netloc, secret, timeout=timeout)
    plain = http.client.HTTPSConnection if https else http.client.HTTPConnection
    return plain(parts.netloc, timeout=timeout)


def call_server(
    server: ServerAddress, task: str, event: Any, timeout: Any, plan: str = "", link: Optional[CallLink] = None
) -> Any:
    """``call_function`` through the Fusionizer server: ``{method} {base}/<task>[path]``
    with ``Task-Name``; otherwise the sdk's exact request and response handling, except
    that the caller's event is not mutated."""
    parts = urllib.parse.urlsplit(server.url)
    connection = _server_connection(server.url, timeout, link.proving_secret(server) if link else None)
    body, content_type = _platform_body(event)
    headers = _sdk_headers(task, event, content_type, server)
    if plan:
        headers.setdefault(HEADER_PLAN, plan)
    if link is not None:
        headers.update(link.outbound(server))
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
        server = link.router.server() if service_name_override is None else None
        if service_name_override is None and link.router.is_local(function_name):
            response = self._fz_local(function_name, event, server)
            if response is not None:
                return response
        started, begin = time.time(), time.perf_counter()
        try:
            if server is None:
                return super().call_function(
                    function_name, event, node, timeout, service_name_override
                )
            return call_server(server, function_name, event, timeout, link.plan, link)
        finally:
            link.record(self._fz_caller, function_name, False, started, time.perf_counter() - begin)

    def _fz_local(self, task: str, event: Any, server: Optional[ServerAddress]) -> Any:
        """The in-process answer, or None when the request cannot be reproduced exactly."""
        try:
            callee_event = _platform_request(task, event, server)
        except _Unsupported:
            return None
        link = self._fz_link
        started, begin = time.time(), time.perf_counter()
        result = link.call_local(task, callee_event)
        link.record(self._fz_caller, task, True, started, time.perf_counter() - begin)
        return platform_response(result, callee_event.method)


class _ProvingAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter for the configured server: each new connection is proven first."""

    def __init__(self, secret: bytes) -> None:
        self._fz_secret = secret  # read by init_poolmanager, which HTTPAdapter.__init__ calls
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        secret = self._fz_secret

        class Connection(urllib3.connection.HTTPConnection):
            def connect(self) -> None:
                super().connect()
                prove_server(self.sock, f"{self.host}:{self.port}", secret)

        class Pool(urllib3.HTTPConnectionPool):
            ConnectionCls = Connection

        self.poolmanager.pool_classes_by_scheme = {**self.poolmanager.pool_classes_by_scheme, "http": Pool}
