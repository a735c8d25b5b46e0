"""Errors the way nuctl prints them: nuclio/errors' ``PrintErrorStack`` on stderr, the bare
``ErrorWithStatusCode`` of nuclio-sdk-go on stdout, and cobra's flag errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple


@dataclass
class Frame:
    message: str
    file: str
    line: int


class NuctlError(Exception):
    """A nuclio/errors chain. ``frames`` run innermost first; ``cause`` is the text of a
    plain (non-nuclio) error under the innermost frame, if there is one."""

    def __init__(self, frames: Sequence[Frame], cause: Optional[str] = None) -> None:
        super().__init__(cause or frames[0].message)
        self.frames = list(frames)
        self.cause = cause

    def wrap(self, message: str, file: str, line: int) -> "NuctlError":
        self.frames.append(Frame(message, file, line))
        return self

    def render(self, depth: int = 5) -> str:
        stack = self.frames[:depth]
        root = stack[0]
        out = f"\nError - {self.cause if self.cause is not None else root.message}"
        out += f"\n    {trim_path(root.file)}:{root.line}\n"
        out += "\nCall stack:"
        for frame in stack:
            out += f"\n{frame.message}\n    {trim_path(frame.file)}:{frame.line}"
        return out + "\n"


class BareStatusError(Exception):
    """nuctl prints these (e.g. ``No functions found``) on stdout, without a newline."""


def error(
    message: str, file: str, line: int, *wrappers: Tuple[str, str, int], cause: Optional[str] = None
) -> NuctlError:
    frames = [Frame(message, file, line)] + [Frame(*w) for w in wrappers]
    return NuctlError(frames, cause)


def trim_path(file_name: str, size: int = 40) -> str:
    """nuclio/errors trimPath, including its quirk (``...//nuclio/...``)."""
    if len(file_name) <= size:
        return file_name
    parts = file_name.split("/")
    while sum(len(p) for p in parts) > size and len(parts) > 1:
        parts = parts[1:]
    return ".../" + "/".join(parts)


DEPLOY_GO = "/nuclio/pkg/nuctl/command/deploy.go"
LOCAL_GO = "/nuclio/pkg/platform/local/platform.go"
ABSTRACT_GO = "/nuclio/pkg/platform/abstract/platform.go"
BUILDER_GO = "/nuclio/pkg/processor/build/builder.go"
NUCTL_GO = "/nuclio/pkg/nuctl/command/nuctl.go"


class UsageError(Exception):
    """cobra's flag errors: ``Error: <msg>`` on stderr, exit 1."""
