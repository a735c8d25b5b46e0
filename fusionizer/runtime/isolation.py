"""Keep each fused task's Python modules its own inside one process.

``sys.modules`` is process-wide: two tasks that both ``import util`` would share the first
one's module. Unfused, each task's directory is the function root; fused, every task's
files sit under ``tasks/<task>/`` and each must still import its own ``main``, ``util``,
packages and submodules, both at load time and lazily inside handler code at call time.

How (and why this way):

1. Before loading, every task directory is scanned for the top-level names it can import
   (``*.py``, extension modules, packages). A name offered by two or more tasks is
   *shared*; so is every submodule of a shared package.
2. Each task is imported with its directory first on ``sys.path`` and the shared names
   removed from ``sys.modules``, so its load-time imports find its own files. The
   modules whose files lie under the task's directory are captured; the shared ones are
   taken out of ``sys.modules`` and kept per task. Module-level ``import util`` therefore
   binds the task's real module: no indirection, no cost.
3. After loading, each shared name gets a stand-in in ``sys.modules``
   (:class:`SharedModule`) that forwards every attribute access to the module of the
   task whose code is asking. The asking task is read from the call stack (the innermost
   frame whose code file lies in a task directory), so it is right for nested calls
   (A calls B in-process, B's frames are innermost), for concurrent requests on other
   threads, and for threads a task starts itself. Modules a task imports lazily are
   loaded on first use, from that task's directory.
4. A meta-path finder serves lazy imports of names only one task offers, from that
   task's directory, and refuses them to the other tasks (unfused, they would not see
   the file either).

Nothing runs per call: a function whose tasks share no module names pays nothing, and
with shared names only attribute access on a lazily imported shared module pays a short
stack walk (cached per code file). Swapping modules in and out of ``sys.modules`` around
each call was rejected: it is wrong as soon as two requests run concurrently.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import threading
import types
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple

_SUFFIXES: Tuple[str, ...] = tuple(
    sorted(
        set(importlib.machinery.SOURCE_SUFFIXES)
        | set(importlib.machinery.EXTENSION_SUFFIXES)
        | set(importlib.machinery.BYTECODE_SUFFIXES),
        key=len,
        reverse=True,  # ".cpython-311-x86_64-linux-gnu.so" before ".so"
    )
)
_UNKNOWN = "\x00"  # cache marker: "not looked up yet" (no task can have this name)


@dataclass(frozen=True)
class TaskDir:
    """A task's name and the absolute directory its code lives in."""

    name: str
    path: str


def _module_name(filename: str) -> Optional[str]:
    for suffix in _SUFFIXES:
        if filename.endswith(suffix):
            stem = filename[: -len(suffix)]
            return stem if stem.isidentifier() else None
    return None


def _is_package_dir(path: str) -> bool:
    """A regular package, or a namespace directory holding Python files directly (a bare
    data directory must not shadow an installed package of the same name)."""
    try:
        names = os.listdir(path)
    except OSError:
        return False
    return any(_module_name(name) is not None for name in names)


def _scan(directory: str, prefix: str, recursive: bool) -> Set[str]:
    """Importable module names in ``directory`` (dotted below ``prefix``)."""
    found: Set[str] = set()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return found
    for entry in entries:
        if entry.is_dir():
            if not entry.name.isidentifier() or not _is_package_dir(entry.path):
                continue
            name = prefix + entry.name
            found.add(name)
            if recursive:
                found |= _scan(entry.path, name + ".", True)
        else:
            stem = _module_name(entry.name)
            if stem is not None and stem != "__init__":
                found.add(prefix + stem)
    return found


def _top(name: str) -> str:
    return name.partition(".")[0]


class NotAvailable(AttributeError):
    """A shared module name that the asking code has no module for.

    An AttributeError on purpose: code that probes every entry of ``sys.modules``
    (``inspect.getmodule``, ``pickle.whichmodule``, ``hasattr(m, "__file__")``) must get
    "no such attribute", not a crash; ``from util import x`` turns it into ImportError.
    """


class SharedModule(types.ModuleType):
    """Stands in ``sys.modules`` for a name several tasks define; every attribute access
    goes to the module of the task whose code is asking."""

    def __init__(self, name: str, isolation: "ModuleIsolation") -> None:
        super().__init__(name)
        # Stored through ModuleType's own setattr: ours forwards to the real module.
        types.ModuleType.__setattr__(self, "_fusionizer_isolation", isolation)
        types.ModuleType.__setattr__(self, "_fusionizer_name", name)

    def _fusionizer_real(self, frame: Optional[types.FrameType]) -> types.ModuleType:
        isolation: ModuleIsolation = types.ModuleType.__getattribute__(
            self, "_fusionizer_isolation"
        )
        name: str = types.ModuleType.__getattribute__(self, "_fusionizer_name")
        return isolation.resolve(name, frame)

    def __getattribute__(self, attr: str) -> Any:
        frame = sys._getframe(1)
        real = SharedModule._fusionizer_real(self, frame)
        try:
            return getattr(real, attr)
        except AttributeError:
            # "import pkg.sub" found our stand-in for pkg.sub, so the import system did
            # not set pkg.sub on the real pkg: load it now for the asking task.
            isolation: ModuleIsolation = types.ModuleType.__getattribute__(
                self, "_fusionizer_isolation"
            )
            child = isolation.child(real.__name__, attr, frame)
            if child is None:
                raise
            return child

    def __setattr__(self, attr: str, value: Any) -> None:
        setattr(SharedModule._fusionizer_real(self, sys._getframe(1)), attr, value)

    def __delattr__(self, attr: str) -> None:
        delattr(SharedModule._fusionizer_real(self, sys._getframe(1)), attr)

    def __dir__(self) -> List[str]:
        try:
            return dir(SharedModule._fusionizer_real(self, sys._getframe(1)))
        except NotAvailable:
            return []

    def __repr__(self) -> str:
        try:
            return repr(SharedModule._fusionizer_real(self, sys._getframe(1)))
        except NotAvailable:
            name = types.ModuleType.__getattribute__(self, "_fusionizer_name")
            return f"<module {name!r} (one per fused task)>"


class _TaskFinder(importlib.abc.MetaPathFinder):
    """Lazy imports of top-level names exactly one task offers, served from its dir."""

    def __init__(self, isolation: "ModuleIsolation") -> None:
        self._isolation = isolation

    def find_spec(
        self,
        fullname: str,
        path: Optional[Sequence[str]],
        target: Optional[types.ModuleType] = None,
    ) -> Optional[importlib.machinery.ModuleSpec]:
        if path is not None:
            return None  # submodules: the parent package's __path__ already points home
        return self._isolation.unique_spec(fullname, sys._getframe(1), target)


class ModuleIsolation:
    """Loads tasks' handler modules so that each task imports its own files."""

    def __init__(self, tasks: Sequence[TaskDir]) -> None:
        self._dirs: Dict[str, str] = {task.name: task.path for task in tasks}
        # Longest directory first, so a task dir nested in another's resolves correctly.
        self._prefixes: Tuple[Tuple[str, str], ...] = tuple(
            sorted(
                ((os.path.join(task.path, ""), task.name) for task in tasks),
                key=lambda item: len(item[0]),
                reverse=True,
            )
        )
        preexisting = frozenset(sys.modules)
        offers = {task.name: _scan(task.path, "", recursive=False) for task in tasks}
        owners: Dict[str, List[str]] = {}
        for task_name, names in offers.items():
            for name in names:
                if name not in preexisting:  # already imported: nobody's file is used
                    owners.setdefault(name, []).append(task_name)
        self._shared_top: FrozenSet[str] = frozenset(n for n, t in owners.items() if len(t) > 1)
        self._unique_owner: Dict[str, str] = {n: t[0] for n, t in owners.items() if len(t) == 1}
        self._shared: Set[str] = set()
        for task in tasks:
            for name in self._shared_top & offers[task.name]:
                self._shared.add(name)
                self._shared |= _scan(os.path.join(task.path, name), name + ".", True)
        self._modules: Dict[str, Dict[str, types.ModuleType]] = {t.name: {} for t in tasks}
        self._captured: Dict[str, Dict[str, types.ModuleType]] = {t.name: {} for t in tasks}
        self._file_owner: Dict[str, Optional[str]] = {}
        self._lock = threading.RLock()
        # (task, name) of lazy loads whose module code is still running: other threads
        # must wait for it (under _lock) instead of using the half-made module.
        self._loading: Set[Tuple[str, str]] = set()
        self._finder = _TaskFinder(self)
        self._stand_ins: Dict[str, SharedModule] = {}

    # -- loading ---------------------------------------------------------------------

    def load(self, task: str, module_name: str) -> types.ModuleType:
        """Import ``module_name`` (dotted) as ``task`` sees it; returns the module."""
        path = self._dirs[task]
        for name in self._shared:
            sys.modules.pop(name, None)  # the previous task's copies must not be found
        before = frozenset(sys.modules)
        sys.path.insert(0, path)
        try:
            module = __import__(module_name)
            for part in module_name.split(".")[1:]:
                module = getattr(module, part)
            return module
        finally:
            if path in sys.path:
                sys.path.remove(path)
            self._capture(task, before)

    def _capture(self, task: str, before: FrozenSet[str]) -> None:
        for name in set(sys.modules) - before:
            module = sys.modules.get(name)
            if module is None or not self._owned_by(task, module):
                continue
            self._captured[task][name] = module
            if _top(name) in self._shared_top:
                self._shared.add(name)
                self._modules[task][name] = module
                del sys.modules[name]

    def _owned_by(self, task: str, module: types.ModuleType) -> bool:
        filename = getattr(module, "__file__", None)
        if isinstance(filename, str):
            return self.task_of_path(filename) == task
        locations: Iterable[Any] = getattr(module, "__path__", None) or ()
        return any(isinstance(p, str) and self.task_of_path(p + os.sep) == task for p in locations)

    def captured(self, task: str) -> Dict[str, types.ModuleType]:
        """Every module loaded from ``task``'s directory so far, by name."""
        return dict(self._captured[task])

    def install(self) -> None:
        """After all tasks are loaded: stand-ins for shared names, the lazy finder."""
        for name in sorted(self._shared):
            if name in sys.modules:
                continue  # imported from elsewhere (not a task file): leave it alone
            stand_in = SharedModule(name, self)
            self._stand_ins[name] = stand_in
            sys.modules[name] = stand_in
        if self._finder not in sys.meta_path:
            sys.meta_path.insert(0, self._finder)

    def uninstall(self) -> None:
        """Undo :meth:`install` (tests, or a process that drops a dispatcher)."""
        for name, stand_in in self._stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
        self._stand_ins.clear()
        if self._finder in sys.meta_path:
            sys.meta_path.remove(self._finder)

    # -- which task is asking ----------------------------------------------------------

    def task_of_path(self, path: str) -> Optional[str]:
        for prefix, name in self._prefixes:
            if path.startswith(prefix):
                return name
        return None

    def task_of_frame(self, frame: Optional[types.FrameType]) -> Optional[str]:
        """The task whose code is innermost on this stack, if any."""
        owners = self._file_owner
        while frame is not None:
            filename = frame.f_code.co_filename
            owner = owners.get(filename, _UNKNOWN)
            if owner == _UNKNOWN:
                owner = self.task_of_path(filename)
                owners[filename] = owner
            if owner is not None:
                return owner
            frame = frame.f_back
        return None

    # -- resolution ----------------------------------------------------------------------

    def resolve(self, name: str, frame: Optional[types.FrameType]) -> types.ModuleType:
        """The real module ``name`` for the task whose code runs at ``frame``."""
        task = self.task_of_frame(frame)
        if task is None:
            task = self._only_holder(name)
        module = self._modules[task].get(name)
        if module is not None and (task, name) not in self._loading:
            return module
        return self._load_lazily(task, name)

    def child(self, parent: str, attr: str, frame: Optional[types.FrameType]) -> Optional[Any]:
        """Submodule ``parent.attr`` for the asking task, if it is a shared module."""
        name = f"{parent}.{attr}"
        if name not in self._shared:
            return None
        try:
            return self.resolve(name, frame)
        except NotAvailable:
            return None

    def _only_holder(self, name: str) -> str:
        holders = [task for task, modules in self._modules.items() if name in modules]
        if len(holders) == 1:
            return holders[0]
        raise NotAvailable(
            f"module {name!r} is defined by several fused tasks and the code asking for it "
            "is not part of any task; import it from the task's own code"
        )

    def _load_lazily(self, task: str, name: str) -> types.ModuleType:
        with self._lock:
            module = self._modules[task].get(name)
            if module is not None:
                return module  # loaded while we waited, or partial: a circular import
            parent_name, _, child = name.rpartition(".")
            parent: Optional[types.ModuleType] = None
            if parent_name:
                parent = self._modules[task].get(parent_name) or self._load_lazily(task, parent_name)
                search = list(getattr(parent, "__path__", None) or ())
                if not search:
                    raise NotAvailable(f"No module named {name!r} in task {task!r}: {parent_name!r} is not a package")
            else:
                search = [self._dirs[task]]
            spec = importlib.machinery.PathFinder.find_spec(name, search)
            if spec is None:
                raise NotAvailable(f"No module named {name!r} in task {task!r}")
            module = importlib.util.module_from_spec(spec)
            # Registered before running it, so circular imports find the partial module.
            self._loading.add((task, name))
            self._modules[task][name] = module
            self._captured[task][name] = module
            try:
                if spec.loader is not None:
                    spec.loader.exec_module(module)
            except BaseException:
                del self._modules[task][name]
                del self._captured[task][name]
                raise
            finally:
                self._loading.discard((task, name))
            if parent is not None:
                setattr(parent, child, module)
            return module

    def unique_spec(
        self, name: str, frame: Optional[types.FrameType], target: Optional[types.ModuleType]
    ) -> Optional[importlib.machinery.ModuleSpec]:
        """Spec for a lazy import of a name one task offers; None for anyone else."""
        owner = self._unique_owner.get(name)
        if owner is None:
            return None
        asking = self.task_of_frame(frame)
        if asking is not None and asking != owner:
            return None  # unfused, the asking task would not see the owner's file
        return importlib.machinery.PathFinder.find_spec(name, [self._dirs[owner]], target)
