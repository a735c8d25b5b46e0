"""Choosing the platform: ``--platform`` / ``FUSIONIZER_PLATFORM`` override the plan."""

from __future__ import annotations

from typing import Any, Mapping

from fusionizer.errors import FusionizerError
from fusionizer.platforms.base import Platform

KINDS = ("local", "nuctl")


def make_platform(kind: str, namespace: str, options: Mapping[str, Any]) -> Platform:
    if kind == "local":
        from fusionizer.platforms.local.platform import LocalPlatform

        return LocalPlatform(namespace)
    if kind == "nuctl":
        from fusionizer.platforms.nuctl.platform import NuctlPlatform

        return NuctlPlatform(namespace, options)
    raise FusionizerError(f"unknown platform '{kind}': use one of {', '.join(KINDS)}")
