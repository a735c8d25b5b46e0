"""The platform seam: one protocol, implemented by the local platform and by nuctl.

The reconciler sees a platform only through :class:`Platform`. Records are shaped like
``nuctl get function -o json`` output (metadata/spec/status), whichever platform made them.
Questions (``list``, ``server_url``, ``logs``) have no side effects; ``prepare``, ``deploy`` and
``delete`` change things.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Protocol, Tuple

# Labels and annotations the fusionizer writes on every function it deploys (DESIGN §4).
LABEL_MANAGED_BY = "fusionizer.io/managed-by"
LABEL_PLAN = "fusionizer.io/plan"
ANNOTATION_TASKS = "fusionizer.io/tasks"
ANNOTATION_SPEC_HASH = "fusionizer.io/spec-hash"
ANNOTATION_REVISION = "fusionizer.io/revision"
ANNOTATION_APPLIED_AT = "fusionizer.io/applied-at"
MANAGED_BY = "fusionizer"
# Where functions go when a plan names no namespace: Nuclio's own default.
DEFAULT_NAMESPACE = "nuclio"

# Provisioned states of a Nuclio function (reference/nuclio.md §3).
STATE_READY = "ready"
STATE_ERROR = "error"
STATE_UNHEALTHY = "unhealthy"
STATE_SCALED_TO_ZERO = "scaledToZero"
STATE_IMPORTED = "imported"
# Not a Nuclio state: the local platform found the function's process dead.
STATE_DEAD = "dead"
SERVING_STATES = frozenset({STATE_READY, STATE_SCALED_TO_ZERO})


@dataclass(frozen=True)
class FunctionRecord:
    """One function as the platform reports it (one element of ``nuctl get -o json``)."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    state: str
    message: str = ""
    http_port: int = 0
    internal_urls: Tuple[str, ...] = ()
    external_urls: Tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_nuctl(cls, obj: Mapping[str, Any]) -> "FunctionRecord":
        meta = obj.get("metadata") or {}
        status = obj.get("status") or {}
        return cls(
            name=str(meta.get("name", "")),
            namespace=str(meta.get("namespace", "")),
            labels=dict(meta.get("labels") or {}),
            annotations=dict(meta.get("annotations") or {}),
            state=str(status.get("state", "")),
            message=str(status.get("message", "")),
            http_port=int(status.get("httpPort") or 0),
            internal_urls=tuple(status.get("internalInvocationUrls") or ()),
            external_urls=tuple(status.get("externalInvocationUrls") or ()),
            raw=obj,
        )

    def plan(self) -> Optional[str]:
        """The plan that owns this function, or None if the fusionizer does not manage it."""
        if self.labels.get(LABEL_MANAGED_BY) != MANAGED_BY:
            return None
        return self.labels.get(LABEL_PLAN)

    def env(self, name: str) -> Optional[str]:
        """The value of ``name`` in the function's ``spec.env`` as deployed, if it is there."""
        return spec_env(self.raw.get("spec") or {}, name)

    def tasks(self) -> Tuple[str, ...]:
        raw = self.annotations.get(ANNOTATION_TASKS, "")
        return tuple(t for t in raw.split(",") if t)

    @property
    def serving(self) -> bool:
        return self.state in SERVING_STATES


@dataclass(frozen=True)
class FunctionSource:
    """What to deploy: a built function directory and its merged function.yaml.

    ``config`` already carries the name, labels and annotations; the directory holds a
    ``function.yaml`` equal to ``config`` (so ``nuctl deploy NAME --path DIR`` works).
    """

    name: str
    path: Path
    config: Mapping[str, Any] = field(compare=False, hash=False)
    # The directory was made for this deploy alone (a build dir): the platform may take it
    # as it is (the local platform moves it into place instead of copying every file).
    disposable: bool = False


@dataclass(frozen=True)
class InvokeRequest:
    method: str = "POST"
    path: str = "/"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class InvokeResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        for key, value in self.headers.items():
            if key.lower() == "content-type":
                return value
        return ""


LogSink = Callable[[str], None]


class Platform(Protocol):
    """What the reconciler needs from a serverless platform (DESIGN §6).

    Implementations raise :class:`fusionizer.errors.PlatformError` with the platform's own
    message when an operation fails.
    """

    kind: str  # "local", "nuctl": with the namespace, what keys a plan's history
    namespace: str

    # Every function in the namespace, managed or not, in ONE call to the platform.
    def list(self) -> List[FunctionRecord]: ...

    # Create or update; blocks until the function is ready, or raises with its logs.
    def deploy(self, source: FunctionSource, log: Optional[LogSink] = None) -> FunctionRecord: ...

    # Idempotent: deleting a missing function succeeds.
    def delete(self, name: str) -> None: ...

    # One request to ``task`` inside ``function``, sent with the ``Task-Name`` header.
    def invoke(self, function: FunctionRecord, task: str, request: InvokeRequest) -> InvokeResponse: ...

    # Base URL of the Fusionizer server that routes calls between functions, if one is
    # configured or running now. A question: it starts nothing.
    def server_url(self) -> Optional[str]: ...

    # Whether calls between functions have a Fusionizer server to go through: a configured
    # one, or one the platform runs itself (the local gateway, started by ``prepare``).
    def routes_calls(self) -> bool: ...

    # Start what deploys and the functions around them need (the local platform's gateway);
    # idempotent and cheap when all runs. Called by apply before it deploys, never by plan.
    # Each deploy gives the function the server's URL itself (env FUSIONIZER_SERVER_URL).
    def prepare(self) -> None: ...

    # The function's log, line by line (no newlines): lines since ``since`` (aware, UTC)
    # when given; with ``follow``, then new lines as they come, until the caller stops
    # iterating. PlatformError when the log cannot be read, saying how to read it instead.
    def logs(self, name: str, since: Optional[datetime] = None, follow: bool = False) -> Iterator[str]: ...


def spec_env(spec: Mapping[str, Any], name: str) -> Optional[str]:
    """The value ``spec.env`` gives ``name``, if any. A function whose own env names the
    server's URL keeps it: no platform gives it another."""
    for item in spec.get("env") or []:
        if isinstance(item, Mapping) and item.get("name") == name:
            return str(item.get("value", ""))
    return None


def label_selector(plan: str) -> Dict[str, str]:
    return {LABEL_MANAGED_BY: MANAGED_BY, LABEL_PLAN: plan}
