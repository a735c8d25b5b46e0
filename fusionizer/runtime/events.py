"""Build the ``nuclio_sdk.Event`` a Python handler receives for one HTTP request.

This is the one place that decides what a handler sees, used both by the local HTTP
processor and by in-process (fused) calls, so the two cannot drift apart. It reproduces
what Nuclio 1.14.1's Go processor encodes (``rpc/encoder/encode_msgpack.go``,
``trigger/http/event.go``) and what the Python wrapper decodes (``nuclio_sdk/event.py``):

- headers: a dict with Go-canonical keys (``headers.canonical_key``), string values;
- ``content_type``: the ``Content-Type`` request header, verbatim ("" if absent);
- ``body``: ``bytes``, JSON-decoded into dict/list only when ``content_type`` is exactly
  ``application/json``; if that fails it stays bytes and a warning goes to stderr,
  worded as the sdk words it;
- ``fields``: the query arguments (last value wins, as in the Go map);
- ``trigger``: ``TriggerInfo("http", "default-http")``; ``id``: a UUID string;
- ``timestamp``: naive UTC ``datetime`` with whole seconds (the processor sends Unix seconds);
- ``path``: the URL path; ``url``: "" (Nuclio's HTTP event does not override ``GetURL``);
- ``size``: the body length; shard/num_shards/version 0, type/type_version "".

With ``NUCLIO_PYTHON_DECODE_EVENT_STRINGS`` set to ``no``/``false``/``disable``/``disabled``
the wrapper reads the event's msgpack raw (``raw=True`` here): every string of the event,
header names and values, ``fields``, ``path``, ``method``, ``content_type``, ``id``,
``url``, ``type``, the trigger's kind and name, is ``bytes``; JSON is decoded only for
``content_type == b"application/json"``. Header values are the bytes that were on the wire
(Latin-1, as the HTTP server decoded them), everything else UTF-8.
"""

from __future__ import annotations

import datetime
import itertools
import json
import os
import random
import sys
import time
import uuid
from typing import Any, Dict, Mapping, Tuple

import nuclio_sdk

from .headers import canonical_key

JSON_CONTENT_TYPE = "application/json"
TRIGGER_KIND = "http"
TRIGGER_NAME = "default-http"
ENV_DECODE_EVENT_STRINGS = "NUCLIO_PYTHON_DECODE_EVENT_STRINGS"
# The values for which Nuclio starts the wrapper without --decode-event-strings.
_DECODING_OFF = frozenset({"no", "false", "disable", "disabled"})


def decodes_event_strings(environ: Mapping[str, str]) -> bool:
    """Whether events reach handlers with ``str`` metadata (Nuclio's default) rather than
    ``bytes``, as the processor decides it from the function's environment."""
    return environ.get(ENV_DECODE_EVENT_STRINGS, "").strip().lower() not in _DECODING_OFF

# One datetime per second is enough (the processor sends whole seconds); datetimes are
# immutable, so sharing the cached one between events is safe and saves ~1 us per event.
_clock: Tuple[int, datetime.datetime] = (-1, datetime.datetime(1970, 1, 1))


def _timestamp() -> datetime.datetime:
    global _clock
    now = int(time.time())
    cached = _clock
    if cached[0] == now:
        return cached[1]
    # fromtimestamp(tz=utc) instead of utcfromtimestamp: same value, no 3.12 deprecation.
    value = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).replace(tzinfo=None)
    _clock = (now, value)
    return value


def _new_id_prefix() -> str:
    return str(uuid.uuid4())[:24]  # "xxxxxxxx-xxxx-4xxx-yxxx-": random, version-4 bits set


# Event ids: a random version-4 UUID per process whose last 48 bits count up. Ids must be
# unique, not unpredictable, and uuid4() (os.urandom + formatting) costs ~2 us per call on
# every in-process call's path; this costs ~0.2 us.
_id_prefix = _new_id_prefix()
_id_counter = itertools.count(random.getrandbits(40))


def _reset_ids_after_fork() -> None:
    global _id_prefix
    _id_prefix = _new_id_prefix()  # a forked child must not repeat its parent's ids


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_ids_after_fork)


def _event_id() -> str:
    return f"{_id_prefix}{next(_id_counter) & 0xFFFFFFFFFFFF:012x}"


def decode_body(body: bytes, content_type: str) -> Any:
    """The sdk's body rule: JSON-decode only for exactly ``application/json``."""
    if content_type != JSON_CONTENT_TYPE:
        return body
    return _json_body(body)


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except Exception as exc:  # the sdk catches everything here, so do we
        sys.stderr.write("Failed deserializing json body, error message: {0}\n".format(str(exc)))
        return body


def build_event(
    method: str,
    path: str,
    fields: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    content_type: str,
    *,
    headers_are_canonical: bool = False,
    raw: bool = False,
) -> Any:
    """A fresh ``nuclio_sdk.Event`` for one HTTP request (``raw``: with ``bytes`` strings).

    ``headers`` is copied with canonical keys, so the handler may mutate its event without
    touching anything the caller holds. With ``headers_are_canonical`` the caller promises
    a fresh dict with canonical keys that nobody else holds: the event takes it as is.
    """
    if raw:
        return _raw_event(method, path, fields, headers, body, content_type)
    if headers_are_canonical:
        event_headers = headers
    else:
        event_headers = {canonical_key(key): value for key, value in headers.items()}
    return nuclio_sdk.Event(
        body=decode_body(body, content_type),
        content_type=content_type,
        trigger=nuclio_sdk.TriggerInfo(TRIGGER_KIND, TRIGGER_NAME),
        fields=dict(fields) if fields else None,
        headers=event_headers,
        _id=_event_id(),
        method=method,
        path=path,
        size=len(body),
        timestamp=_timestamp(),
        url="",
        shard_id=0,
        num_shards=0,
        _type="",
        type_version="",
        version=0,
    )


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _raw_event(
    method: str, path: str, fields: Mapping[str, str], headers: Mapping[str, str], body: bytes, content_type: str
) -> Any:
    raw_headers: Dict[bytes, bytes] = {
        _utf8(canonical_key(key)): value.encode("latin-1") for key, value in headers.items()
    }
    raw_type = content_type.encode("latin-1")
    return nuclio_sdk.Event(
        body=_json_body(body) if raw_type == b"application/json" else body,
        content_type=raw_type,
        trigger=nuclio_sdk.TriggerInfo(TRIGGER_KIND.encode(), TRIGGER_NAME.encode()),
        fields={_utf8(key): _utf8(value) for key, value in fields.items()} if fields else None,
        headers=raw_headers,
        _id=_event_id().encode("ascii"),
        method=_utf8(method),
        path=_utf8(path),
        size=len(body),
        timestamp=_timestamp(),
        url=b"",
        shard_id=0,
        num_shards=0,
        _type=b"",
        type_version=b"",
        version=0,
    )
