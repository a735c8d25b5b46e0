"""The command table, dispatch, and the entry point that records every call in
``$NUCTL_EMULATOR_HOME/calls.jsonl``; also the small commands (version, delete, create)."""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

from nuctl_emulator import VERSION
from nuctl_emulator.console import write
from nuctl_emulator.context import initialize
from nuctl_emulator.deploy import cmd_deploy
from nuctl_emulator.errors import ABSTRACT_GO, LOCAL_GO, BareStatusError, NuctlError, UsageError, error
from nuctl_emulator.flags import (
    CREATE_PROJECT_FLAGS,
    DELETE_FUNCTION_FLAGS,
    DEPLOY_FLAGS,
    GET_FUNCTION_FLAGS,
    GET_PROJECT_FLAGS,
    GLOBAL_FLAGS,
    INVOKE_FLAGS,
    Flag,
    command_path,
    parse_flags,
)
from nuctl_emulator.get import cmd_get_functions, cmd_get_projects
from nuctl_emulator.invoke import cmd_invoke
from nuctl_emulator.store import IN_PROGRESS_STATES, append_jsonl


def cmd_version(options: Dict[str, Any], args: List[str]) -> int:
    label = f"Label: {VERSION}, Git commit: emulator, OS: linux, Arch: amd64, Go version: go1.21.13"
    write(f'Client version:\n"{label}"\n')
    return 0


def cmd_delete_function(options: Dict[str, Any], args: List[str]) -> int:
    if len(args) != 1:
        raise error("Function delete requires an identifier", "/nuclio/pkg/nuctl/command/delete.go", 92)
    ctx = initialize(options)
    name = args[0]
    with ctx.store.locked(name):
        record = ctx.store.function(name)
        if record is None:
            return 0  # idempotent: ValidateDeleteFunctionOptions returns nil for a missing function
        state = (record.get("status") or {}).get("state", "")
        if state in IN_PROGRESS_STATES and not options["force"]:
            raise error(
                "Failed to validate function deletion",
                ABSTRACT_GO,
                655,
                ("Failed to delete function", "/nuclio/pkg/nuctl/command/delete.go", 108),
                cause="Function is being provisioned and cannot be deleted",
            )
        ctx.store.remove_function(name)
    ctx.console.log("I", "Successfully deleted function", name=name)
    return 0


def cmd_create_project(options: Dict[str, Any], args: List[str]) -> int:
    if len(args) != 1:
        raise error("Project create requires an identifier", "/nuclio/pkg/nuctl/command/create.go", 95)
    ctx = initialize(options)
    if ctx.store.project(args[0]) is not None:
        raise error(
            "Failed to create project",
            LOCAL_GO,
            436,
            ("Failed to create project", "/nuclio/pkg/nuctl/command/create.go", 120),
            cause="Project already exists",
        )
    ctx.store.save_project(args[0], {k: options[k] for k in ("description", "owner") if options[k]})
    ctx.console.log("I", "Project created", name=args[0], namespace=ctx.namespace)
    return 0


COMMANDS: Dict[Tuple[str, ...], Tuple[Callable[[Dict[str, Any], List[str]], int], Tuple[Flag, ...]]] = {
    ("version",): (cmd_version, ()),
    ("deploy",): (cmd_deploy, DEPLOY_FLAGS),
    ("invoke",): (cmd_invoke, INVOKE_FLAGS),
    **{("get", w): (cmd_get_functions, GET_FUNCTION_FLAGS) for w in ("function", "functions", "fn", "fu")},
    **{("get", w): (cmd_get_projects, GET_PROJECT_FLAGS) for w in ("project", "projects", "proj", "prj")},
    **{
        (d, w): (cmd_delete_function, DELETE_FUNCTION_FLAGS)
        for d in ("delete", "del")
        for w in ("function", "functions", "fn", "fu")
    },
    ("create", "project"): (cmd_create_project, CREATE_PROJECT_FLAGS),
    ("create", "projects"): (cmd_create_project, CREATE_PROJECT_FLAGS),
}


def dispatch(args: List[str]) -> int:
    words, rest = command_path(args)
    key = tuple(words)
    if key not in COMMANDS and words[:1] and (words[0],) in COMMANDS:
        key = (words[0],)  # single-word commands: a second word is a positional argument
        rest = words[1:] + rest
    if key not in COMMANDS:
        raise UsageError(
            f"unknown command {' '.join(words)!r} for \"nuctl\" (emulated: version, deploy, get, delete, invoke, create project)"
        )
    handler, flags = COMMANDS[key]
    options, positional = parse_flags(rest, GLOBAL_FLAGS + flags)
    return handler(options, positional)


def run(args: List[str]) -> int:
    try:
        return dispatch(args)
    except BareStatusError as exc:
        write(str(exc))
        return 1
    except NuctlError as exc:
        write(exc.render(), sys.stderr)
        return 1
    except UsageError as exc:
        write(f"Error: {exc}\nRun 'nuctl --help' for usage.\n", sys.stderr)
        return 1


def main(argv: List[str]) -> int:
    """Run one nuctl call and record it in ``$NUCTL_EMULATOR_HOME/calls.jsonl``: a "start"
    line first (so even a call killed by a timeout is seen), an "end" line with the exit."""
    home = os.environ.get("NUCTL_EMULATOR_HOME")
    call_id = uuid.uuid4().hex
    started = time.time()
    if home:
        append_jsonl(
            Path(home) / "calls.jsonl",
            {"event": "start", "id": call_id, "argv": argv, "time": started, "pid": os.getpid()},
        )
    code = 1
    try:
        code = run(argv[1:])
    finally:
        if home:
            append_jsonl(
                Path(home) / "calls.jsonl",
                {"event": "end", "id": call_id, "exit": code, "duration": time.time() - started},
            )
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
