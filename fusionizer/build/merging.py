"""Merging the function.yaml specs of the tasks in one group into one Nuclio spec.

Env and build commands are unions in order (plan validation rejects conflicting env values
and different runtimes), resources take the largest request and limit of each kind, replica
bounds and timeouts the largest value; anything else comes from the first task that sets it.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Optional, Sequence

_MAX_KEYS = ("minReplicas", "maxReplicas", "readinessTimeoutSeconds")
_HANDLED = frozenset({"env", "build", "resources", "triggers", "handler", "runtime", *_MAX_KEYS})
_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_UNITS = {
    "": 1.0, "m": 1e-3, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40,
}


def merge_specs(specs: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    merged: Dict[str, Any] = {}
    for spec in specs:
        for key, value in spec.items():
            if key not in _HANDLED and key not in merged:
                merged[key] = value
    env = merge_env([s.get("env") or [] for s in specs])
    if env:
        merged["env"] = env
    build = _merge_build([s.get("build") or {} for s in specs])
    if build:
        merged["build"] = build
    resources = _merge_resources([s.get("resources") or {} for s in specs])
    if resources:
        merged["resources"] = resources
    triggers = _merge_triggers([s.get("triggers") or {} for s in specs])
    if triggers:
        merged["triggers"] = triggers
    for key in _MAX_KEYS:
        values = [s[key] for s in specs if isinstance(s.get(key), (int, float))]
        if values:
            merged[key] = max(values)
    return merged


def merge_env(envs: Sequence[Sequence[Mapping[str, Any]]]) -> List[Dict[str, Any]]:
    by_name: Dict[str, Dict[str, Any]] = {}
    for env in envs:
        for item in env:
            by_name.setdefault(str(item.get("name")), dict(item))
    return [by_name[name] for name in sorted(by_name)]


def merge_labels(metas: Sequence[Mapping[str, Any]]) -> Dict[str, str]:
    labels: Dict[str, str] = {}
    for meta in metas:
        for key, value in (meta.get("labels") or {}).items():
            labels.setdefault(str(key), str(value))
    return labels


def merge_commands(lists: Sequence[Sequence[str]]) -> List[str]:
    """Build commands of several lists in order, each once (the first occurrence stays)."""
    commands: List[str] = []
    for listed in lists:
        for command in listed:
            if command not in commands:
                commands.append(command)
    return commands


def _merge_build(builds: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    merged: Dict[str, Any] = {}
    for build in builds:
        for key, value in build.items():
            if key not in ("commands", "path"):
                merged.setdefault(key, value)
    commands = merge_commands([build.get("commands") or [] for build in builds])
    if commands:
        merged["commands"] = commands
    return merged


def _merge_resources(resources: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    merged: Dict[str, Dict[str, Any]] = {}
    for res in resources:
        for kind in ("requests", "limits"):
            for name, value in (res.get(kind) or {}).items():
                current = merged.setdefault(kind, {}).get(name)
                if current is None or quantity(value) > quantity(current):
                    merged[kind][name] = value
    return dict(merged)


def _merge_triggers(triggers: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    merged: Dict[str, Any] = {}
    for group in triggers:
        for name, trigger in group.items():
            if name not in merged:
                merged[name] = dict(trigger)
            elif isinstance(trigger, Mapping) and "numWorkers" in trigger:
                # Fused tasks share the workers, so the group gets the largest pool asked for.
                merged[name]["numWorkers"] = max(int(merged[name].get("numWorkers") or 1), int(trigger["numWorkers"]))
    return merged


def quantity(value: Any) -> float:
    """A Kubernetes quantity (``512Mi``, ``1G``, ``250m``) as a number; 0 if unreadable."""
    match = _QUANTITY.match(str(value).strip())
    if not match:
        return 0.0
    number, unit = match.groups()
    scale: Optional[float] = _UNITS.get(unit)
    return float(number) * (scale if scale is not None else 1.0)
