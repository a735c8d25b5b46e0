"""Settings of the nuctl platform, read from the plan's ``spec.platform`` block (camelCase
keys, as in the plan file) after CLI flags and env vars were applied by the caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from fusionizer.errors import FusionizerError

NUCTL_PLATFORMS = ("auto", "local", "kube")

# A first build pulls base and onbuild images; 120 s of that is the readiness wait alone.
DEFAULT_DEPLOY_TIMEOUT = 900.0
DEFAULT_COMMAND_TIMEOUT = 120.0
DEFAULT_INVOKE_TIMEOUT = 60.0  # nuctl invoke's own default (1m0s)


@dataclass(frozen=True)
class NuctlOptions:
    platform: str = "auto"
    registry: Optional[str] = None
    run_registry: Optional[str] = None
    kubeconfig: Optional[str] = None
    project_name: Optional[str] = None
    nuctl_path: Optional[str] = None
    deploy_timeout: float = DEFAULT_DEPLOY_TIMEOUT
    readiness_timeout: Optional[int] = None
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT
    invoke_timeout: float = DEFAULT_INVOKE_TIMEOUT
    server_url: Optional[str] = None
    # Given by `fusionizer serve` (the schema refuses it in a plan: no secret in git).
    server_secret: Optional[str] = None

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> "NuctlOptions":
        """Known keys are read; others (``kind``, ``namespace``, ...) belong to the caller."""
        platform = _text(options, "nuctlPlatform") or "auto"
        if platform not in NUCTL_PLATFORMS:
            raise FusionizerError(
                f"spec.platform.nuctlPlatform: {platform!r} is not one of {', '.join(NUCTL_PLATFORMS)}"
            )
        readiness = _seconds(options, "readinessTimeout")
        return cls(
            platform=platform,
            registry=_text(options, "registry"),
            run_registry=_text(options, "runRegistry"),
            kubeconfig=_text(options, "kubeconfig"),
            project_name=_text(options, "projectName"),
            nuctl_path=_text(options, "nuctlPath"),
            deploy_timeout=_seconds(options, "deployTimeout") or DEFAULT_DEPLOY_TIMEOUT,
            readiness_timeout=int(readiness) if readiness else None,
            command_timeout=_seconds(options, "commandTimeout") or DEFAULT_COMMAND_TIMEOUT,
            invoke_timeout=_seconds(options, "invokeTimeout") or DEFAULT_INVOKE_TIMEOUT,
            server_url=_text(options, "serverUrl"),
            server_secret=_text(options, "serverSecret"),
        )


def _text(options: Mapping[str, Any], key: str) -> Optional[str]:
    value = options.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise FusionizerError(f"spec.platform.{key}: expected a string, got {value!r}")
    return value


def _seconds(options: Mapping[str, Any], key: str) -> Optional[float]:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise FusionizerError(f"spec.platform.{key}: expected a positive number of seconds, got {value!r}")
    return float(value)
