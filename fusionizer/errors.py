"""Expected failures: every error a user can cause or fix derives from ``FusionizerError``.

The CLI's one top-level handler prints these without a traceback and exits 1; anything
else is a bug and is reported as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence


class FusionizerError(Exception):
    """An expected failure with a message that says what to do."""


@dataclass(frozen=True)
class Diagnostic:
    """One finding about a plan: where it is and what to do about it."""

    message: str
    file: str = ""
    line: int = 0  # 1-based; 0 when unknown
    col: int = 0  # 1-based; 0 when unknown
    path: str = ""  # JSON path into the plan, e.g. spec.fusion.groups[1]
    severity: str = "error"  # "error" | "warning"

    def location(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}:{self.col or 1}"
        if self.file:
            return self.file
        return ""

    def render(self) -> str:
        where = self.location()
        field = f" ({self.path})" if self.path else ""
        prefix = f"{where}: " if where else ""
        return f"{prefix}{self.severity}: {self.message}{field}"


class PlanError(FusionizerError):
    """The plan is invalid; carries every diagnostic found in one run."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = tuple(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == "error"]
        super().__init__(
            "\n".join(d.render() for d in self.diagnostics)
            + f"\n{len(errors)} error(s); the plan was not applied."
        )


class PlatformError(FusionizerError):
    """The platform refused or failed an operation; ``detail`` holds its own words."""

    def __init__(self, message: str, detail: Optional[str] = None) -> None:
        self.detail = detail
        super().__init__(message if not detail else f"{message}\n{detail}")


class LockedError(FusionizerError):
    """Another apply of the same plan holds the lock."""
