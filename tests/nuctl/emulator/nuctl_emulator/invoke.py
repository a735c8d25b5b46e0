"""``nuctl invoke``: one HTTP request to the function's last external URL, printed as
nuctl prints it (log lines, ``> Response headers:``, ``> Response body:``)."""

from __future__ import annotations

import http.client
import json
import os
import re
import stat
import sys
from http import HTTPStatus
from typing import Any, Dict, List, Mapping, Tuple

from nuctl_emulator.console import Console, go_json_indent, write
from nuctl_emulator.context import initialize
from nuctl_emulator.errors import ABSTRACT_GO, UsageError, error
from nuctl_emulator.flags import string_map


def cmd_invoke(options: Dict[str, Any], args: List[str]) -> int:
    if len(args) != 1:
        raise error("Function invoke requires name", "/nuclio/pkg/nuctl/command/invoke.go", 74)
    ctx = initialize(options)
    record = ctx.store.function(args[0])
    if record is None:
        raise error(
            "Failed to get function",
            ABSTRACT_GO,
            872,
            ("Failed to enrich function invocation options", "/nuclio/pkg/nuctl/command/invoke.go", 124),
            cause="Function not found",
        )
    status = send(ctx.console, record, options)
    if options["raise-on-status"] and not 200 <= status < 300:
        raise error("Function invocation failed", "/nuclio/pkg/nuctl/command/invoke.go", 215)
    return 0


def send(console: Console, record: Mapping[str, Any], options: Mapping[str, Any]) -> int:
    """One request, logged and printed the nuctl way; returns the response status."""
    body = invoke_body(options)
    method = options["method"] or ("POST" if body else "GET")
    headers = invoke_headers(options, body)
    url = invocation_url(record, options)
    path = "/" + (options["path"] or "")  # invoker.go joins url + "/" + path, so "/p" gives "//p"
    console.log(
        "I", "Executing function", method=method, url=f"http://{url}{path}", bodyLength=len(body), headers=headers
    )
    status, reason, response_headers, response_body = http_call(
        url, method, path, headers, body, parse_duration(options["timeout"])
    )
    console.log("I", "Got response", status=f"{status} {reason}".strip())
    print_invoke_result(response_headers, response_body)
    return status


def invoke_body(options: Mapping[str, Any]) -> bytes:
    """-b, else stdin when it is a pipe or a file (ReadFromInOrStdin): /dev/null is neither."""
    if options["body"]:
        return str(options["body"]).encode()
    mode = os.fstat(sys.stdin.fileno()).st_mode if not sys.stdin.closed else 0
    if stat.S_ISFIFO(mode) or stat.S_ISREG(mode):
        return sys.stdin.buffer.read()
    return b""


def canonical_header(name: str) -> str:
    """Go's textproto.CanonicalMIMEHeaderKey."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def invoke_headers(options: Mapping[str, Any], body: bytes) -> Dict[str, str]:
    headers = {canonical_header(k): v for k, v in string_map(options["headers"] or "").items()}
    content_type = options["content-type"] or headers.get("Content-Type") or _detect_content_type(body)
    headers["Content-Type"] = content_type.split(";")[0].strip()  # mime.ParseMediaType drops parameters
    level = options["log-level"]
    if level not in ("none", "debug", "info", "warn", "error"):
        raise error(
            "Invalid logger level name. Must be one of none / debug / info / warn / error",
            "/nuclio/pkg/nuctl/command/invoke.go",
            112,
        )
    if level != "none":
        headers["X-Nuclio-Log-Level"] = level
    return headers


def _detect_content_type(body: bytes) -> str:
    """The part of http.DetectContentType that matters here: text vs binary."""
    if any(b < 0x20 and b not in (0x09, 0x0A, 0x0C, 0x0D, 0x1B) for b in body[:512]):
        return "application/octet-stream"
    return "text/plain; charset=utf-8"


def invocation_url(record: Mapping[str, Any], options: Mapping[str, Any]) -> str:
    """``--via any`` off-cluster: the last external URL, or ``<--external-ips[0]>:<httpPort>``."""
    status = record.get("status") or {}
    external = list(status.get("externalInvocationUrls") or [])
    if not external and not status.get("internalInvocationUrls"):
        raise error("Function has no invocation URLs", "/nuclio/pkg/nuctl/command/invoke.go", 130)
    if options["external-ips"]:
        if not status.get("httpPort"):
            raise error(
                "Function has no node port and thus cannot be invoked externally while providing external ip addresses",
                "/nuclio/pkg/nuctl/command/invoke.go",
                205,
                ("Failed to invoke via external IP", "/nuclio/pkg/nuctl/command/invoke.go", 150),
            )
        return f"{options['external-ips'].split(',')[0]}:{status['httpPort']}"
    if not external:
        raise error(
            "Function has no external invocation url",
            "/nuclio/pkg/nuctl/command/invoke.go",
            211,
            ("Failed to invoke via external IP", "/nuclio/pkg/nuctl/command/invoke.go", 150),
        )
    return str(external[-1])


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration for h/m/s/ms (``1m0s``, ``30s``, ``1.5s``, ``500ms``)."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise UsageError(f'invalid argument "{text}" for "-t, --timeout" flag: time: invalid duration "{text}"')
    return sum(float(n) * units[u] for n, u in parts)


def http_call(
    url: str, method: str, path: str, headers: Mapping[str, str], body: bytes, timeout: float
) -> Tuple[int, str, List[Tuple[str, str]], bytes]:
    host, _, port = url.partition(":")
    connection = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
    try:
        connection.request(method, path, body=body if body else None, headers=dict(headers))
        response = connection.getresponse()
        data = response.read()
    except OSError as exc:
        raise error(
            "Failed to send HTTP request",
            "/nuclio/pkg/platform/abstract/invoker.go",
            137,
            ("Failed to invoke function", "/nuclio/pkg/nuctl/command/invoke.go", 177),
            cause=f'{method.capitalize()} "http://{url}{path}": {exc}',  # Go's url.Error
        ) from None
    finally:
        connection.close()
    return (
        response.status,
        response.reason or _phrase(response.status),
        [(canonical_header(k), v) for k, v in response.getheaders()],
        data,
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def print_invoke_result(headers: List[Tuple[str, str]], body: bytes) -> None:
    logs = next((v for k, v in headers if k == "X-Nuclio-Logs"), "")
    print_function_logs(logs)
    write("\n> Response headers:\n")
    seen = set()
    for name, value in headers:  # Go prints the first value of each header
        if name not in seen and name != "X-Nuclio-Logs":
            seen.add(name)
            write(f"{name} = {value}\n")
    write("\n> Response body:\n")
    text = body.decode("utf-8", errors="replace")
    content_type = next((v for k, v in headers if k == "Content-Type"), "")
    if content_type == "application/json":
        text = go_json_indent(text) or text
    write(text + "\n")


def print_function_logs(encoded: str) -> None:
    try:
        entries = json.loads(encoded) if encoded else []
    except ValueError:
        return
    if not entries:
        return
    console = Console(True)
    console.log("I", ">>> Start of function logs")
    level_of = {"debug": "D", "info": "I", "warn": "W", "error": "E"}
    for entry in entries:
        entry = dict(entry)
        message, level = str(entry.pop("message", "")), str(entry.pop("level", "debug"))
        logger = str(entry.pop("name", "function"))
        Console(True, logger).log(level_of.get(level, "D"), message, **entry)
    console.log("I", "<<< End of function logs")
