"""Trust between a function and its Fusionizer server, and the hop count of a call chain.

Standard library only: this module is copied into every deployed function, and the
gateway (``fusionizer.gateway``) imports the same names, so both sides agree by construction.

- **Hops.** The server counts the calls of one chain: it hands every request it forwards
  ``Fusionizer-Hops: n`` and refuses (508) past its limit. :func:`enter_request` takes that
  header off the event (the task sees the request as it was sent) and remembers ``n`` for
  the task's own calls to the server, which carry it back (:func:`outbound_headers`). So
  ping <-> pong between two functions ends after ``limit`` hops instead of spawning
  threads until the machine gives in.
- **A per-namespace secret** (env ``FUSIONIZER_SERVER_SECRET``, shared by the functions and
  their server) decides trust both ways. Before a function sends anything on a new
  connection to its configured server (every one the keep-alive pool, ``pool``, opens
  there), the server proves it knows the secret (:func:`prove_server`: ``GET /-/proof`` with a fresh challenge, answered with an HMAC), so
  a process squatting a dead server's port gets neither the request nor the secret. Then
  every call carries ``Fusionizer-Caller`` (an HMAC of the secret): the server knows it comes
  from one of its functions, not from outside.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import http.client
import secrets
import socket
from typing import Any, Dict, MutableMapping, Optional

ENV_SECRET = "FUSIONIZER_SERVER_SECRET"
HEADER_HOPS = "Fusionizer-Hops"
HEADER_CALLER = "Fusionizer-Caller"
HEADER_CHALLENGE = "Fusionizer-Challenge"
HEADER_PROOF = "Fusionizer-Proof"
PROOF_PATH = "/-/proof"
_PROOF_TIMEOUT = 10.0
_PROOF_BODY_LIMIT = 4096

# The hop count of the request this thread (or task) is serving; 0 outside any request.
_hops: "contextvars.ContextVar[int]" = contextvars.ContextVar("fusionizer_hops", default=0)


class ServerNotProven(ConnectionError):
    """The peer at the server's address did not prove it knows the secret."""


def caller_token(secret: bytes) -> str:
    return hmac.new(secret, b"fusionizer-caller", hashlib.sha256).hexdigest()


def server_proof(secret: bytes, challenge: str) -> str:
    return hmac.new(secret, b"fusionizer-server\0" + challenge.encode("ascii", "replace"), hashlib.sha256).hexdigest()


def parse_hops(value: Any) -> Optional[int]:
    """A hop count as sent (str or bytes); None when it is not a small non-negative integer."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str) or not value.isdigit() or len(value) > 6:
        return None
    return int(value)


def enter_request(headers: MutableMapping[Any, Any]) -> None:
    """Take the server's hop count off a request's headers and remember it."""
    value = headers.pop(HEADER_HOPS, None)
    if value is None:
        value = headers.pop(HEADER_HOPS.encode(), None)  # events with undecoded (bytes) headers
    _hops.set(parse_hops(value) or 0)


def outbound_headers(token: Optional[str]) -> Dict[str, str]:
    """What a call to the server carries: the current hop count, and the caller token when
    the server it goes to has proven itself."""
    headers = {HEADER_HOPS: str(_hops.get())}
    if token:
        headers[HEADER_CALLER] = token
    return headers


def prove_server(sock: socket.socket, host: str, secret: bytes) -> None:
    """Make the peer on ``sock`` prove it knows ``secret`` before anything else is sent."""
    challenge = secrets.token_hex(16)
    request = (
        f"GET {PROOF_PATH} HTTP/1.1\r\nHost: {host}\r\n{HEADER_CHALLENGE}: {challenge}\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    previous = sock.gettimeout()
    sock.settimeout(_PROOF_TIMEOUT)
    try:
        sock.sendall(request.encode("ascii"))
        response = http.client.HTTPResponse(sock, method="GET")
        response.begin()
        response.read(_PROOF_BODY_LIMIT)
        proof = response.getheader(HEADER_PROOF) or ""
        proven = response.status == 200 and not response.will_close and hmac.compare_digest(
            proof, server_proof(secret, challenge)
        )
    except (OSError, http.client.HTTPException) as exc:
        raise ServerNotProven(f"the Fusionizer server at {host} did not answer its proof: {exc}") from None
    finally:
        sock.settimeout(previous)
    if not proven:
        raise ServerNotProven(
            f"the process listening at {host} is not the Fusionizer server (no proof of the secret)"
        )


class Proving:
    """Mixed into an ``http.client`` connection (urllib3's too): with ``proof`` set, the
    server proves it knows that secret right after the connection is made, before any
    request is sent on it; a connection whose peer does not is closed."""

    host: str
    port: int
    sock: Any
    proof: Optional[bytes] = None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        if self.proof is None:
            return
        try:
            prove_server(self.sock, f"{self.host}:{self.port}", self.proof)
        except ServerNotProven:
            self.close()  # type: ignore[attr-defined]
            raise
