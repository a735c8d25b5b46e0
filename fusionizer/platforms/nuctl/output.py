"""Parsers for what nuctl 1.14 prints (reference/nuclio.md §1, §3, §4).

- ``get -o json``: one object for one function, an array for several, the text
  ``No functions found`` for none (exit 0 unnamed, exit 1 for a missing name).
- Errors on stderr: ``\\nError - <root cause>\\n    <file>:<line>\\n\\nCall stack:\\n...``,
  except a bare ``ErrorWithStatusCode``, which goes to stdout without a newline.
- ``invoke``: log lines, then ``> Response headers:`` and ``> Response body:`` sections.
All of them may carry ANSI colour codes, which are stripped first.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from fusionizer.platforms.base import InvokeResponse
from fusionizer.platforms.nuctl.runner import strip_ansi

NO_FUNCTIONS = "No functions found"

# `YY.MM.DD HH:MM:SS.mmm <logger> (I) message {...}`: nuctl's console log format.
_LOG_LINE_RE = re.compile(r"^\d{2}\.\d{2}\.\d{2} \d{2}:\d{2}:\d{2}\.\d{3} ")
# `    <file>:<line>` under an error message in nuclio/errors' PrintErrorStack.
_LOCATION_RE = re.compile(r"^    \S.*:\d+$")
_ERROR_START_RE = re.compile(r"(?m)^Error - ")
_STATUS_RE = re.compile(r'Got response \{"status": "(\d{3})')
_HEADERS_MARK = "> Response headers:\n"
_BODY_MARK = "\n> Response body:\n"


def is_log_line(line: str) -> bool:
    return bool(_LOG_LINE_RE.match(line))


def parse_function_objects(stdout: str) -> List[Dict[str, Any]]:
    """The function objects in ``get -o json`` output; raises ValueError on anything else."""
    lines = strip_ansi(stdout).splitlines()
    # Log lines only appear with -v (never passed) or in very old versions; skip them anyway.
    text = "\n".join(line for line in lines if not is_log_line(line)).strip()
    if not text or text == NO_FUNCTIONS:
        return []
    objects: List[Dict[str, Any]] = []
    decoder = json.JSONDecoder()
    pos = 0
    # A loop, not one json.loads: nuctl before 1.11.16 printed concatenated objects.
    while pos < len(text):
        value, pos = decoder.raw_decode(text, pos)
        objects.extend(_as_objects(value))
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return objects


def _as_objects(value: Any) -> List[Dict[str, Any]]:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("metadata"), dict):
            raise ValueError(f"not a function object: {str(item)[:200]}")
    return items


@dataclass(frozen=True)
class ErrorReport:
    """The error nuctl printed: ``root_cause`` (may span lines) and the whole ``stack`` text,
    which starts with the ``Error - <root cause>`` line."""

    root_cause: str
    stack: str

    @property
    def headline(self) -> str:
        return self.root_cause.splitlines()[0] if self.root_cause else ""


def parse_error_stack(stderr: str) -> Optional[ErrorReport]:
    text = strip_ansi(stderr)
    match = _ERROR_START_RE.search(text)
    if match is None:
        return None
    stack = text[match.start() :].rstrip()
    cause: List[str] = []
    for line in stack[len("Error - ") :].splitlines():
        if _LOCATION_RE.match(line) or line == "Call stack:":
            break
        cause.append(line)
    return ErrorReport("\n".join(cause).strip(), stack)


def parse_bare_error(stdout: str) -> Optional[str]:
    """The bare ``ErrorWithStatusCode`` nuctl wrote last on stdout, e.g. ``No functions
    found``: whatever follows the last newline, as log lines always end with one."""
    last = strip_ansi(stdout).rpartition("\n")[2].strip()
    return last if last and not is_log_line(last) else None


def parse_invoke_output(stdout: str) -> Optional[InvokeResponse]:
    """The response ``nuctl invoke`` printed, or None if it printed none.

    Lossy by nature: the status comes from the ``Got response`` log line (200 if absent),
    header values are the first of each, and a JSON body was re-indented by nuctl; it is
    re-encoded the way Nuclio's Python wrapper encodes dicts (``json.dumps`` defaults)."""
    text = strip_ansi(stdout)
    head_at = text.find(_HEADERS_MARK)
    body_at = text.find(_BODY_MARK, max(head_at, 0))
    if body_at < 0:
        return None
    headers = _parse_headers(text[head_at + len(_HEADERS_MARK) : body_at] if head_at >= 0 else "")
    body = text[body_at + len(_BODY_MARK) :]
    if body.endswith("\n"):  # nuctl prints the body with Fprintln
        body = body[:-1]
    status = _STATUS_RE.search(text, 0, body_at)  # nuctl logs it before the function's logs
    return InvokeResponse(
        status=int(status.group(1)) if status else 200, headers=headers, body=_reencode_body(body, headers)
    )


def _parse_headers(block: str) -> Dict[str, str]:
    headers: Dict[str, str] = {}
    for line in block.splitlines():
        name, sep, value = line.partition(" = ")
        # Content-Length described the original body, not the re-indented text nuctl printed.
        if sep and name.lower() != "content-length":
            headers[name] = value
    return headers


def _reencode_body(body: str, headers: Dict[str, str]) -> bytes:
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if content_type == "application/json":  # the exact test nuctl uses before indenting
        try:
            return json.dumps(json.loads(body)).encode()
        except ValueError:
            pass
    return body.encode()
