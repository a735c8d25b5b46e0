"""Who a plan file says it is, read leniently: enough to find an invalid plan's functions.

``status`` and ``apply`` use it when validation fails, so a refused revision is still
recorded in (and shown from) the history of the plan it claims to be.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from fusionizer.platforms.base import DEFAULT_NAMESPACE
from fusionizer.platforms.factory import DEFAULT_KIND


@dataclass(frozen=True)
class Identity:
    name: str
    kind: str = DEFAULT_KIND
    namespace: str = DEFAULT_NAMESPACE
    options: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


def read_identity(path: Path) -> Optional[Identity]:
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    name = _mapping(doc.get("metadata")).get("name")
    platform = _mapping(_mapping(doc.get("spec")).get("platform"))
    if not isinstance(name, str) or not name:
        return None
    options = {k: v for k, v in platform.items() if k not in ("kind", "namespace")}
    kind, namespace = str(platform.get("kind") or DEFAULT_KIND), str(platform.get("namespace") or DEFAULT_NAMESPACE)
    return Identity(name, kind, namespace, options)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}
