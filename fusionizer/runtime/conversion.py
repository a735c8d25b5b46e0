"""Turn a handler's return value (or exception) into the HTTP response Nuclio 1.14.1 sends.

One value, :class:`HttpResult`, is produced here and consumed by both the local HTTP
processor and in-process (fused) calls, so a fused call cannot answer differently from
the same call over HTTP. The semantics are Nuclio's, not an improvement on them:

- The Python wrapper (``_nuclio_wrapper.py``, ``_encode_entrypoint_output``) converts the
  output with ``nuclio_sdk.Response.from_entrypoint_output(Encoder().encode, output)``:
  str -> 200 text/plain; ``(status, str)``; ``(status, other)`` -> JSON; dict -> JSON;
  ``nuclio_sdk.Response`` -> its fields (a dict body is ``json.dumps``-ed); bytes -> base64
  in the record, raw bytes on the wire; anything else (``None`` too) -> ``str(value)``.
- A top-level **list** is a batch to the wrapper: every element is converted and the Go
  processor answers a single (non-batched) HTTP event with the FIRST result
  (``rpc/abstract.go`` ``ProcessEvent``: ``results[0]``). An empty list has no first
  result (the Go code would index out of range); we answer 500 with a clear body.
- An exception while calling the handler or converting its output -> 500 text/plain,
  body ``Exception caught in handler - "<exc>": <traceback>``.
- The Go side (``trigger/http/trigger.go``) sets a handler header only when its JSON value
  is a string: numbers decode to float64 and booleans to bool in Go, and neither matches
  its ``case string`` / ``case int``, so they are dropped. Objects the JSON encoder cannot
  encode natively become strings (``__log__``/``__repr__``/``str``) and are sent.
  A status code of 0 leaves the default 200; an empty content type gets fasthttp's
  default ``text/plain; charset=utf-8``.
- 1xx, 204 and 304 responses carry no body and no Content-Length (fasthttp skips both),
  so the body is dropped here already: the client would never see it.
- Header values are stored as an HTTP client reads them back: UTF-8 bytes on the wire,
  decoded as Latin-1, leading blanks stripped. Names that are not HTTP tokens and values
  containing CR/LF are dropped (they would corrupt the response).
"""

from __future__ import annotations

import base64
import json
import json.encoder
import traceback
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

import nuclio_sdk
import nuclio_sdk.json_encoder

from .headers import canonical_token

DEFAULT_CONTENT_TYPE = "text/plain; charset=utf-8"  # fasthttp's, when none is set
ERROR_PREFIX = "Exception caught in handler"
EMPTY_BATCH_BODY = (
    "Handler returned an empty list: Nuclio treats a top-level list as a batch of "
    "responses and answers a single HTTP event with the first one, but there is none. "
    "Return (200, []) to send an empty JSON array."
)

# Headers that describe the transport, not the response: the HTTP server owns them.
_TRANSPORT_HEADERS = frozenset(
    {"Content-Type", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive"}
)
# Nuclio's file-streaming headers: the processor consumes them instead of sending them.
_NUCLIO_FILESTREAM_HEADERS = frozenset(
    {"X-Nuclio-Filestream-Path", "X-Nuclio-Filestream-Delete-After-Send"}
)

_ENCODER = nuclio_sdk.json_encoder.Encoder()


def strict_json_encoder(default: Callable[[Any], Any]) -> Callable[[Any], str]:
    """``json.JSONEncoder(allow_nan=False, default=default).encode``, without its per-call
    set-up: one C encoder is built once and reused. It raises ValueError on NaN/Infinity
    (and on a circular reference, or a rare false one when two threads encode the same
    object at once); the C encoder is then rebuilt, as its markers may be left dirty, and
    callers fall back to the plain path. Falls back entirely if the C accelerator is
    missing or does not write exactly what JSONEncoder writes."""
    plain = json.JSONEncoder(allow_nan=False, default=default).encode
    make = getattr(json.encoder, "c_make_encoder", None)
    escape = json.encoder.encode_basestring_ascii

    def build() -> Any:
        assert make is not None
        return make({}, default, escape, None, ": ", ", ", False, False, False)

    try:
        state = [build()]
        sample = {"a": [1, 2.5, True, None, "\u00e9"], "b": {"1": -0.0}}
        if "".join(state[0](sample, 0)) != plain(sample):
            return plain
    except Exception:  # no accelerator, or another signature: the plain path is exact
        return plain

    def encode(value: Any) -> str:
        if isinstance(value, str):
            return escape(value)  # JSONEncoder.encode's own shortcut for strings
        try:
            return "".join(state[0](value, 0))
        except BaseException:
            state[0] = build()
            raise

    return encode


# The C encoder writes byte-for-byte what the sdk's pure-Python Encoder writes for every
# value without NaN/Infinity (same separators, float/int repr, key rules, same default()),
# several times faster; on NaN/Infinity it refuses and the sdk's Encoder takes over
# (it writes them as the strings "NaN", "Infinity", "-Infinity").
_fast_encode = strict_json_encoder(_ENCODER.default)


def nuclio_json(value: Any) -> str:
    """``nuclio_sdk.json_encoder.Encoder().encode(value)``, faster."""
    try:
        return _fast_encode(value)
    except ValueError:
        text: str = _ENCODER.encode(value)  # NaN/Infinity, or re-raises (circular reference)
        return text


class HttpResult(NamedTuple):
    """What goes on the wire for one handler call: status line, headers, body.

    Immutable; a NamedTuple rather than a frozen dataclass because one is built per call
    on the in-process hot path (0.2 us instead of 0.6 us)."""

    status: int
    content_type: str
    headers: Tuple[Tuple[str, str], ...]  # canonical names, without Content-Type/-Length
    body: bytes


def has_body(status: int) -> bool:
    """Whether a response with this status carries a body (and a Content-Length)."""
    return not (100 <= status < 200 or status in (204, 304))


class OutputError(ValueError):
    """The handler's output cannot be turned into a response (e.g. a non-int status)."""


def _text_bytes(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates: Go's JSON decoder turns them into U+FFFD, so do we.
        return "".join(
            "\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text
        ).encode("utf-8")


def _header_value(value: Any) -> Optional[str]:
    """The string Nuclio's Go trigger sets for a header value, or None if it drops it."""
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, (int, float, list, tuple, dict)):
        return None  # JSON null/number/bool/array/object: matches neither Go case
    else:
        fallback = _ENCODER.default(value)
        if not isinstance(fallback, str):
            return None
        text = fallback
    return _as_read_back(text)


def _as_read_back(text: str) -> Optional[str]:
    """The value as a client parses it off the wire, or None if it cannot be sent."""
    if "\r" in text or "\n" in text:
        return None
    if not text.isascii():
        text = _text_bytes(text).decode("latin-1")
    return text.lstrip(" \t")


def _header_name(key: Any) -> Optional[str]:
    """The canonical name Go sets for a header key, None when it is not a valid name."""
    if not isinstance(key, str):
        # The JSON encoder turns these key types into strings; anything else makes it raise.
        if key is not None and not isinstance(key, (int, float)):
            raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
        key = nuclio_json(key)
    return canonical_token(key)


def _headers(raw: Any) -> Tuple[Tuple[str, str], ...]:
    if not raw:
        return ()
    out: Dict[str, str] = {}
    for key, value in raw.items():
        name = _header_name(key)
        if name is None or name in _TRANSPORT_HEADERS or name in _NUCLIO_FILESTREAM_HEADERS:
            continue
        text = _header_value(value)
        if text is None:
            continue
        out[name] = text
    return tuple(out.items())


def _status(value: Any) -> int:
    # The Go record field is an int: anything else (str, float, bool) fails to decode.
    if isinstance(value, bool) or not isinstance(value, int):
        raise OutputError(f"status code must be an int, got {value!r}")
    return value or 200


def _content_type(value: Any) -> str:
    if value is None or value == "":
        return DEFAULT_CONTENT_TYPE
    if not isinstance(value, str):
        raise OutputError(f"content type must be a str, got {value!r}")
    return value


def _from_record(record: Dict[str, Any]) -> HttpResult:
    body = record["body"]
    if record["body_encoding"] == "base64":
        data = base64.b64decode(body)
    else:
        data = _text_bytes(body)
    status = _status(record["status_code"])
    return HttpResult(
        status=status,
        content_type=_content_type(record["content_type"]),
        headers=_headers(record["headers"]),
        body=data if has_body(status) else b"",
    )


def result_from_output(output: Any) -> HttpResult:
    """Convert a handler's return value for a single HTTP event (may raise: the caller
    turns exceptions into :func:`result_from_exception`, as the wrapper does)."""
    # The two commonest outputs, without building the sdk's intermediate record; the
    # result is identical (tests compare these paths with the sdk's conversion).
    kind = type(output)
    if kind is dict:
        return HttpResult(200, "application/json", (), _text_bytes(nuclio_json(output)))
    if kind is str:
        return HttpResult(200, "text/plain", (), _text_bytes(output))
    if isinstance(output, list):
        if not output:
            return HttpResult(500, "text/plain", (), EMPTY_BATCH_BODY.encode("utf-8"))
        # Every element is converted (one failing fails the whole batch, as in the
        # wrapper); the processor answers with the first.
        records = [
            nuclio_sdk.Response.from_entrypoint_output(nuclio_json, item) for item in output
        ]
        return _from_record(records[0])
    return _from_record(nuclio_sdk.Response.from_entrypoint_output(nuclio_json, output))


def result_from_exception(exc: BaseException) -> HttpResult:
    """The wrapper's 500 for an exception; call it inside the ``except`` block so the
    traceback is the one being handled."""
    body = '{0} - "{1}": {2}'.format(ERROR_PREFIX, exc, traceback.format_exc())
    return HttpResult(500, "text/plain", (), _text_bytes(body))


def result_from_call(call: Callable[[Any], Any], event: Any, logger: Any) -> HttpResult:
    """What the wrapper answers for one event: ``call(event)`` (the handler, its output
    awaited) converted, or any exception from the call or the conversion as its 500,
    logged as the wrapper logs it."""
    try:
        return result_from_output(call(event))
    except BaseException as exc:  # the wrapper answers every exception with a 500
        result = result_from_exception(exc)
        if logger is not None:
            logger.error_with(ERROR_PREFIX, exc=str(exc), traceback=traceback.format_exc())
        return result
