"""Choosing the platform: ``--platform`` / ``FUSIONIZER_PLATFORM`` override the plan."""

from __future__ import annotations

from typing import Any, Mapping

from fusionizer.errors import FusionizerError
from fusionizer.platforms.base import Platform

LOCAL, NUCTL = "local", "nuctl"
KINDS = (LOCAL, NUCTL)
DEFAULT_KIND = LOCAL  # a plan that names no platform runs on the embedded one


def make_platform(kind: str, namespace: str, options: Mapping[str, Any]) -> Platform:
    if kind == LOCAL:
        from fusionizer.platforms.local.platform import LocalPlatform

        return LocalPlatform(namespace)
    if kind == NUCTL:
        from fusionizer.platforms.nuctl.platform import NuctlPlatform

        return NuctlPlatform(namespace, options)
    raise FusionizerError(f"unknown platform '{kind}': use one of {', '.join(KINDS)}")
