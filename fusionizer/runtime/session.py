"""The ``requests_session`` handed to 3-parameter handlers (the original Fusionizer contract).

:class:`InterceptingSession` is a ``requests.Session`` whose calls to the Fusionizer server
are intercepted: ``requests_session.post(f"http://{addr}:8000/<task>", json=...)``.
``request()`` (so ``get``/``post``/``put``... too) looks at the URL BEFORE requests prepares
anything, because requests' own preparation costs 200-500 us per call on a small machine
while the whole in-process path costs about 20.

For a callee fused in this function the request is turned into a fresh Event exactly as it
would arrive over HTTP through the server (see ``interception``), and the caller gets a
real ``requests.Response`` (:class:`LocalResponse`) with exactly what the HTTP call would
have returned. Anything this module cannot reproduce exactly (files=, streamed bodies,
auth, cookies, hooks, bodies requests would reject...) is sent over HTTP instead, through
the server, where requests itself does (or refuses) it: correct first, fast when possible.

A call that leaves the function goes to the server: ``http://{addr}:8000/<task>`` is
rewritten onto the server's real base URL and the Fusionizer headers are passed on. Such
calls still go through requests (preparation, cookies, redirects, hooks: the Response is
requests' own), with two differences that change nothing a caller can see:

- the transport is :class:`PooledAdapter`, the process-wide keep-alive pool (``pool``)
  shared with ``call_function``, instead of this session's own urllib3 pool; with the
  namespace's secret (``trust``), every connection it opens to the server, pooled or
  requests' own, is proven first, and calls carry the hop count and caller token;
- the environment (proxy variables, ``REQUESTS_CA_BUNDLE``, ``.netrc``) is read once per
  server and process instead of on every call (on a small machine requests spends a few
  hundred microseconds per call there).

With no server configured (``routing.OFFLINE``) a call that would leave the function is
answered 503, naming ``serverUrl``, without any network I/O.

This module needs ``requests``; the dispatcher imports it only for functions that have a
task taking a ``requests_session``, and the fuser installs requests in exactly those.
"""

from __future__ import annotations

import datetime
import http.client
import io
import json
import os
import socket
import time
import urllib.parse
from types import SimpleNamespace
from typing import Any, Callable, Dict, Generic, List, Mapping, NamedTuple, Optional, Tuple, TypeVar

import requests
import requests.adapters
import requests.compat
import requests.cookies
import requests.exceptions
import requests.models
import requests.sessions
import requests.utils
import urllib3
import urllib3.connection
from requests.cookies import RequestsCookieJar
from requests.structures import CaseInsensitiveDict
from urllib3._collections import HTTPHeaderDict

from .conversion import HttpResult, has_body, strict_json_encoder
from .events import JSON_CONTENT_TYPE, build_event
from .headers import canonical_token, get_header
from .interception import CallLink, Unsupported, header_text, no_server_result, server_headers
from .layout import HEADER_PLAN, HEADER_SERVER_ADDRESS, HEADER_SERVER_URL, HEADER_TASK
from .pool import POOL, ConnectFailed, Origin, Timeout
from .routing import Route, ServerAddress
from .trust import Proving

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_NO_BODY_METHODS = frozenset({"GET", "HEAD"})
# Answers that requests' Session.send does more with than return them (redirects, cookies).
_SESSION_HEADERS = frozenset({"Location", "Set-Cookie"})
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


# -- in-process answers -------------------------------------------------------------------


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
    Unsupported for what the HTTP path would send otherwise, or refuse: names that are not
    tokens (a server answers 400), headers given as a list of pairs."""
    if not source:
        return out
    if not isinstance(source, Mapping):
        raise Unsupported
    for key, value in source.items():
        name = canonical_token(key) if isinstance(key, str) else None
        if name is None:
            raise Unsupported
        if value is None:
            out.pop(name, None)
        else:
            out[name] = header_text(value)
    return out


def _with_server_headers(headers: Any, server: ServerAddress, plan: str) -> Dict[str, Any]:
    out: Dict[str, Any] = dict(headers or {})
    out.update(server_headers(out, server))
    if plan and get_header(out, HEADER_PLAN) is None:
        out[HEADER_PLAN] = plan
    return out


def _request_body(data: Any, json_body: Any) -> Tuple[Optional[bytes], Optional[str]]:
    """(body bytes or None, content type requests would add) as PreparedRequest does."""
    if not data and json_body is not None:
        try:
            text = _json_dumps(json_body)
        except ValueError:
            raise Unsupported from None  # requests raises InvalidJSONError on the HTTP path
        return (text.encode("utf-8") if isinstance(text, str) else text), JSON_CONTENT_TYPE
    if not data:
        return None, None
    if isinstance(data, bytes):
        return data, None
    if isinstance(data, str):
        try:
            return data.encode(_STR_BODY_ENCODING), None
        except UnicodeEncodeError:
            raise Unsupported from None
    if isinstance(data, (dict, list, tuple)):
        try:
            encoded = _encode_params(data)
        except (TypeError, ValueError):
            raise Unsupported from None
        return encoded.encode("ascii"), FORM_CONTENT_TYPE
    raise Unsupported  # files, generators, bytearray: requests streams them


def _query(route: Route, params: Any) -> str:
    """The query string requests sends: the URL's, then the encoded ``params``."""
    if not params:
        return route.query
    try:
        if isinstance(params, bytes):
            params = params.decode("ascii")  # requests' to_native_string
        extra = params if isinstance(params, str) else _encode_params(params)
    except (TypeError, ValueError):
        raise Unsupported from None
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
        self._fz_http = self.adapters["http://"]  # requests' default, replaced by POOLED for the server

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
            if not self._fz_link.router.reachable(route.server):
                return self._fz_no_server(route, method)
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

    def _fz_no_server(self, route: Route, method: Any) -> requests.Response:
        """503 naming serverUrl, as if a server had answered: there is none to send it to."""
        link = self._fz_link
        started = time.time()
        result = no_server_result(link, route.task or route.path, route.local)
        if route.task:
            link.record(self._fz_caller, route.task, False, started, 0.0)
        return LocalResponse(result, str(method).upper(), (route.remote_url, route.query), 0.0)

    def get_adapter(self, url: str) -> requests.adapters.BaseAdapter:
        """The process-wide keep-alive pool for calls to the server, unless the task mounted
        an adapter of its own (and the server need not prove itself: that adapter would not
        ask it to); requests' choice otherwise."""
        adapter = super().get_adapter(url)
        route = self._fz_link.router.route(url)
        if route is None:
            return adapter
        proof = self._fz_link.proving_secret(route.server)
        return pooled_adapter(proof) if proof is not None or adapter is self._fz_http else adapter

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        """requests' own, with ``.netrc`` read once per server instead of per call."""
        url = request.url
        if (self.trust_env and request.auth is None and self.auth is None and isinstance(url, str)
                and self._fz_link.router.route(url) is not None and "@" not in urllib.parse.urlsplit(url).netloc):
            request.auth = _environment(url).netrc or _as_is  # what requests would look up
        return super().prepare_request(request)

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        """requests' own, with the environment read once per server instead of per call."""
        no_proxy = proxies.get("no_proxy") if proxies is not None else None
        if not self.trust_env or no_proxy is not None or self._fz_link.router.route(url) is None:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        environment = _environment(url)
        if proxies is not None:
            for key, value in environment.proxies.items():
                proxies.setdefault(key, value)
        if verify is True or verify is None:
            verify = environment.ca_bundle or verify
        merge: Callable[..., Any] = getattr(requests.sessions, "merge_setting")
        return {
            "proxies": merge(proxies, self.proxies),
            "stream": merge(stream, self.stream),
            "verify": merge(verify, self.verify),
            "cert": merge(cert, self.cert),
        }

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
        except Unsupported:
            return None
        if body_type is not None and "Content-Type" not in merged:
            merged["Content-Type"] = body_type
        if body is not None:
            merged["Content-Length"] = str(len(body))
        elif method not in _NO_BODY_METHODS and "Content-Length" not in merged:
            merged["Content-Length"] = "0"
        merged.setdefault("Host", route.host)
        if headers:  # the request's own Fusionizer headers win, as in _with_server_headers
            merged.update(server_headers(headers, route.server))
        else:
            merged[HEADER_SERVER_ADDRESS], merged[HEADER_SERVER_URL] = route.server.host, route.server.url
        merged[HEADER_TASK] = route.task  # what the server sets when it routes /<task>
        event = build_event(
            method, route.path, _query_fields(query), merged, body or b"",
            merged.get("Content-Type", ""), headers_are_canonical=True, raw=self._fz_link.raw_events,
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




# -- calls that leave the function --------------------------------------------------------

class _Environment(NamedTuple):
    """What requests reads from the environment (and ``.netrc``) for one server."""

    proxies: Dict[str, str]
    ca_bundle: Optional[str]
    netrc: Optional[Tuple[str, str]]


_ENVIRONMENT: Dict[str, _Environment] = {}  # by "scheme://netloc" of a server
_ENVIRONMENT_LIMIT = 64


def _environment(url: str) -> _Environment:
    """What requests reads from the environment for ``url``, once per server and process."""
    parts = urllib.parse.urlsplit(url)
    key = f"{parts.scheme}://{parts.netloc}"
    known = _ENVIRONMENT.get(key)
    if known is None:
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        netrc = requests.utils.get_netrc_auth(key + "/")
        known = _Environment(requests.utils.get_environ_proxies(key + "/"), bundle, netrc)
        if len(_ENVIRONMENT) >= _ENVIRONMENT_LIMIT:
            _ENVIRONMENT.clear()
        _ENVIRONMENT[key] = known
    return known


def _as_is(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """No authentication: what requests does when ``.netrc`` has nothing for the server."""
    return request


def _timeouts(timeout: Any) -> Optional[Tuple[Timeout, Timeout]]:
    """(connect, read) seconds, or None for what only HTTPAdapter understands."""
    if timeout is None or isinstance(timeout, (int, float)):
        return timeout, timeout
    if isinstance(timeout, tuple) and len(timeout) == 2:
        return timeout[0], timeout[1]
    return None


def _proving_pools(secret: bytes) -> Dict[str, Any]:
    """urllib3's connection pools, with connections whose server proves ``secret`` first."""

    class HTTP(Proving, urllib3.connection.HTTPConnection):
        proof = secret

    class HTTPS(Proving, urllib3.connection.HTTPSConnection):
        proof = secret

    class HTTPPool(urllib3.HTTPConnectionPool):
        ConnectionCls = HTTP

    class HTTPSPool(urllib3.HTTPSConnectionPool):
        ConnectionCls = HTTPS

    return {"http": HTTPPool, "https": HTTPSPool}


class PooledAdapter(requests.adapters.HTTPAdapter):
    """requests' transport for calls to the server over the process-wide keep-alive pool:
    plain HTTP without a proxy, a whole body and a whole answer. Anything else (https, a
    proxy, ``stream=True``, a streamed body, a urllib3 Timeout) goes through requests'
    own ``HTTPAdapter``. The Response is built by ``HTTPAdapter.build_response`` from a
    urllib3 response, as requests builds it.

    With ``proof`` (the namespace's secret), every connection either way is proven before
    it is used, and a proxy is refused: the proof would be made to the proxy."""

    def __init__(self, proof: Optional[bytes] = None) -> None:
        self._fz_proof = proof  # read by init_poolmanager, which HTTPAdapter.__init__ calls
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        if self._fz_proof is not None:
            self.poolmanager.pool_classes_by_scheme = _proving_pools(self._fz_proof)

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        url = request.url
        timeouts = _timeouts(timeout)
        proxy = requests.utils.select_proxy(url, proxies) if isinstance(url, str) else None
        if proxy and self._fz_proof is not None:
            raise requests.exceptions.ConnectionError(
                f"the Fusionizer server at {url} must prove itself to this function, which it "
                f"cannot do through the proxy {proxy}: exempt the server in NO_PROXY", request=request
            )
        if (
            stream
            or timeouts is None
            or not isinstance(url, str)
            or not url.startswith("http://")
            or not isinstance(request.body, (bytes, str, type(None)))
            or proxy
        ):
            return super().send(request, stream, timeout, verify, cert, proxies)
        parts = urllib.parse.urlsplit(url)
        origin = Origin("http", parts.hostname or "", parts.port or 80)
        try:
            answer, data = POOL.request(
                origin, str(request.method), request.path_url, request.body, request.headers, *timeouts,
                self._fz_proof,
            )
        except ConnectFailed as exc:
            error = requests.exceptions.ConnectTimeout if isinstance(exc.__cause__, socket.timeout) else (
                requests.exceptions.ConnectionError)
            raise error(exc.__cause__ or exc, request=request) from None
        except socket.timeout as exc:
            raise requests.exceptions.ReadTimeout(exc, request=request) from None
        except (OSError, http.client.HTTPException) as exc:
            raise requests.exceptions.ConnectionError(exc, request=request) from None
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(data),
            headers=HTTPHeaderDict(answer.msg.items()),
            status=answer.status,
            version=answer.version,
            reason=answer.reason,
            preload_content=False,
            decode_content=False,
            original_response=answer,
            request_method=request.method,
        )
        return self.build_response(request, raw)


POOLED = PooledAdapter()
_PROVING: Dict[bytes, PooledAdapter] = {}  # by secret: one per process in practice


def pooled_adapter(proof: Optional[bytes]) -> PooledAdapter:
    """The transport for calls to a server that must prove ``proof`` (None: no proof)."""
    if proof is None:
        return POOLED
    adapter = _PROVING.get(proof)
    if adapter is None:
        adapter = _PROVING.setdefault(proof, PooledAdapter(proof))
    return adapter
