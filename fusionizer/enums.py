"""Str-valued enums for the fusionizer's vocabularies (run results, change outcomes, phases).

A member is its value wherever it meets the outside world: it compares equal to it, formats
as it in messages and serialises as it in JSON, so records written before a vocabulary
became an enum read the same. ``enum.StrEnum`` where Python has it (3.11+).
"""

from __future__ import annotations

import sys
from enum import Enum

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # Python 3.10

    class StrEnum(str, Enum):
        def __str__(self) -> str:
            return str(self.value)

        def __format__(self, spec: str) -> str:
            return str(self.value).__format__(spec)


__all__ = ["StrEnum"]
