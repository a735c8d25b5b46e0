"""Where things are: the plan file's default name, and the fusionizer's state under
``$FUSIONIZER_HOME`` (default ``~/.fusionizer``).

Tests isolate themselves by pointing FUSIONIZER_HOME at a temporary directory.
"""

from __future__ import annotations

import os
from pathlib import Path

# The plan file a command reads when none is named (-f, --plan-path), in a directory or a repository.
DEFAULT_PLAN_FILE = "fusionizer.yaml"


def home() -> Path:
    raw = os.environ.get("FUSIONIZER_HOME")
    return Path(raw).expanduser().resolve() if raw else Path.home() / ".fusionizer"


def plan_lock_dir(namespace: str, plan: str) -> Path:
    """Where a plan's apply lock lives: one per plan and namespace, whichever platform
    applies it, as its build directory is (:func:`builds_dir`)."""
    return home() / "plans" / namespace / plan


def plan_state_dir(kind: str, namespace: str, plan: str) -> Path:
    """Per-plan bookkeeping of one deployment (platform kind + namespace): run history,
    schedule anchor, the builds last deployed. A local and a nuctl run of one plan never mix."""
    return home() / "state" / kind / namespace / plan


def builds_dir(plan: str) -> Path:
    return home() / "builds" / plan
