"""A small pflag: flags anywhere after the command, ``--x=v``, ``--x v``, ``-x v``, ``-xv``,
bools, repeatable flags, and the flag tables of the emulated commands."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from nuctl_emulator.errors import UsageError


@dataclass(frozen=True)
class Flag:
    name: str
    short: str = ""
    kind: str = "str"  # str | bool | int | list
    default: Any = None


GLOBAL_FLAGS = (
    Flag("platform", default=os.environ.get("NUCTL_PLATFORM") or "auto"),
    Flag("namespace", "n", default=os.environ.get("NUCTL_NAMESPACE") or ""),
    Flag("kubeconfig", "k", default=""),
    Flag("verbose", "v", "bool", False),
    Flag("concurrency", kind="int", default=os.cpu_count() or 1),
    Flag("mask-sensitive-fields", kind="bool", default=False),
)


def _str_flags(*names: str) -> Tuple[Flag, ...]:
    return tuple(Flag(n) for n in names)


DEPLOY_FLAGS = (
    Flag("path", "p"),
    Flag("file", "f"),
    Flag("image", "i"),
    Flag("registry", "r", default=os.environ.get("NUCTL_REGISTRY") or ""),
    Flag("run-registry", default=os.environ.get("NUCTL_RUN_REGISTRY") or ""),
    Flag("http-trigger-service-type", default=os.environ.get("NUCTL_DEFAULT_SERVICE_TYPE") or ""),
    Flag("labels", "l"),
    Flag("env", "e", "list", ()),
    Flag("build-command", kind="list", default=()),
    Flag("volume", kind="list", default=()),
    Flag("resource-limit", kind="list", default=()),
    Flag("resource-request", kind="list", default=()),
    Flag("replicas", kind="int", default=-1),
    Flag("min-replicas", kind="int", default=-1),
    Flag("max-replicas", kind="int", default=-1),
    Flag("readiness-timeout", kind="int", default=-1),
    Flag("target-cpu", kind="int", default=-1),
    Flag("run-as-user", kind="int", default=-1),
    Flag("run-as-group", kind="int", default=-1),
    Flag("fsgroup", kind="int", default=-1),
    Flag("disable", "d", "bool", False),
    Flag("no-pull", kind="bool", default=False),
    Flag("no-cleanup", kind="bool", default=False),
    Flag("offline", kind="bool", default=False),
    Flag("publish", kind="bool", default=False),
    *_str_flags(
        "source",
        "base-image",
        "onbuild-image",
        "runtime",
        "handler",
        "build-runtime-attrs",
        "build-code-entry-attrs",
        "code-entry-type",
        "annotations",
        "project-name",
        "run-image",
        "triggers",
        "data-bindings",
        "runtime-attrs",
        "platform-config",
        "desc",
        "logger-level",
        "input-image-file",
        "output-image-file",
        "nodeSelector",
        "nodeName",
        "priorityClassName",
        "preemptionPolicy",
    ),
)
GET_FUNCTION_FLAGS = (Flag("labels", "l"), Flag("output", "o", default="text"))
GET_PROJECT_FLAGS = (Flag("output", "o", default="text"),)
DELETE_FUNCTION_FLAGS = (Flag("force", "f", "bool", False), Flag("with-api-gateways", kind="bool", default=False))
INVOKE_FLAGS = (
    Flag("body", "b"),
    Flag("content-type", "c"),
    Flag("headers", "d"),
    Flag("method", "m"),
    Flag("path", "p"),
    Flag("via", default="any"),
    Flag("log-level", "l", default="info"),
    Flag("external-ips", default=os.environ.get("NUCTL_EXTERNAL_IP_ADDRESSES") or ""),
    Flag("timeout", "t", default="1m0s"),
    Flag("skip-tls", kind="bool", default=False),
    Flag("raise-on-status", kind="bool", default=False),
)
CREATE_PROJECT_FLAGS = (Flag("description"), Flag("owner"))


def parse_flags(args: Sequence[str], flags: Sequence[Flag]) -> Tuple[Dict[str, Any], List[str]]:
    values: Dict[str, Any] = {f.name: (list(f.default) if f.kind == "list" else f.default) for f in flags}
    positional: List[str] = []
    it = iter(args)
    for arg in it:
        if arg == "--":
            positional.extend(it)
        elif arg.startswith("--"):
            _long_flag(arg, {f.name: f for f in flags}, values, it)
        elif arg.startswith("-") and len(arg) > 1:
            _short_flags(arg, {f.short: f for f in flags if f.short}, values, it)
        else:
            positional.append(arg)
    return values, positional


def _long_flag(arg: str, by_name: Dict[str, Flag], values: Dict[str, Any], it: Iterator[str]) -> None:
    name, eq, inline = arg[2:].partition("=")
    flag = by_name.get(name)
    if flag is None:
        raise UsageError(f"unknown flag: --{name}")
    _set(values, flag, inline if eq else None, it, f"--{name}")


def _short_flags(arg: str, by_short: Dict[str, Flag], values: Dict[str, Any], it: Iterator[str]) -> None:
    """pflag's shorthand forms: ``-n ns``, ``-nns``, ``-n=ns``, and booleans run together
    (``-fv`` is ``-f -v``)."""
    rest = arg[1:]
    while rest:
        flag = by_short.get(rest[0])
        if flag is None:
            raise UsageError(f"unknown shorthand flag: '{rest[0]}' in {arg}")
        rest = rest[1:]
        if flag.kind == "bool" and not rest.startswith("="):
            _set(values, flag, None, it, arg)
            continue
        inline = rest[1:] if rest.startswith("=") else rest
        _set(values, flag, inline if rest else None, it, arg)
        return


def _set(values: Dict[str, Any], flag: Flag, inline: Optional[str], it: Iterator[str], spelled: str) -> None:
    if flag.kind == "bool":
        values[flag.name] = _parse_bool(inline, spelled)
        return
    raw = inline if inline is not None else next(it, None)
    if raw is None:
        raise UsageError(f"flag needs an argument: {spelled}")
    if flag.kind == "int":
        try:
            values[flag.name] = int(raw)
        except ValueError:
            raise UsageError(
                f'invalid argument "{raw}" for "{spelled}" flag: strconv.ParseInt: parsing "{raw}": invalid syntax'
            ) from None
    elif flag.kind == "list":
        values[flag.name].append(raw)
    else:
        values[flag.name] = raw


def _parse_bool(inline: Optional[str], spelled: str) -> bool:
    """strconv.ParseBool, which pflag applies to ``--flag=VALUE``."""
    if inline is None or inline.lower() in ("1", "t", "true"):
        return True
    if inline.lower() in ("0", "f", "false"):
        return False
    raise UsageError(f'invalid argument "{inline}" for "{spelled}" flag: strconv.ParseBool: parsing "{inline}": invalid syntax')


def command_path(args: Sequence[str]) -> Tuple[List[str], List[str]]:
    """Leading command words (skipping global flags before them) and the remaining args."""
    globals_by_name = {f.name: f for f in GLOBAL_FLAGS}
    globals_by_short = {f.short: f for f in GLOBAL_FLAGS if f.short}
    words: List[str] = []
    rest: List[str] = []
    i = 0
    while i < len(args) and len(words) < 2:
        arg = args[i]
        flag = None
        inline = False
        if arg.startswith("--"):
            flag = globals_by_name.get(arg[2:].partition("=")[0])
            inline = "=" in arg
        elif arg.startswith("-") and len(arg) > 1:
            flag = globals_by_short.get(arg[1])
            inline = len(arg) > 2
        if arg.startswith("-"):
            if flag is None:
                break
            takes_value = flag.kind != "bool" and not inline
            rest.extend(args[i : i + (2 if takes_value else 1)])
            i += 2 if takes_value else 1
            continue
        if words and words[0] not in ("get", "delete", "del", "create"):
            break
        words.append(arg)
        i += 1
    return words, rest + list(args[i:])


def string_map(raw: str) -> Dict[str, str]:
    """common.StringToStringMap: split on ',', then on every '='; keep the first two parts."""
    result: Dict[str, str] = {}
    for item in raw.split(",") if raw else []:
        parts = item.split("=")
        if len(parts) >= 2:
            result[parts[0]] = parts[1]
    return result
