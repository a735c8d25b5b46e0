"""Platform initialisation (every command but ``version``): which platform, which
namespace, and the ``default`` project that nuctl ensures exists."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping

import yaml

from nuctl_emulator.console import Console
from nuctl_emulator.errors import NUCTL_GO, error
from nuctl_emulator.store import Store, emulator_home


@dataclass
class Context:
    home: Path
    platform: str  # local | kube
    namespace: str
    console: Console
    store: Store = field(init=False)

    def __post_init__(self) -> None:
        self.store = Store(self.home / self.platform / self.namespace)


def initialize(options: Mapping[str, Any]) -> Context:
    home = emulator_home()
    kind = resolve_platform_kind(options)
    if kind == "kube":  # creating the kube client needs a readable kubeconfig
        _read_kubeconfig(kubeconfig_path(options))
    namespace = options["namespace"] or default_namespace(kind, options)
    ctx = Context(home, kind, namespace, Console(options["verbose"]))
    ctx.console.log("D", "Initializing platform", platformType=kind, namespace=namespace)
    if ctx.store.project("default") is None:  # EnsureDefaultProjectExistence
        ctx.store.save_project("default", {})
    return ctx


def kubeconfig_path(options: Mapping[str, Any]) -> str:
    if options["kubeconfig"]:
        return str(options["kubeconfig"])
    if os.environ.get("KUBECONFIG"):
        return os.environ["KUBECONFIG"]
    default = Path.home() / ".kube" / "config"
    return str(default) if default.is_file() else ""


def resolve_platform_kind(options: Mapping[str, Any]) -> str:
    kind = options["platform"]
    if kind == "auto":
        return "kube" if kubeconfig_path(options) else "local"
    if kind not in ("local", "kube"):
        raise error(
            f"Can't create platform - unsupported platform type: {kind}",
            "/nuclio/pkg/platform/factory/factory.go",
            96,
            ("Failed to create platform", NUCTL_GO, 219),
            ("Failed to initialize root", NUCTL_GO, 172),
        )
    return str(kind)


def default_namespace(kind: str, options: Mapping[str, Any]) -> str:
    if kind == "local":
        return "nuclio"
    config = _read_kubeconfig(kubeconfig_path(options))
    current = config.get("current-context")
    if not current:
        raise error(
            "Failed to get current context - is your kubeconfig points to a valid cluster?",
            "/nuclio/pkg/common/k8s.go",
            123,
            ("Failed to resolve namespace", NUCTL_GO, 204),
        )
    for entry in config.get("contexts") or []:
        if entry.get("name") == current:
            return str((entry.get("context") or {}).get("namespace") or "default")
    return "default"


def _read_kubeconfig(path: str) -> Dict[str, Any]:
    try:
        loaded = yaml.safe_load(Path(path).read_text()) if path else None
    except (OSError, yaml.YAMLError) as exc:
        raise error(
            f"Failed to read kubeconfig {path}: {exc}",
            "/nuclio/pkg/common/k8s.go",
            98,
            ("Failed to create kube platform", NUCTL_GO, 219),
        ) from None
    if not isinstance(loaded, dict):
        raise error(
            "Failed to get client configuration",
            "/nuclio/pkg/common/k8s.go",
            98,
            ("Failed to create kube platform", NUCTL_GO, 219),
        )
    return loaded
