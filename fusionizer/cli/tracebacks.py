"""Tracebacks as a user wants them: from the first frame of their own code.

A handler's exception reaches the user through the Nuclio wrapper's 500 body
(``Exception caught in handler - "<exc>": <traceback>``) or its log record. Both carry
the frames of the processor and the fusion dispatcher above the task's own; these are cut,
so the traceback starts at the first frame in a task's directory (``tasks/<name>/`` in
the built function). A traceback with no such frame (a fault of the runtime itself) is
left whole. Everything else in the text is kept as it was.
"""

from __future__ import annotations

import ast
import json
import re
from typing import List, Optional

from fusionizer.runtime.layout import TASKS_DIR

HEADER = "Traceback (most recent call last):"
_FRAME = re.compile(r'^  File "(?P<path>[^"]*)", line \d+')
_TASK_FRAME = re.compile(rf'File "[^"]*/{TASKS_DIR}/(?P<task>[a-z0-9]([-a-z0-9]*[a-z0-9])?)/')
# A traceback quoted inside a log line: by Python's repr ('...') or by JSON ("...").
_QUOTED = re.compile(r"""(?P<q>['"])(?P<body>Traceback \(most recent call last\):(?:\\.|(?!(?P=q)).)*)(?P=q)""")


def from_user_code(text: str) -> str:
    """``text`` with each traceback in it starting at the first frame of a task's code."""
    if HEADER not in text:
        return text
    head, *blocks = text.split(HEADER)
    return head + "".join(HEADER + _trim(block) for block in blocks)


def task_of(text: str) -> Optional[str]:
    """The task whose code a traceback in ``text`` passes through first, if any."""
    match = _TASK_FRAME.search(text)
    return match.group("task") if match else None


def expand(line: str) -> List[str]:
    """A log line whose record quotes a traceback (escaped, on one line): the line with the
    traceback taken out, then the traceback from the user's code, one line each."""
    match = _QUOTED.search(line)
    if match is None:
        return [line]
    text = _unquote(match.group("q"), match.group("body"))
    if text is None:
        return [line]
    shown = line[: match.start()] + "(below)" + line[match.end():]
    return [shown] + ["    " + part for part in from_user_code(text).rstrip("\n").splitlines()]


def _trim(block: str) -> str:
    lines = block.split("\n")
    for i, line in enumerate(lines):
        frame = _FRAME.match(line)
        if frame and f"/{TASKS_DIR}/" in frame.group("path"):
            return "\n".join(lines[:1] + lines[i:])  # lines[0]: the rest of the header line
    return block


def _unquote(quote: str, body: str) -> Optional[str]:
    try:
        value = json.loads(f'"{body}"') if quote == '"' else ast.literal_eval(f"'{body}'")
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, str) else None
