"""Who a plan file says it is, read leniently: enough to find an invalid plan's functions.

``status`` and ``apply`` use it when validation fails, so a refused revision is still
recorded in (and shown from) the history of the plan it claims to be.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from fusionizer.plan.documents import DocumentError, load_document
from fusionizer.plan.boundary import Boundary, BoundaryError

from fusionizer.platforms.base import DEFAULT_NAMESPACE
from fusionizer.platforms.factory import DEFAULT_KIND


@dataclass(frozen=True)
class Identity:
    name: str
    kind: str = DEFAULT_KIND
    namespace: str = DEFAULT_NAMESPACE
    options: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


def read_identity(path: Path, tree: Optional[Path] = None) -> Optional[Identity]:
    """What the plan at ``path`` says it is, read under the loader's bounds (``tree`` as for
    :func:`~fusionizer.plan.loader.load_plan`); None when even that cannot be read."""
    try:
        doc = load_document(Boundary.at(tree or path.parent).read_text(path, str(path)), str(path)).data
    except (OSError, UnicodeDecodeError, BoundaryError, DocumentError):
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
