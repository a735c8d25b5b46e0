"""Finding a plan's tasks and checking each task's ``function.yaml`` and handler.

Called by :mod:`fusionizer.plan.loader`. Tasks come from ``spec.tasks`` (explicit) and
``spec.taskDirs`` (every immediate subdirectory holding a ``function.yaml``). User code is
never imported: the handler module is parsed with :mod:`ast` to check the function exists.
Diagnostics about a ``function.yaml`` or a handler module name THAT file.

Nothing outside the plan's tree is read (:mod:`fusionizer.plan.boundary`): a task directory is
checked (links, special files, size) before any of its files is opened. A subdirectory of a
``taskDirs`` entry that holds Python code but no ``function.yaml`` is an error, not "no
task": it is most likely a task whose ``function.yaml`` is being saved or was lost, and
dropping it would delete its function.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from fusionizer import filecache, ignore
from fusionizer.errors import Diagnostic
from fusionizer.filecache import Listed, Listing
from fusionizer.plan.documents import (
    Document,
    DocumentError,
    JsonPath,
    as_dict,
    as_list,
    as_str,
    format_path,
    kind_of,
    known_document,
    load_text,
)
from fusionizer.plan.model import Task
from fusionizer.plan.schema import FUNCTION_SCHEMA, check_schema
from fusionizer.plan.boundary import MAX_YAML_BYTES, Boundary, BoundaryError, Limits, leads_outside
from fusionizer.plan.values import (
    DNS_HELP,
    SUPPORTED_RUNTIMES,
    is_dns_label,
    normalise_runtime,
    suggest_dns_label,
)
from fusionizer.runtime.layout import DEFAULT_HANDLER, HANDLER_REGEX
from fusionizer.runtime.layout import FUNCTION_CONFIG as FUNCTION_YAML

# Nuclio's wrapper accepts exactly HANDLER_REGEX (reference/nuclio.md §6); the runtime enforces it too.
_HANDLER = re.compile(HANDLER_REGEX)
# What an editor leaves while it saves function.yaml: a backup, a swap or temp file.
_YAML_LEFTOVER = re.compile(r"^\.?function\.ya?ml.")
# "<sha256 of a module>:<name>" -> whether the handler of that name the module defines takes a
# requests_session. Only verdicts that find nothing wrong are kept, so a problem is always
# found (and shown) afresh.
_HANDLERS = filecache.table("handlers")


@dataclass(frozen=True)
class TaskSource:
    """A task plus where it came from, for diagnostics that span files."""

    task: Task
    config: Document  # its function.yaml
    defined_at: JsonPath  # in the plan: spec.tasks[i] or spec.taskDirs[j]


@dataclass
class Paths:
    """Resolves plan-relative paths and shows files the way the user named the plan."""

    root: Path  # absolute directory of the plan file
    shown_root: Path  # that directory as the user wrote it (e.g. "." or "examples")
    boundary: Boundary  # nothing outside it is read
    rules: ignore.Tree  # which files of a task its build takes
    limits: Limits = Limits()
    # The snapshot's files (see ``Snapshot.listing``): what it knows of a directory without
    # links or special files needs no second look on the disk.
    listing: Optional[Listing] = None

    def plain(self, directory: Path) -> Optional[Tuple[Listed, ...]]:
        """The snapshot's files of ``directory``, when its walk met only plain files."""
        return self.listing.plain(directory) if self.listing is not None else None

    def listed(self, path: "os.PathLike[str] | str") -> Optional[Listed]:
        return self.listing.file(path) if self.listing is not None else None

    def resolve(self, relative: str) -> Path:
        return Path(os.path.normpath(self.root / relative))

    def show(self, path: Path) -> str:
        text, root = str(path), str(self.root)
        inside = root if root.endswith(os.sep) else root + os.sep
        if text.startswith(inside):  # what relative_to below computes, without its cost per task
            shown = str(self.shown_root)
            return text[len(inside):] if shown == "." else os.path.join(shown, text[len(inside):])
        try:
            return str(self.shown_root / path.relative_to(self.root))
        except ValueError:
            return str(path)


@dataclass
class TaskTable:
    """Every task the plan defines, and those whose directory checked out."""

    defined: Dict[str, Tuple[Path, JsonPath]] = field(default_factory=dict)  # name -> (dir, where)
    sources: Dict[str, TaskSource] = field(default_factory=dict)  # only the usable ones

    def __contains__(self, name: object) -> bool:
        return name in self.defined


def collect_tasks(plan: Document, paths: Paths, out: List[Diagnostic]) -> TaskTable:
    """All tasks of the plan, explicit ones first; problems go to ``out``.

    A task whose files are broken stays *defined* (so groups naming it raise no
    "unknown task" noise) but gets no source: the plan will not build anyway.
    """
    table = TaskTable()
    for i, entry in enumerate(as_list(plan.get(("spec", "tasks")))):
        _add_explicit(plan, paths, ("spec", "tasks", i), as_dict(entry), table, out)
    for j, entry in enumerate(as_list(plan.get(("spec", "taskDirs")))):
        if isinstance(entry, str):
            _discover(plan, paths, ("spec", "taskDirs", j), entry, table, out)
    table.sources = dict(sorted(table.sources.items()))
    return table


def _add_explicit(
    plan: Document, paths: Paths, at: JsonPath, entry: Dict[str, Any],
    table: TaskTable, out: List[Diagnostic],
) -> None:
    name, relative = as_str(entry.get("name")), as_str(entry.get("path"))
    if name is None or relative is None:
        return  # the schema reported it
    directory = _inside(plan, paths, at + ("path",), relative, f"task {name!r}: path", out)
    if directory is None:
        return
    if not directory.is_dir():
        out.append(plan.diagnostic(at + ("path",), (
            f"task {name!r}: {paths.show(directory)} {_not_a_dir(directory)}; point path at the task's directory "
            f"(it holds {FUNCTION_YAML} and the handler module), relative to the plan file"
        )))
        return
    if not os.path.lexists(directory / FUNCTION_YAML):
        out.append(plan.diagnostic(at + ("path",), (
            f"task {name!r}: no {FUNCTION_YAML} in {paths.show(directory)}; add one "
            f"(spec.runtime and spec.handler) or fix the path"
        )))
        return
    _register(plan, paths, name, directory, at + ("name",), table, out)


def _discover(
    plan: Document, paths: Paths, at: JsonPath, relative: str,
    table: TaskTable, out: List[Diagnostic],
) -> None:
    directory = _inside(plan, paths, at, relative, "task directory", out)
    if directory is None:
        return
    if not directory.is_dir():
        out.append(plan.diagnostic(at, (
            f"task directory {paths.show(directory)} {_not_a_dir(directory)}; create it or fix the "
            f"path (relative to the plan file)"
        )))
        return
    scanned = [(directory / name, link) for name, link in scan_subdirs(directory)]
    tasks = {sub for sub, _ in scanned if holds_function_yaml(str(sub), paths.listed)}
    if not tasks:
        out.append(plan.diagnostic(at, (
            f"no task found in {paths.show(directory)}: no subdirectory holds a {FUNCTION_YAML}; "
            f"add tasks there or remove this entry"
        ), severity="warning"))
    for sub, link in scanned:
        if link and not paths.boundary.contains(sub):  # a real subdirectory is as inside as its parent
            out.append(plan.diagnostic(at, leads_outside(paths.show(sub))))
        elif sub in tasks:
            _discovered(plan, paths, at, sub, table, out)
        else:
            _check_not_a_lost_task(plan, paths, at, sub, table, out)


def _discovered(
    plan: Document, paths: Paths, at: JsonPath, sub: Path, table: TaskTable, out: List[Diagnostic],
) -> None:
    if is_dns_label(sub.name):
        _register(plan, paths, sub.name, sub, at, table, out)
        return
    out.append(plan.diagnostic(at, (
        f"{paths.show(sub)} holds a {FUNCTION_YAML}, so it is a task named after the "
        f"directory, but {sub.name!r} is not a valid task name ({DNS_HELP}); rename the "
        f"directory, e.g. to {suggest_dns_label(sub.name)!r}"
    )))


def _check_not_a_lost_task(
    plan: Document, paths: Paths, at: JsonPath, sub: Path, table: TaskTable, out: List[Diagnostic],
) -> None:
    """A subdirectory with Python code (or an editor's copy of a function.yaml) but no
    function.yaml is a task that lost it: an error keeps its function serving, where
    ignoring the directory would delete the function."""
    clues = lost_task_clues(sub)
    if not clues:
        return  # data, docs: not a task
    if is_dns_label(sub.name) and sub.name not in table.defined:
        table.defined[sub.name] = (sub, at)  # defined but broken: groups naming it stay quiet
    out.append(plan.diagnostic(at, (
        f"{paths.show(sub)} holds {clues[0]} but no {FUNCTION_YAML}: a task whose {FUNCTION_YAML} "
        f"is missing (being saved, or lost?); restore it, or move the directory out of "
        f"{paths.show(sub.parent)}. Until then nothing is deployed or deleted"
    )))


def lost_task_clues(sub: "os.PathLike[str] | str") -> List[str]:
    """What in a taskDirs subdirectory without a function.yaml says it is a task that lost it:
    Python modules, an editor's copy of a function.yaml."""
    with os.scandir(sub) as entries:
        return sorted(e.name for e in entries if e.name.endswith(".py") or _YAML_LEFTOVER.match(e.name))


def holds_function_yaml(directory: str, listed: Callable[[str], object] = lambda path: None) -> bool:
    """Is this subdirectory of a ``spec.taskDirs`` entry a task? It is when it holds an entry
    named function.yaml, whatever it is (the checks of the task say what is wrong with it); a
    directory source's revision covers the same. ``listed``: a file it returns something for
    exists (:meth:`Paths.listed`, the snapshot), with no look on the disk."""
    config = f"{directory}/{FUNCTION_YAML}"
    return listed(config) is not None or os.path.lexists(config)


def scan_subdirs(directory: "os.PathLike[str] | str") -> List[Tuple[str, bool]]:
    """The names of a taskDirs entry's subdirectories, sorted, each with whether it is a
    symbolic link (one listing tells both: no look at each)."""
    # Hidden directories (.git, .venv, ...) are never tasks, whatever they hold.
    try:
        with os.scandir(directory) as entries:
            return sorted((e.name, e.is_symlink()) for e in entries if not e.name.startswith(".") and e.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return []  # gone since it was checked (an editor or `watch` racing a save): it holds no task now


def _inside(
    plan: Document, paths: Paths, at: JsonPath, relative: str, what: str, out: List[Diagnostic],
) -> Optional[Path]:
    """The directory a plan path names, or None (reported) when it is unusable."""
    if "\0" in relative:
        out.append(plan.diagnostic(at, f"{what} {relative!r} contains a NUL character; remove it"))
        return None
    directory = paths.resolve(relative)
    if not paths.boundary.contains(directory):
        out.append(plan.diagnostic(at, leads_outside(f"{what} {relative!r}")))
        return None
    return directory


def _not_a_dir(path: Path) -> str:
    return "is not a directory" if path.exists() else "does not exist"


def _register(
    plan: Document, paths: Paths, name: str, directory: Path, at: JsonPath,
    table: TaskTable, out: List[Diagnostic],
) -> None:
    previous = table.defined.get(name)
    if previous is not None:
        # The same directory reached twice (listed and discovered) is the same task.
        first_dir, first_at = previous
        if first_dir.resolve() == directory.resolve() and at[:2] == first_at[:2] == ("spec", "tasks"):
            first_line, _ = plan.where(first_at)
            line, _ = plan.where(at)
            out.append(plan.diagnostic(at, (
                f"task {name!r} is listed twice, at lines {first_line} and {line} (same path); remove one"
            ), severity="warning"))
        elif first_dir.resolve() != directory.resolve():
            line, _ = plan.where(first_at)
            out.append(plan.diagnostic(at, (
                f"duplicate task name {name!r}: {paths.show(directory)} and "
                f"{paths.show(first_dir)} (defined at line {line}, {format_path(first_at)}); "
                f"task names must be unique: rename one"
            )))
        return
    table.defined[name] = (directory, at)
    source = read_task(name, directory, paths, at, out)
    if source is not None:
        table.sources[name] = source


def read_task(name: str, directory: Path, paths: Paths, at: JsonPath, out: List[Diagnostic]) -> Optional[TaskSource]:
    """Load and check one task directory; None if its function.yaml is unusable.

    The directory is checked first (:meth:`Boundary.check_dir`); a directory with a problem is
    not read at all."""
    shown_dir = paths.show(directory)
    listed = paths.plain(directory)
    if listed is not None and _within(listed, paths.limits):
        problems: List[str] = []  # what check_dir would find: no link, no special file, within the limits
    else:
        problems = paths.boundary.check_dir(paths.rules, directory, shown_dir, paths.limits)
    if problems:
        out.extend(Diagnostic(f"task {name!r}: {problem}", shown_dir) for problem in problems)
        return None
    config_path = directory / FUNCTION_YAML
    shown = os.path.join(shown_dir, FUNCTION_YAML)
    try:
        config = _known_config(paths, config_path, shown, listed) or load_text(
            paths.boundary.read_text(config_path, shown, checked=True), shown)
    except DocumentError as e:
        out.append(e.diagnostic)
        return None
    except BoundaryError as e:
        out.append(Diagnostic(str(e), shown))
        return None
    except (OSError, UnicodeDecodeError) as e:
        out.append(Diagnostic(f"cannot read {FUNCTION_YAML}: {e}; make it a readable UTF-8 file", shown))
        return None
    if not isinstance(config.data, dict):
        out.append(config.diagnostic((), (
            f"{FUNCTION_YAML} must be a mapping with metadata and spec, got {kind_of(config.data)}; "
            f"start from `spec: {{runtime: python:3.11, handler: main:handler}}`"
        )))
        return None
    runtime = _check_runtime(config, out)
    checked = _check_handler(config, directory, paths, out)
    _check_env(config, out)
    _check_build_commands(config, out)
    shapes = check_schema(config, FUNCTION_SCHEMA)  # what the fuser merges
    out.extend(shapes)
    if runtime is None or checked is None or shapes:
        return None
    handler, takes_session = checked
    return TaskSource(Task(name, directory, handler, runtime, config.data, takes_session), config, at)


def _within(listed: Tuple[Listed, ...], limits: Limits) -> bool:
    """Do these files keep within a task directory's limits (as :meth:`Boundary.check_dir` counts)?"""
    return len(listed) <= limits.max_files and sum(f.size for f in listed) <= limits.max_bytes


def _known_config(paths: Paths, config_path: Path, shown: str, listed: Optional[Tuple[Listed, ...]]) -> Optional[Document]:
    """The task's function.yaml as parsed before, when the snapshot lists it (a plain file of
    a plain directory, within the size a read takes): then it is not read again."""
    file = paths.listed(config_path) if listed is not None else None
    return known_document(file.digest, shown) if file is not None and file.size <= MAX_YAML_BYTES else None


def _check_runtime(config: Document, out: List[Diagnostic]) -> Optional[str]:
    spec = config.get(("spec",))
    if not isinstance(spec, dict):
        got = "no spec" if spec is None else f"spec is {kind_of(spec)}"
        out.append(config.diagnostic(("spec",), (
            f"{got}; {FUNCTION_YAML} needs a spec mapping with runtime and handler, e.g. "
            f"`spec: {{runtime: python:3.11, handler: main:handler}}`"
        ), key=True))
        return None
    raw = spec.get("runtime")
    if raw is None:
        out.append(config.diagnostic(("spec",), (
            f"spec.runtime is missing; add `runtime: python:3.11` (one of {', '.join(SUPPORTED_RUNTIMES)})"
        ), key=True))
        return None
    if not isinstance(raw, str):
        out.append(config.diagnostic(("spec", "runtime"), (
            f"spec.runtime must be a string like python:3.11, got {kind_of(raw)}; quote it"
        )))
        return None
    return _runtime_verdict(config, raw, out)


def _runtime_verdict(config: Document, raw: str, out: List[Diagnostic]) -> Optional[str]:
    runtime, verdict = normalise_runtime(raw)
    supported = ", ".join(SUPPORTED_RUNTIMES)
    if verdict == "deprecated":
        out.append(config.diagnostic(("spec", "runtime"), (
            f"runtime {raw} is deprecated by Nuclio (it builds with a warning); move to one of {supported}"
        ), severity="warning"))
    elif verdict == "unsupported":
        why = "the fusionizer fuses Python tasks only" if not runtime.startswith("python") else "Nuclio does not build it"
        out.append(config.diagnostic(("spec", "runtime"), (
            f"runtime {raw!r} is not supported ({why}); use one of {supported}"
        )))
        return None
    return runtime


def _check_handler(
    config: Document, directory: Path, paths: Paths, out: List[Diagnostic]
) -> Optional[Tuple[str, bool]]:
    """(handler, whether it takes a requests_session), or None when it is unusable."""
    raw = config.get(("spec", "handler"))
    at: JsonPath = ("spec", "handler")
    if raw is None:
        raw, at = DEFAULT_HANDLER, ("spec",)  # Nuclio's default for main.py
    if not isinstance(raw, str) or not _HANDLER.match(raw):
        out.append(config.diagnostic(at, (
            f"spec.handler {raw!r} is not module:function; write e.g. main:handler "
            f"(module path with dots, then the function name)"
        )))
        return None
    module, function = raw.split(":")
    source = _module_file(directory, module, paths)
    if source is None:
        fix = f"create it or fix spec.handler ({raw})"
        if module.endswith(".py"):  # a common slip: Nuclio wants the module, not the file
            fix = f"write the module without .py: {module[:-3]}:{function}"
        out.append(config.diagnostic(at, (
            f"handler module {module!r} not found: no {module.replace('.', '/')}.py in "
            f"{paths.show(directory)}; {fix}"
        ), key=at == ("spec",)))
        return None
    takes_session = _check_function(config, at, source, function, paths, out)
    return None if takes_session is None else (raw, takes_session)


def _module_file(directory: Path, module: str, paths: Paths) -> Optional[Path]:
    for candidate in module_files(directory, module):
        if paths.listed(candidate) is not None or Path(candidate).is_file():
            return Path(candidate)
    return None


def module_files(directory: "os.PathLike[str] | str", module: str) -> Tuple[str, str]:
    """Where a handler's module (``a.b`` of ``a.b:handler``) may be in its task's directory,
    in the order Python looks: a module file, then a package."""
    base = os.path.join(directory, *module.split("."))
    return f"{base}.py", os.path.join(base, "__init__.py")


def _check_function(
    config: Document, at: JsonPath, source: Path, function: str, paths: Paths, out: List[Diagnostic],
) -> Optional[bool]:
    """None when the handler is missing or cannot be called, else whether it takes a
    requests_session (True when it is not a def: its parameters are unknown)."""
    listed = paths.listed(source)
    known = _HANDLERS.get(f"{listed.digest}:{function}") if listed is not None else None
    if known is not None:
        return bool(known)  # the snapshot's module, checked before: not read again
    raw = _read_module(source, paths, out)
    if raw is None:
        return None
    key = f"{hashlib.sha256(raw).hexdigest()}:{function}"
    known = _HANDLERS.get(key)
    if known is not None:
        return bool(known)
    tree = _parse_module(raw, source, paths, out)
    if tree is None:
        return None
    binding = _top_level_binding(tree, function)
    if binding is None:
        out.append(config.diagnostic(at, (
            f"{paths.show(source)} defines no top-level {function!r}; define `def {function}(context, event):` "
            f"there or fix spec.handler"
        ), key=at == ("spec",)))
        return None
    if not isinstance(binding, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return True
    if not _callable_as_handler(binding.args):
        out.append(Diagnostic(
            f"handler {function!r} cannot be called as {function}(context, event) or "
            f"{function}(context, event, requests_session); fix its parameters",
            paths.show(source), binding.lineno, binding.col_offset + 1,
        ))
        return None
    # As the runtime decides it: three or more positional parameters.
    takes_session = len(binding.args.posonlyargs) + len(binding.args.args) >= 3
    _HANDLERS.put(key, takes_session)
    return takes_session


def _read_module(source: Path, paths: Paths, out: List[Diagnostic]) -> Optional[bytes]:
    try:
        return source.read_bytes()
    except OSError as e:
        out.append(_unreadable_module(source, paths, e))
    return None


def _parse_module(raw: bytes, source: Path, paths: Paths, out: List[Diagnostic]) -> Optional[ast.Module]:
    try:
        return ast.parse(raw, filename=str(source))
    except SyntaxError as e:
        out.append(Diagnostic(
            f"handler module has a syntax error: {e.msg}; fix it (the function cannot load)",
            paths.show(source), e.lineno or 1, e.offset or 1,
        ))
    except ValueError as e:  # NUL bytes in the source
        out.append(_unreadable_module(source, paths, e))
    return None


def _unreadable_module(source: Path, paths: Paths, error: Exception) -> Diagnostic:
    return Diagnostic(f"cannot read handler module: {error}; make it a readable Python source file",
                      paths.show(source))


def _top_level_binding(tree: ast.Module, name: str) -> Optional[ast.stmt]:
    """The last top-level statement that binds ``name`` (def, class, assignment or import)."""
    found: Optional[ast.stmt] = None
    for stmt in tree.body:
        if name in _names_bound(stmt):
            found = stmt
    return found


def _names_bound(stmt: ast.stmt) -> Tuple[str, ...]:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return (stmt.name,)
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return tuple((a.asname or a.name).split(".")[0] for a in stmt.names)
    targets: List[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    return tuple(t.id for t in targets if isinstance(t, ast.Name))


def _callable_as_handler(args: ast.arguments) -> bool:
    positional = len(args.posonlyargs) + len(args.args)
    required = positional - len(args.defaults)
    required_kwonly = sum(1 for d in args.kw_defaults if d is None)
    if required_kwonly:
        return False
    return any(required <= n and (n <= positional or args.vararg is not None) for n in (2, 3))


def _check_env(config: Document, out: List[Diagnostic]) -> None:
    env = config.get(("spec", "env"))
    if env is None:
        return
    if not isinstance(env, list):
        out.append(config.diagnostic(("spec", "env"), (
            f"spec.env must be a list of {{name, value}} entries (Nuclio does not take a map here), "
            f"got {kind_of(env)}; write `- name: X` / `  value: \"1\"`"
        )))
        return
    for i, entry in enumerate(env):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            out.append(config.diagnostic(("spec", "env", i), (
                "an env entry needs a name and a value (or valueFrom); write `- name: X` / `  value: \"1\"`"
            )))
            continue
        _check_env_entry(config, ("spec", "env", i), entry, out)


def _check_env_entry(config: Document, at: JsonPath, entry: Dict[str, Any], out: List[Diagnostic]) -> None:
    """What no process environment can hold: a name with '=' or NUL, a value with NUL."""
    name = entry["name"]
    if not name or "=" in name or "\0" in name:
        out.append(config.diagnostic(at + ("name",), (
            f"env name {name!r} cannot be set in a process environment (it is empty or holds '=' "
            f"or a NUL character); use letters, digits and '_', e.g. API_URL"
        )))
    value = entry.get("value")
    if isinstance(value, str) and "\0" in value:
        out.append(config.diagnostic(at + ("value",), (
            f"the value of env {name!r} holds a NUL character, which no process environment can "
            f"carry; remove it"
        )))


def _check_build_commands(config: Document, out: List[Diagnostic]) -> None:
    commands = config.get(("spec", "build", "commands"))
    if commands is None:
        return
    if not isinstance(commands, list) or not all(isinstance(c, str) for c in commands):
        out.append(config.diagnostic(("spec", "build", "commands"), (
            "spec.build.commands must be a list of shell commands (strings), e.g. "
            "`- pip install requests`"
        )))
        return
    for i, command in enumerate(commands):
        if "\0" in command:
            out.append(config.diagnostic(("spec", "build", "commands", i), (
                "this build command holds a NUL character, which no shell can run; remove it"
            )))


def env_of(source: TaskSource) -> Dict[str, Tuple[Any, JsonPath]]:
    """The task's env as {name: (definition without the name, where it is)}; last one wins."""
    result: Dict[str, Tuple[Any, JsonPath]] = {}
    for i, entry in enumerate(as_list(source.config.get(("spec", "env")))):
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            rest = {k: v for k, v in entry.items() if k != "name"}
            result[entry["name"]] = (rest, ("spec", "env", i))
    return result
