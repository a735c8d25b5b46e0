"""Where the fusionizer keeps its state: ``$FUSIONIZER_HOME`` (default ``~/.fusionizer``).

Tests isolate themselves by pointing FUSIONIZER_HOME at a temporary directory.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    raw = os.environ.get("FUSIONIZER_HOME")
    return Path(raw).expanduser().resolve() if raw else Path.home() / ".fusionizer"


def plan_state_dir(namespace: str, plan: str) -> Path:
    """Per-plan bookkeeping: the apply lock, run history, schedule anchor."""
    return home() / "plans" / namespace / plan


def builds_dir(plan: str) -> Path:
    return home() / "builds" / plan
