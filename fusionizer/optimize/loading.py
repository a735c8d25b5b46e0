"""Loading the plan's optimizer (``spec.optimizer``), and checking it for ``validate``.

``class: module:Class`` names a module next to the plan (``module.py`` or a package
``module/`` in the plan's directory), else an installed one (``fusionizer.optimize:StaticOptimizer``).
A module next to the plan is imported with the plan's directory first on ``sys.path``, then
every module that import loaded from the plan's directory is taken out of ``sys.modules``
again and whatever it shadowed is put back: two plans may both have an ``optimizer.py``,
and each gets its own. (A module the optimizer imports later, inside a method, is not
found then: import at the top.) No bytecode is written into the plan's directory.

The import and the constructor (``Class(**options)``) run with a time limit, like
``propose`` (:mod:`~fusionizer.optimize.running`). Every way an optimizer can break is an
:class:`OptimizerError` with its ``kind``; a plan without ``spec.optimizer`` gets the
built-in :class:`~fusionizer.optimize.feedback.FeedbackOptimizer`.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, List, Mapping, Optional, TypeVar

from fusionizer.errors import Diagnostic, FusionizerError
from fusionizer.optimize.api import Optimizer
from fusionizer.plan.documents import DocumentError, JsonPath, load_document
from fusionizer.plan.model import OptimizerSpec, Plan

DEFAULT_TIMEOUT_S = 10.0
FEEDBACK = OptimizerSpec("fusionizer.optimize.feedback:FeedbackOptimizer")

T = TypeVar("T")

# sys.path, sys.modules and sys.dont_write_bytecode are process-wide: one import at a time.
_IMPORT_LOCK = threading.Lock()


class OptimizerError(FusionizerError):
    """An optimizer that cannot be used; ``kind`` says how it broke."""

    KINDS = ("import", "class", "protocol", "options", "exception", "invalid", "timeout")

    def __init__(self, kind: str, message: str) -> None:
        assert kind in self.KINDS, kind
        self.kind = kind
        super().__init__(message)


def spec_of(plan: Plan) -> OptimizerSpec:
    """The plan's optimizer, or the built-in feedback optimizer."""
    return plan.optimizer or FEEDBACK


def load_optimizer(plan: Plan, timeout_s: float = DEFAULT_TIMEOUT_S) -> Optimizer:
    """The plan's optimizer, built with its options; OptimizerError if it cannot be."""
    spec = spec_of(plan)
    cls = optimizer_class(plan.root, spec.class_path, timeout_s)
    return build(cls, spec, timeout_s)


def optimizer_class(root: Path, class_path: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> type:
    """The class ``class_path`` names, looked up next to the plan at ``root`` first."""
    module_name, _, attribute = class_path.partition(":")
    try:
        module = within(timeout_s, lambda: import_module(root, module_name, timeout_s / 2), f"importing {module_name}")
    except OptimizerError:
        raise
    except (Exception, SystemExit) as exc:  # the user's module may raise anything (sys.exit too) while it loads
        raise OptimizerError("import", f"cannot import {module_name} {_where(root, module_name)}: "
                                       f"{type(exc).__name__}: {exc}") from None
    found = getattr(module, attribute, None)
    if found is None:
        classes = sorted(n for n, v in vars(module).items() if inspect.isclass(v) and v.__module__ == module.__name__)
        listed = f"; it defines: {', '.join(classes)}" if classes else ""
        raise OptimizerError("class", f"module {module_name} has no {attribute}{listed}")
    if not inspect.isclass(found):
        raise OptimizerError("class", f"{class_path} is a {type(found).__name__}, not a class")
    if not callable(getattr(found, "propose", None)):
        raise OptimizerError("protocol", (
            f"{class_path} has no propose(given) method; an optimizer implements "
            f"fusionizer.optimize.Optimizer: propose(OptimizerInput) -> Proposal"))
    return found


def build(cls: type, spec: OptimizerSpec, timeout_s: float = DEFAULT_TIMEOUT_S) -> Optimizer:
    """``cls(**options)``; OptimizerError("options") when the options do not suit it."""
    options = dict(spec.options)
    try:
        instance: Optimizer = within(timeout_s, lambda: cls(**options), f"{spec.class_path}(**options)")
    except OptimizerError:
        raise
    except (Exception, SystemExit) as exc:
        raise OptimizerError("options", f"{spec.class_path}(**options) failed: {type(exc).__name__}: {exc}") from None
    return instance


def import_module(root: Path, name: str, wait_s: float = DEFAULT_TIMEOUT_S) -> ModuleType:
    """``name``, from ``root`` when its top-level package is there, without leaving it in
    ``sys.modules``; else the ordinary import. Waits ``wait_s`` at most for another such
    import to finish (one that overran its time limit holds the way until it ends)."""
    top = name.partition(".")[0]
    if not ((root / top).is_dir() or (root / f"{top}.py").is_file()):
        return importlib.import_module(name)
    if not _IMPORT_LOCK.acquire(timeout=wait_s):
        raise OptimizerError("timeout", (
            f"cannot import {name}: another optimizer module is still being imported (it overran "
            f"its time limit); try again once it is done, or restart the fusionizer"))
    try:
        return _import_isolated(os.path.normpath(str(root)), name, top)
    finally:
        _IMPORT_LOCK.release()


def _import_isolated(directory: str, name: str, top: str) -> ModuleType:
    """Import ``name`` with ``directory`` first on sys.path; then take every module loaded
    from ``directory`` out of sys.modules again and put back what ``top`` shadowed."""
    shadowed = {k: v for k, v in sys.modules.items() if k == top or k.startswith(top + ".")}
    for key in shadowed:
        del sys.modules[key]
    before = set(sys.modules)
    sys.path.insert(0, directory)
    bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        importlib.invalidate_caches()
        return importlib.import_module(name)
    finally:
        sys.dont_write_bytecode = bytecode
        sys.path.remove(directory)
        for key in set(sys.modules) - before:
            if _inside(sys.modules[key], directory):
                del sys.modules[key]
        sys.modules.update(shadowed)


def _inside(module: Optional[ModuleType], directory: str) -> bool:
    where = getattr(module, "__file__", None)
    return isinstance(where, str) and os.path.normpath(where).startswith(directory + os.sep)


def _where(root: Path, module_name: str) -> str:
    top = module_name.partition(".")[0]
    if (root / top).is_dir() or (root / f"{top}.py").is_file():
        return f"(next to the plan, in {root})"
    return f"(no {top}.py or {top}/ next to the plan in {root}, nor an installed module)"


def within(limit_s: float, work: Callable[[], T], what: str) -> T:
    """``work()``'s result, or OptimizerError("timeout") after ``limit_s``. The thread of
    work that overruns cannot be stopped: it is left to finish, and its result is dropped."""
    result: List[T] = []
    failure: List[BaseException] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # handed to the caller below
            failure.append(exc)

    worker = threading.Thread(target=run, name="fusionizer-optimizer", daemon=True)
    worker.start()
    worker.join(limit_s)
    if worker.is_alive():
        raise OptimizerError("timeout", f"{what} took longer than {limit_s:g} s")
    if failure:
        raise failure[0]
    return result[0]


def check_optimizer(plan: Plan, shown: Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> List[Diagnostic]:
    """For ``validate``: the plan's ``spec.optimizer`` is importable, its class exists,
    implements the protocol and takes the options. Runs the user's module (import and
    constructor); nothing else."""
    if plan.optimizer is None:
        return []
    try:
        load_optimizer(plan, timeout_s)
    except OptimizerError as exc:
        at: JsonPath = ("spec", "optimizer", "options" if exc.kind == "options" else "class")
        return [_diagnostic(plan.file, shown, at, f"optimizer: {exc}")]
    return []


def _diagnostic(file: Path, shown: Path, at: JsonPath, message: str) -> Diagnostic:
    try:
        doc = load_document(file.read_text(encoding="utf-8"), str(shown))
    except (OSError, UnicodeDecodeError, DocumentError):
        return Diagnostic(message, str(shown))
    known: Mapping[str, Any] = doc.get(at[:-1]) or {}
    return doc.diagnostic(at if at[-1] in known else at[:-1], message)
