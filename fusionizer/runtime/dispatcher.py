"""The entry point of a fused function: one Nuclio handler that serves several tasks.

The generated ``_fusionizer_entry.py`` (``layout.ENTRY_SOURCE``) builds one
:class:`Dispatcher` from the function directory and exposes its ``init_context`` and
``handler``. For each request the dispatcher:

- picks the task named by header ``Task-Name`` (case-insensitive; a ``bytes`` name and
  value too, as they arrive with ``NUCLIO_PYTHON_DECODE_EVENT_STRINGS`` disabled); a
  missing or unknown task is answered 400/404 with a body that names the tasks served;
- always gives the task ``Fusionizer-Server-Address`` (host only) and
  ``Fusionizer-Server-Url`` (base URL) unless the request already carries them: from env
  ``FUSIONIZER_SERVER_URL``, or with no server configured ``127.0.0.1`` and
  ``http://127.0.0.1:8000`` (``routing.OFFLINE``: calls to tasks fused here still answer,
  calls that would leave the function answer 503 naming ``serverUrl``). They are added
  in the event's own kind: ``bytes`` names and values in a raw event;
- calls ``handler(context, event)`` or ``handler(context, event, requests_session)``
  (three positional parameters: the original Fusionizer contract) with that task's own
  Context: own ``user_data``, a logger named ``<parent>.<task>`` bound to ``task=<name>``,
  and ``platform`` replaced by an :class:`~.interception.InterceptingPlatform`; the
  event is the task's as it arrived (nothing decoded, nothing converted);
- returns the handler's raw output, so Nuclio's wrapper converts it (and awaits it if it
  is a coroutine) exactly as for an unfused function.

``requests`` is imported (``session``) only when a task takes a ``requests_session``:
Nuclio's Python image does not have it, and the fuser installs it for exactly those
functions (a build command). Without it such a function fails to start, saying so.

Each task's ``init_context(context)`` (looked up in the module of its handler, as the
wrapper does) runs once, with that task's Context; ``Dispatcher.init_context`` is an
``async`` function when any task's is, so the wrapper awaits it on its own loop.

Calls between tasks of this function are answered in-process through :meth:`call_local`
(see ``interception``). Every call a task makes, in-process or not, is recorded as a
:class:`TraceEdge`, and every request the function serves as a :class:`ServedRequest`, each
in a bounded deque (``TRACE_LIMIT``). A call is *synchronous* when the caller's own
invocation makes it (its thread, or its coroutine's task) and so waits for it; a call made
from a thread the handler started (a fan-out, a fire-and-forget) is not. A request naming
the task ``layout.TRACES_TASK`` is answered with both, as JSON (:meth:`traces_payload`),
before any task is looked up. Task modules are kept apart by ``isolation``.

``Dispatcher.handler`` is a plain function whose ``__module__`` is the generated entry
module: Nuclio's wrapper looks ``init_context`` up in ``sys.modules[handler.__module__]``,
which for a bound method would be this module, and the tasks would never be initialised.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import inspect
import json
import logging
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, Mapping, NamedTuple, Optional, Tuple, Union

import nuclio_sdk

from .conversion import HttpResult, result_from_call
from .coroutines import run_sync
from .events import decodes_event_strings
from .headers import get_header, header_str
from .interception import InterceptingPlatform
from .isolation import ModuleIsolation, TaskDir
from .layout import (
    DEFAULT_HANDLER,
    ENV_SERVER_URL,
    HANDLER_REGEX,
    HEADER_SERVER_ADDRESS,
    HEADER_SERVER_URL,
    HEADER_TASK,
    HEADER_TRACES_SINCE,
    MANIFEST,
    REQUESTS_BUILD_COMMAND,
    TRACES_TASK,
)
from .routing import OFFLINE, Router, ServerAddress, contract_url, server_address
from .trust import ENV_SECRET, caller_token, enter_request, outbound_headers

# Nuclio's wrapper accepts exactly these handler strings (``_load_entrypoint_from_handler``).
HANDLER_PATTERN = re.compile(HANDLER_REGEX)
TRACE_LIMIT = 10_000
# Distinct servers named by request headers that are remembered (and routed); beyond
# this, headers are still filled in but nothing more is learned (no unbounded growth).
KNOWN_SERVER_LIMIT = 64
# Outputs that cannot be coroutines: skips asyncio.iscoroutine on the in-process hot path.
_PLAIN_OUTPUTS = frozenset({dict, str, bytes, tuple, list, type(None)})
_RAW_TASK = HEADER_TASK.encode()
_RAW_ADDRESS = HEADER_SERVER_ADDRESS.encode()
_RAW_URL = HEADER_SERVER_URL.encode()


class DispatcherError(RuntimeError):
    """The fused function cannot start: bad manifest, a task that fails to load or init."""


@dataclass(frozen=True)
class TaskSpec:
    """One task of the fused function, as the manifest describes it."""

    name: str
    directory: str  # absolute
    handler: str  # "module.sub:function"


@dataclass(frozen=True)
class Manifest:
    """``fusion.json``: which tasks this function serves, and where their code is."""

    plan: str
    function: str
    tasks: Tuple[TaskSpec, ...]

    @classmethod
    def read(cls, build_dir: str) -> "Manifest":
        path = os.path.join(build_dir, MANIFEST)
        try:
            with open(path, encoding="utf-8") as handle:
                raw = json.load(handle)
        except (OSError, ValueError) as exc:
            raise DispatcherError(f"cannot read {path}: {exc}") from exc
        tasks = raw.get("tasks") if isinstance(raw, dict) else None
        if not isinstance(tasks, dict) or not tasks:
            raise DispatcherError(f"{path}: 'tasks' must be a non-empty object")
        specs = tuple(_task_spec(build_dir, name, entry, path) for name, entry in tasks.items())
        return cls(plan=str(raw.get("plan", "")), function=str(raw.get("function", "")), tasks=specs)


def _task_spec(build_dir: str, name: Any, entry: Any, path: str) -> TaskSpec:
    if not isinstance(name, str) or not isinstance(entry, dict) or not isinstance(entry.get("dir"), str):
        raise DispatcherError(f"{path}: task {name!r} needs {{'dir': str, 'handler': str}}")
    directory = os.path.abspath(os.path.join(build_dir, entry["dir"]))
    if not os.path.isdir(directory):
        raise DispatcherError(f"{path}: directory of task {name!r} not found: {directory}")
    handler = entry.get("handler") or DEFAULT_HANDLER
    if not isinstance(handler, str) or not HANDLER_PATTERN.match(handler):
        raise DispatcherError(f"{path}: malformed handler of task {name!r}: {handler!r}")
    return TaskSpec(name=name, directory=directory, handler=handler)


class TraceEdge(NamedTuple):
    """One task-to-task call, for the feedback optimizer. Immutable; a NamedTuple rather
    than a frozen dataclass because one is built per call (0.2 us instead of 0.6 us)."""

    caller: str
    callee: str
    local: bool  # answered in-process
    duration_s: float
    ts: float  # wall-clock start, seconds since the epoch
    sync: bool = True  # made by the caller's own invocation, which waited for it


class ServedRequest(NamedTuple):
    """One request the function served (how long the task's handler took)."""

    task: str
    duration_s: float
    ts: float  # wall-clock start, seconds since the epoch


def takes_session(handler: Callable[..., Any]) -> bool:
    """True for ``handler(context, event, requests_session)``: three positional params."""
    try:
        parameters = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in parameters if p.kind in positional) >= 3


def task_logger(parent: Any, task: str) -> Any:
    """A child of the function's logger, named and bound per task; its records go through
    the parent's handlers (stdout locally, the processor socket in Nuclio)."""
    inner = getattr(parent, "_logger", None)
    if not isinstance(parent, nuclio_sdk.Logger) or not isinstance(inner, logging.Logger):
        return parent
    child = nuclio_sdk.Logger(logging.NOTSET, name=f"{inner.name}.{task}")
    child.bind(**dict(getattr(parent, "_bound_variables", {}) or {}))
    child.bind(task=task)
    return child


class _Task:
    """A loaded task and its per-task runtime state."""

    __slots__ = ("spec", "handler", "with_session", "init", "context", "session")

    def __init__(self, spec: TaskSpec, handler: Callable[..., Any], init: Optional[Callable[..., Any]]) -> None:
        self.spec = spec
        self.handler = handler
        self.with_session = takes_session(handler)
        self.init = init
        self.context: Any = None
        self.session: Any = None  # a session.InterceptingSession, for 3-parameter handlers

    def invoke(self, event: Any) -> Any:
        if self.with_session:
            return self.handler(self.context, event, self.session)
        return self.handler(self.context, event)

    def run(self, event: Any) -> Any:
        """The handler's output for ``event``, a coroutine's awaited."""
        output = self.invoke(event)
        if type(output) not in _PLAIN_OUTPUTS and asyncio.iscoroutine(output):
            output = run_sync(output)
        return output


def _session_class(tasks: Iterable[_Task]) -> Any:
    """``session.InterceptingSession`` when a task takes a ``requests_session``, imported
    only then: it needs ``requests``, which Nuclio's image does not have."""
    wanting = sorted(task.spec.name for task in tasks if task.with_session)
    if not wanting:
        return None
    try:
        from .session import InterceptingSession
    except ImportError as exc:
        raise DispatcherError(
            f"task(s) {', '.join(wanting)} take a requests_session, which needs the 'requests' "
            f"package ({exc}); add `{REQUESTS_BUILD_COMMAND}` to spec.build.commands "
            f"(the fuser adds it to the functions it builds)"
        ) from exc
    return InterceptingSession


def _init_is_async(task: _Task) -> bool:
    return task.init is not None and asyncio.iscoroutinefunction(task.init)


class Dispatcher:
    """Serves every task of a fused function from one Nuclio handler."""

    init_context: Callable[[Any], Any]
    handler: Callable[[Any, Any], Any]

    def __init__(
        self,
        manifest: Manifest,
        environ: Optional[Mapping[str, str]] = None,
        entry_module: Optional[str] = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.manifest = manifest
        self._default = server_address(env.get(ENV_SERVER_URL, ""))
        secret = env.get(ENV_SECRET, "")
        self._secret = secret.encode() if secret and self._default is not None else None
        self._token = caller_token(self._secret) if self._secret else None
        # The server tasks are told about when a request names none (OFFLINE: no server).
        self._told = self._default or OFFLINE
        self._raw_events = not decodes_event_strings(env)
        self._router = Router(frozenset(t.name for t in manifest.tasks), self._default)
        if self._default is None:
            self._router.learn(OFFLINE)  # so http://127.0.0.1:8000/<task> reaches fused tasks
        self._known_servers: Dict[Tuple[Optional[str], Optional[str]], ServerAddress] = {}
        self._traces: Deque[TraceEdge] = collections.deque(maxlen=TRACE_LIMIT)
        self._served: Deque[ServedRequest] = collections.deque(maxlen=TRACE_LIMIT)
        # The task whose invocation runs in this thread or coroutine task: what makes a call sync.
        self._running: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar(
            f"fusionizer_task_{id(self)}", default=None
        )
        self._isolation = ModuleIsolation([TaskDir(t.name, t.directory) for t in manifest.tasks])
        self._tasks: Dict[str, _Task] = {t.name: self._load(t) for t in manifest.tasks}
        self._isolation.install()
        self._session_class = _session_class(self._tasks.values())
        self._task_list = ", ".join(sorted(self._tasks))
        self._initialized = False
        self._init_lock = threading.RLock()
        if any(_init_is_async(task) for task in self._tasks.values()):
            self.init_context = self._init_context_async
        else:
            self.init_context = self._init_context_sync
        self.handler = self._entry_handler(entry_module)

    @classmethod
    def from_build_dir(cls, build_dir: Union[str, "os.PathLike[str]"]) -> "Dispatcher":
        """Load the fused function in ``build_dir`` (reads ``fusion.json``)."""
        directory = os.path.abspath(os.fspath(build_dir))
        # Nuclio's wrapper finds init_context in the module named by handler.__module__:
        # make that the module calling us (the generated entry), not this one.
        caller = sys._getframe(1).f_globals.get("__name__")
        return cls(Manifest.read(directory), entry_module=caller if isinstance(caller, str) else None)

    # -- loading -------------------------------------------------------------------------

    def _load(self, spec: TaskSpec) -> _Task:
        match = HANDLER_PATTERN.match(spec.handler)
        if match is None:  # Manifest.read validates it; a hand-made TaskSpec might not be
            raise DispatcherError(f"malformed handler of task {spec.name!r}: {spec.handler!r}")
        module_name, attribute = match.group(1), match.group(3)
        try:
            module = self._isolation.load(spec.name, module_name)
            handler = getattr(module, attribute)
        except Exception as exc:
            raise DispatcherError(
                f"task {spec.name!r}: cannot load handler {spec.handler!r} from "
                f"{spec.directory}: {type(exc).__name__}: {exc}"
            ) from exc
        owner_name = getattr(handler, "__module__", None)
        captured = self._isolation.captured(spec.name)
        owner = captured.get(owner_name) if isinstance(owner_name, str) else None
        if owner is None and isinstance(owner_name, str):
            owner = sys.modules.get(owner_name)
        init = getattr(owner if owner is not None else module, "init_context", None)
        return _Task(spec, handler, init if callable(init) else None)

    def _entry_handler(self, entry_module: Optional[str]) -> Callable[[Any, Any], Any]:
        dispatch = self.dispatch

        def handler(context: Any, event: Any) -> Any:
            return dispatch(context, event)

        handler.__module__ = entry_module or __name__
        return handler

    # -- init ----------------------------------------------------------------------------

    def _setup_contexts(self, context: Any) -> None:
        root_platform = getattr(context, "platform", None)
        for task in self._tasks.values():
            name = task.spec.name
            task.context = nuclio_sdk.Context(
                task_logger(getattr(context, "logger", None), name),
                InterceptingPlatform(root_platform, self, name),
                getattr(context, "worker_id", None),
                getattr(context, "trigger", None),
            )
            if task.with_session:
                task.session = self._session_class(self, name)
        if root_platform is not None and hasattr(root_platform, "set_termination_callback"):
            # The wrapper signals the function's own platform: pass it on to every task's.
            root_platform.set_termination_callback(lambda: self._signal("termination"))
            root_platform.set_drain_callback(lambda: self._signal("drain"))

    def _signal(self, kind: str) -> None:
        for task in self._tasks.values():
            if task.context is not None:
                task.context.platform._on_signal(callback_type=kind)

    @contextlib.contextmanager
    def _init_errors(self, task: _Task) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            raise DispatcherError(
                f"init_context of task {task.spec.name!r} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def _init_context_sync(self, context: Any) -> None:
        with self._init_lock:
            if self._initialized:
                return
            self._setup_contexts(context)
            for task in self._tasks.values():
                if task.init is not None:
                    with self._init_errors(task):
                        task.init(task.context)
            self._initialized = True

    async def _init_context_async(self, context: Any) -> None:
        if self._initialized:
            return
        self._setup_contexts(context)
        for task in self._tasks.values():
            if task.init is not None:
                with self._init_errors(task):
                    result = task.init(task.context)
                    if _init_is_async(task):  # awaited exactly when the wrapper would
                        await result
        self._initialized = True

    def _ensure_initialized(self, context: Any) -> None:
        # A host that never called init_context (not Nuclio's wrapper): do it on first
        # use, once, even when the first requests arrive together.
        with self._init_lock:
            if self._initialized:
                return
            if self.init_context == self._init_context_sync:
                self._init_context_sync(context)
            else:
                run_sync(self._init_context_async(context))

    # -- serving -------------------------------------------------------------------------

    @property
    def router(self) -> Router:
        return self._router

    @property
    def plan(self) -> str:
        return self.manifest.plan

    @property
    def function(self) -> str:
        return self.manifest.function

    @property
    def raw_events(self) -> bool:
        """Events carry ``bytes`` metadata (``NUCLIO_PYTHON_DECODE_EVENT_STRINGS`` off)."""
        return self._raw_events

    def dispatch(self, context: Any, event: Any) -> Any:
        """Serve one request: the task handler's raw output (Nuclio's wrapper converts)."""
        if not self._initialized:
            self._ensure_initialized(context)
        headers = event.headers
        name = headers.get(HEADER_TASK)
        if name is None:
            name = headers.get(_RAW_TASK)
            if name is None:
                name = get_header(headers, HEADER_TASK)
        task = self._tasks.get(header_str(name) or "") if name is not None else None
        if task is None:
            if name is not None and header_str(name) == TRACES_TASK:
                return self._traces_response(headers)
            return self._no_such_task(header_str(name))
        enter_request(headers)
        self._give_server_headers(headers, raw=type(name) is bytes)
        return self._serve(task, event)

    def _serve(self, task: _Task, event: Any) -> Any:
        """The handler's raw output, timed; a coroutine is timed once awaited."""
        name = task.spec.name
        token = self._running.set(name)
        started, begin = time.time(), time.perf_counter()
        try:
            output = task.invoke(event)
        finally:
            self._running.reset(token)
        if type(output) not in _PLAIN_OUTPUTS and asyncio.iscoroutine(output):
            return self._awaited(name, output, started, begin)
        self._served.append(ServedRequest(name, time.perf_counter() - begin, started))
        return output

    async def _awaited(self, name: str, output: Any, started: float, begin: float) -> Any:
        # Runs in the wrapper's task: calls the coroutine makes are that invocation's own.
        token = self._running.set(name)
        try:
            return await output
        finally:
            self._running.reset(token)
            self._served.append(ServedRequest(name, time.perf_counter() - begin, started))

    def _no_such_task(self, name: Any) -> Any:
        if name is None:
            status = 400
            text = f"Missing header {HEADER_TASK}: name the task to call"
        else:
            status = 404
            text = f"Unknown task {name!r} in header {HEADER_TASK}"
        return nuclio_sdk.Response(
            body=f"{text}; this function serves: {self._task_list}\n",
            content_type="text/plain",
            status_code=status,
        )

    def _give_server_headers(self, headers: Dict[Any, Any], raw: bool) -> None:
        """Both server headers, in the event's kind (``bytes`` in a raw event)."""
        server = self._told
        if self._secret is not None:
            # With a secret, only the configured server is trusted: request headers naming
            # another one (a caller's own listener) are overridden, never followed.
            address = url = None
        else:
            address = get_header(headers, HEADER_SERVER_ADDRESS)
            url = get_header(headers, HEADER_SERVER_URL)
        if address is not None or url is not None:
            named = self._server_named(header_str(address), header_str(url))
            if named is None:
                return
            server = named
        if raw:
            if address is None:
                headers[_RAW_ADDRESS] = server.host.encode("latin-1")
            if url is None:
                headers[_RAW_URL] = server.url.encode("latin-1")
            return
        if address is None:
            headers[HEADER_SERVER_ADDRESS] = server.host
        if url is None:
            headers[HEADER_SERVER_URL] = server.url

    def _server_named(self, address: Optional[str], url: Optional[str]) -> Optional[ServerAddress]:
        """The server a request names in its headers (remembered, so calls to it route)."""
        key = (address, url)
        known = self._known_servers.get(key)
        if known is not None:
            return known
        if url is not None:
            parsed = server_address(url)
            if parsed is None:
                return None
            server = ServerAddress(host=address or parsed.host, url=parsed.url)
        elif address:
            default = self._default
            base = default.url if default is not None and default.host == address else contract_url(address)
            server = ServerAddress(host=address, url=base)
        else:
            return None
        if len(self._known_servers) >= KNOWN_SERVER_LIMIT:
            return server
        if not self._router.knows(server):
            self._router.learn(server)
        self._known_servers[key] = server
        return server

    # -- in-process calls (CallLink) -------------------------------------------------------

    def call_local(self, task: str, event: Any) -> HttpResult:
        """Run ``task`` for ``event`` in-process; the HTTP response it would have given."""
        target = self._tasks[task]
        self._give_server_headers(event.headers, raw=self._raw_events)
        token = self._running.set(task)
        try:
            return result_from_call(target.run, event, getattr(target.context, "logger", None))
        finally:
            self._running.reset(token)

    def proving_secret(self, server: ServerAddress) -> Optional[bytes]:
        """The secret ``server`` must prove it knows before a call is sent to it (None: no
        proof asked, for servers other than the configured one or without a secret)."""
        return self._secret if self._secret is not None and server == self._default else None

    def outbound(self, server: ServerAddress) -> Dict[str, str]:
        """Headers a call to ``server`` carries: the hop count, the caller token if proven."""
        return outbound_headers(self._token if self.proving_secret(server) is not None else None)

    def record(self, caller: str, callee: str, local: bool, started: float, duration: float) -> None:
        self._traces.append(TraceEdge(caller, callee, local, duration, started, self._running.get() == caller))

    def traces(self) -> Tuple[TraceEdge, ...]:
        """Recorded calls, oldest first (at most ``TRACE_LIMIT``)."""
        return tuple(self._traces)  # one C-level copy: safe against concurrent appends

    def served(self) -> Tuple[ServedRequest, ...]:
        """Recorded requests served, oldest first (at most ``TRACE_LIMIT``)."""
        return tuple(self._served)

    def traces_payload(self, since: float = 0.0) -> Dict[str, Any]:
        """What ``TRACES_TASK`` answers: the calls and requests that started after ``since``
        (each kept list holds the latest ``limit``: a full one has dropped older entries)."""
        return {
            "plan": self.manifest.plan,
            "function": self.function,
            "tasks": sorted(self._tasks),
            "limit": TRACE_LIMIT,
            "callFields": list(TraceEdge._fields),
            "calls": [list(edge) for edge in self.traces() if edge.ts > since],
            "servedFields": list(ServedRequest._fields),
            "served": [list(request) for request in self.served() if request.ts > since],
        }

    def _traces_response(self, headers: Mapping[Any, Any]) -> Any:
        raw = header_str(get_header(headers, HEADER_TRACES_SINCE))
        try:
            since = float(raw) if raw else 0.0
        except ValueError:
            return nuclio_sdk.Response(
                body=f"{HEADER_TRACES_SINCE} must be seconds since the epoch, got {raw!r}\n",
                content_type="text/plain", status_code=400,
            )
        return nuclio_sdk.Response(
            body=json.dumps(self.traces_payload(since)), content_type="application/json", status_code=200
        )
