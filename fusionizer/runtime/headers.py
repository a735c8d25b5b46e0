"""HTTP header names the way Nuclio's Go processor hands them to Python.

Nuclio's processor is written in Go: header keys reach the handler canonicalised
(``fusionizer-server-address`` -> ``Fusionizer-Server-Address``), so task code indexes
``event.headers["Fusionizer-Server-Address"]`` and it works whatever case the sender used.
The local processor and every in-process call build headers with :func:`canonical_key`
so that a fused call and an HTTP call hand the callee the same dict.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

# RFC 7230 "tchar": the bytes Go's textproto accepts in a header field name.
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789" "abcdefghijklmnopqrstuvwxyz" "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

# Header names repeat endlessly (Content-Type, Task-Name, ...): remember the answer.
# Bounded so a client sending random names cannot grow it without limit.
_CACHE: Dict[str, Optional[str]] = {}
_CACHE_LIMIT = 4096


def _canonicalise(key: str) -> str:
    out = []
    upper = True
    for char in key:
        out.append(char.upper() if upper else char.lower())
        upper = char == "-"
    return "".join(out)


def canonical_token(key: str) -> Optional[str]:
    """Canonical form of a valid header name (non-empty, RFC 7230 token characters only),
    as Go's ``textproto.CanonicalMIMEHeaderKey`` writes it; None for an invalid name."""
    try:
        return _CACHE[key]
    except KeyError:
        pass
    valid = bool(key) and all(char in _TOKEN_CHARS for char in key)
    result = _canonicalise(key) if valid else None
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.clear()
    _CACHE[key] = result
    return result


def canonical_key(key: str) -> str:
    """``textproto.CanonicalMIMEHeaderKey``: invalid names are returned unchanged."""
    canonical = canonical_token(key)
    return key if canonical is None else canonical


def get_header(headers: Mapping[Any, Any], name: str) -> Optional[Any]:
    """Case-insensitive lookup; tries the exact (canonical) spelling first because that is
    what a Nuclio event carries, so the scan only runs for hand-built events. Keys may be
    ``bytes`` (a function with ``NUCLIO_PYTHON_DECODE_EVENT_STRINGS`` disabled): the value
    is then returned as it is, ``bytes``."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    wanted_bytes = wanted.encode("latin-1")
    for key, candidate in headers.items():
        if isinstance(key, str):
            if key.lower() == wanted:
                return candidate
        elif isinstance(key, bytes) and key.lower() == wanted_bytes:
            return candidate
    return None


def header_str(value: Any) -> Optional[str]:
    """A header value as text: ``bytes`` (raw events) as the Latin-1 they were on the wire."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value if isinstance(value, str) else None
