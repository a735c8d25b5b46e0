"""nuctl's console: log lines with ANSI-coloured level tags (even off a TTY), and JSON
rendered the way Go's encoding/json renders it."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any, List, Optional

_LEVEL_COLOURS = {"D": "\x1b[32m", "I": "\x1b[34m", "W": "\x1b[33m", "E": "\x1b[31m"}
_RESET = "\x1b[0m"


class Console:
    def __init__(self, verbose: bool, logger: str = "nuctl") -> None:
        self.verbose = verbose
        self.logger = logger

    def log(self, level: str, message: str, **context: Any) -> None:
        if level == "D" and not self.verbose:
            return
        stamp = datetime.now().strftime("%y.%m.%d %H:%M:%S.%f")[:-3]
        tail = f" {json.dumps(context)}" if context else ""
        write(f"{stamp} {self.logger} {_LEVEL_COLOURS[level]}({level}){_RESET} {message}{tail}\n")


def write(text: str, stream: Any = None) -> None:
    out = stream or sys.stdout
    out.write(text)
    out.flush()  # the caller streams deploy logs line by line


def go_json(value: Any) -> str:
    """``json.Marshal`` + ``json.Indent(.., "", "\\t")``: Go escapes <, > and & in strings."""
    text = json.dumps(value, indent="\t", ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def go_json_indent(text: str, indent: str = "    ") -> Optional[str]:
    """Go's ``json.Indent``: re-indents valid JSON keeping every token as written."""
    try:
        json.loads(text)
    except ValueError:
        return None
    out: List[str] = []
    depth, in_string, escaped, pending = 0, False, False, False
    for char in text:
        if in_string:
            out.append(char)
            escaped = not escaped and char == "\\"
            in_string = escaped or char != '"'
            continue
        if char in " \t\r\n":
            continue
        if char in "}]":
            depth -= 1
            if not pending:
                out.append("\n" + indent * depth)
            pending = False
            out.append(char)
            continue
        if pending:
            out.append("\n" + indent * depth)
            pending = False
        if char in "{[":
            depth += 1
            pending = True
            out.append(char)
        elif char == ",":
            out.append(",\n" + indent * depth)
        elif char == ":":
            out.append(": ")
        else:
            in_string = char == '"'
            out.append(char)
    return "".join(out)
