"""The embedded local platform: every function is its own process on 127.0.0.1.

Needs nothing but Python. A deploy moves the build dir into the store (a copy when the
directory is not the deploy's to take, see ``FunctionSource.disposable``), runs its build
commands (once per distinct command list), starts the local processor and waits until it
is ready; only then does it replace the process that served the function before, so a
broken update leaves the old version serving. The old process is stopped only after the
namespace's gateway has switched its routes to the new one and finished the requests it
had sent to the old (``gateway_control.drain``): a redeploy drops no call. Functions
outlive the CLI call.

Calls between functions go through the namespace's gateway (``gateway_control``). Its URL
is given to each function process at start (env ``FUSIONIZER_SERVER_URL``, unless the
function sets it itself; the stored record shows it in ``spec.env``, as ``nuctl get`` shows a
``nuctl deploy -e`` variable), never part of the build or its hash: :meth:`prepare` (apply)
starts the gateway, and should it have had to move to another port, restarts the running
functions on the new URL from the code they already run (not a redeploy: the same code,
spec hash and revision). Each process also gets the namespace's secret
(``FUSIONIZER_SERVER_SECRET``), which no record shows.

Crash safety: every deploy is recorded (:mod:`.attempts`) before it stages code, runs a
build command or starts a process, and the switch to a new process is one write
(``procs/<name>.json``) with everything needed to finish it recorded before. A deploy killed
at any instant is finished or undone by the next one of that function, by a delete, or by
:meth:`prepare`, which also collects what dead attempts left: staged code and ready files
no record uses, processes of functions whose record is gone. Logs are bounded
(:mod:`.logsize`), and a failed deploy reads only the tail of its log.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional

from fusionizer import filecache, paths
from fusionizer.errors import PlatformError
from fusionizer.platforms.base import (
    ANNOTATION_SPEC_HASH,
    DEFAULT_NAMESPACE,
    STATE_ERROR,
    STATE_READY,
    STATE_UNHEALTHY,
    FunctionRecord,
    FunctionSource,
    InvokeRequest,
    InvokeResponse,
    LogSink,
    spec_env,
)
from fusionizer.platforms.local import attempts, gateway_control, logfile, processes
from fusionizer.platforms.local.attempts import Attempt
from fusionizer.platforms.local.logsize import LogLimits, RotatingLog
from fusionizer.platforms.local.processes import PendingStart, ServingProcess, StartFailed
from fusionizer.platforms.local.store import Store
from fusionizer.runtime import layout

DEFAULT_READY_TIMEOUT = 60.0
_LOG_TAIL = 40
# The temporary file a function process writes its ready file through, named with its pid.
_READY_TMP = re.compile(r"^\..+\.ready\.(\d+)\.tmp$")


class LocalPlatform:
    kind = "local"

    def __init__(self, namespace: str = DEFAULT_NAMESPACE, store: Optional[Store] = None,
                 limits: Optional[LogLimits] = None) -> None:
        self.namespace = namespace
        self.store = store or Store(namespace)
        self._limits = limits

    @property
    def limits(self) -> LogLimits:
        """The bounds of the logs of what this platform starts; read from the environment when
        first needed, so a question (``status``, ``plan``) never fails on them."""
        if self._limits is None:
            self._limits = LogLimits.from_env()
        return self._limits

    # -- Platform protocol -------------------------------------------------------------

    def list(self) -> List[FunctionRecord]:
        return [FunctionRecord.from_nuctl(self._observe(raw)) for raw in self.store.records()]

    def deploy(self, source: FunctionSource, log: Optional[LogSink] = None) -> FunctionRecord:
        self._reap_pending(source.name)
        spec_hash = source.config.get("metadata", {}).get("annotations", {}).get(ANNOTATION_SPEC_HASH, "")
        # A fresh directory every time: redeploying the same hash (healing) must never touch
        # the code a still-running process imports from, should the new one fail.
        code = self.store.dir("code") / f"{source.name}-{spec_hash[:12]}-{uuid.uuid4().hex[:8]}"
        attempt = self._attempt(source.name, str(code))
        try:
            return self._deploy(source, code, attempt, log)
        finally:
            attempt.end()

    def _deploy(self, source: FunctionSource, code: Path, attempt: Attempt, log: Optional[LogSink]) -> FunctionRecord:
        name = source.name
        spec: Mapping[str, Any] = source.config.get("spec") or {}
        log_file = self.store.log_file(name)
        since = logfile.mark(log_file)
        # Exactly the build dir: what belongs in it was decided when it was built.
        _stage(source, code)
        try:
            self._run_build_commands(name, spec, code, log_file, since, attempt, log)
            server = _given_url(spec, gateway_control.ensure_gateway(self.store, self.limits))
            started = self._start(name, code, spec, log_file, server, attempt)
        except PlatformError as e:
            self._record_failure(source, str(e), code)
            raise
        except StartFailed as e:
            message = f"Function wasn't ready in time: {e}"
            detail = logfile.tail(log_file, since, _LOG_TAIL)
            self._record_failure(source, f"{message}\n{detail}", code)
            raise PlatformError(f"deploy of {name} failed: {e}", f"Logs ({_whole_log(name)}):\n{detail}") from None
        record = _record(source, self.namespace, code, STATE_READY, "", int(started.ready["port"]), server)
        return self._switch(name, record, code, started, server, attempt)

    def delete(self, name: str) -> None:
        self._reap_pending(name)
        proc = self._process(name)
        self.store.remove("functions", name)
        if proc:
            self._retire(proc)
        self.store.remove("procs", name)
        if proc and proc.code:
            shutil.rmtree(proc.code, ignore_errors=True)
        if next(self.store.records(), None) is None:
            self._collect()
            if next(self.store.records(), None) is None:
                # Nothing left to route to: do not leave the namespace's gateway running.
                gateway_control.stop_gateway(self.store)

    def invoke(self, function: FunctionRecord, task: str, request: InvokeRequest) -> InvokeResponse:
        import requests  # only invoke needs it: the other commands start faster without

        if not function.http_port:
            raise PlatformError(f"function {function.name} has no HTTP port (state: {function.state})")
        headers = {**request.headers, layout.HEADER_TASK: task}
        url = f"http://127.0.0.1:{function.http_port}{request.path}"
        try:
            resp = requests.request(request.method, url, data=request.body, headers=headers, timeout=300,
                                    allow_redirects=False)
        except requests.RequestException as e:
            raise PlatformError(f"cannot reach function {function.name} at {url}", str(e)) from None
        return InvokeResponse(resp.status_code, dict(resp.headers), resp.content)

    def server_url(self) -> Optional[str]:
        return gateway_control.gateway_url(self.store)

    def routes_calls(self) -> bool:
        return True  # its own gateway, started on demand

    def logs(self, name: str, since: Optional[datetime] = None, follow: bool = False) -> Iterator[str]:
        if self.store.read("functions", name) is None:
            raise PlatformError(f"no function {name} in namespace {self.namespace} of the local platform")
        return logfile.read_log(self.store.root / "logs" / f"{name}.log", since, follow)

    def prepare(self) -> None:
        with gateway_control.running_gateway(self.store, self.limits) as url:
            self._collect()
            for raw in self.store.records():
                name = str((raw.get("metadata") or {}).get("name", ""))
                proc = self._process(name)
                # A function being deployed right now gets the URL from its deploy; one whose
                # restart fails keeps its old URL, and the diff then updates it.
                if proc and proc.server_url not in (None, url) and self.store.read("pending", name) is None \
                        and processes.alive(proc.ref):
                    self._repoint(raw, proc, url)

    # -- crash recovery ----------------------------------------------------------------

    def _reap_pending(self, name: str) -> None:
        """Finish or undo a deploy of ``name`` that died half-way (e.g. ``kill -9``)."""
        pending = attempts.abandoned(self.store, "pending", name)
        if pending is None:
            return
        serving = self._process(name)
        if pending.process is not None and serving is not None and serving.ref == pending.process:
            self._finish_switch(name, pending)  # it died after switching to its new process
        else:
            attempts.undo(pending, serving.ref if serving else None)
        attempts.forget(self.store, "pending", name, pending)

    def _collect(self) -> None:
        """Undo or finish dead deploys, stop the processes of functions a killed delete left
        without a record, and remove what no live record uses: staged code, ready files (and
        those a dead process was writing)."""
        for name in self.store.names("pending"):
            self._reap_pending(name)
        # Listed in the order _reap_unrecorded reads them (see there): only a process that
        # neither an attempt nor a record was listed for needs a closer look, not every one.
        procs = self.store.names("procs")
        claimed = {*self.store.names("pending"), *self.store.names("functions")}
        for name in procs:
            if name not in claimed:
                self._reap_unrecorded(name)
        # Listed before the records are read: whatever appears later is not looked at, and
        # whatever was listed was recorded before it was made.
        staged = list(self.store.dir("code").iterdir())
        ready = list(self.store.dir("run").glob("*.ready"))
        temporary = list(self.store.dir("run").glob(".*.ready.*.tmp"))
        live = [attempts.recorded(self.store, "pending", name) for name in self.store.names("pending")]
        live.append(attempts.recorded(self.store, "run", gateway_control.PENDING))
        serving = [self._process(name) for name in self.store.names("procs")]
        used = {p.code for p in live if p} | {proc.code for proc in serving if proc}
        markers = {p.marker for p in live if p}
        for path in staged:
            if str(path) not in used:
                shutil.rmtree(path, ignore_errors=True)
        for path in ready:
            if str(path) not in markers:
                path.unlink(missing_ok=True)
        for path in temporary:
            writer = _READY_TMP.match(path.name)
            if writer and not processes.alive(processes.identify(int(writer.group(1)))):
                path.unlink(missing_ok=True)

    def _reap_unrecorded(self, name: str) -> None:
        """Stop a function process whose record a killed delete removed."""
        proc = self._process(name)
        # Read in this order: a deploy records its attempt before the process, and the
        # function before it forgets the attempt.
        if proc is None or self.store.read("pending", name) is not None or self.store.read("functions", name):
            return
        processes.stop(proc.ref)
        if self._process(name) == proc:
            self.store.remove("procs", name)

    # -- deploy steps ------------------------------------------------------------------

    def _attempt(self, name: str, code: str) -> Attempt:
        ready_file = self.store.dir("run") / f"{name}-{uuid.uuid4().hex[:8]}.ready"
        return Attempt(self.store, "pending", name, ready_file, code)

    def _run_build_commands(
        self, name: str, spec: Mapping[str, Any], code: Path, log_file: Path, since: logfile.Mark, attempt: Attempt,
        log: Optional[LogSink],
    ) -> None:
        commands = list((spec.get("build") or {}).get("commands") or [])
        if not commands:
            return
        key = hashlib.sha256("\n".join(commands).encode()).hexdigest()[:16]
        marker = self.store.dir("build-cache") / f"{key}.done"
        if marker.exists():
            return
        env = {**_function_env(spec, None), **attempt.env()}
        output = RotatingLog(log_file, self.limits)
        for command in commands:
            if log:
                log(f"{name}: running build command: {command}")
            output.write(f"$ {command}\n".encode())
            status = processes.run_command(command, code, env, output, attempt.running)
            if status != 0:
                raise PlatformError(
                    f"deploy of {name} failed: build command exited with {status}: {command}",
                    f"Logs ({_whole_log(name)}):\n{logfile.tail(log_file, since, _LOG_TAIL)}",
                )
        marker.write_text("\n".join(commands))

    def _start(
        self, name: str, code: Path, spec: Mapping[str, Any], log_file: Path, server_url: Optional[str],
        attempt: Attempt,
    ) -> processes.Started:
        ready_file = Path(attempt.pending.marker)
        module = ["fusionizer.runtime.processor", str(code), "--host", "127.0.0.1", "--port", "0",
                  "--ready-file", str(ready_file), "--name", name, "--namespace", self.namespace]
        timeout = float(spec.get("readinessTimeoutSeconds") or DEFAULT_READY_TIMEOUT)
        from fusionizer.runtime import trust  # here: it loads http.client and ssl, which a no-op does without

        env = {**_function_env(spec, server_url), trust.ENV_SECRET: gateway_control.secret(self.store).decode(),
               **attempt.env()}
        return processes.start(module, env, code, log_file, self.limits, ready_file, timeout, attempt.running)

    def _repoint(self, raw: Dict[str, Any], proc: ServingProcess, server_url: str) -> None:
        """Restart a running function on the gateway's new URL, from the code it runs."""
        name = str(raw["metadata"]["name"])
        attempt = self._attempt(name, "")
        try:
            try:
                started = self._start(name, Path(proc.code), raw.get("spec") or {}, self.store.log_file(name),
                                      server_url, attempt)
            except StartFailed:
                return  # it keeps running on the old URL; the next prepare tries again
            status = {**(raw.get("status") or {}), **_serving_status(int(started.ready["port"]))}
            record = {**raw, "spec": _with_server(raw.get("spec") or {}, server_url), "status": status}
            self._switch(name, record, Path(proc.code), started, server_url, attempt)
        finally:
            attempt.end()

    def _switch(
        self, name: str, record: Dict[str, Any], code: Path, started: processes.Started, server_url: Optional[str],
        attempt: Attempt,
    ) -> FunctionRecord:
        """Make ``started`` the function's process, then stop the one it replaces."""
        old = self._process(name)
        attempt.switching(record, old if old and old.ref != started.ref else None)
        proc = ServingProcess(started.ref, int(started.ready["port"]), str(code), server_url)
        self.store.write("procs", name, proc.to_json())  # the switch: all it takes to finish is recorded
        self._finish_switch(name, attempt.pending)
        return FunctionRecord.from_nuctl(record)

    def _finish_switch(self, name: str, pending: PendingStart) -> None:
        """Record the function as switched to its new process and stop the old one."""
        if pending.record is not None:
            self.store.write("functions", name, dict(pending.record))
        old = pending.retiring
        if old is None:
            return
        self._retire(old)
        serving = self._process(name)
        if old.code and (serving is None or serving.code != old.code):
            shutil.rmtree(old.code, ignore_errors=True)

    def _retire(self, proc: ServingProcess) -> None:
        """Stop a function process no record routes to any more, once the gateway drained it."""
        if proc.port:
            gateway_control.drain(self.store, [f"http://127.0.0.1:{proc.port}"])
        processes.stop(proc.ref)

    def _record_failure(self, source: FunctionSource, message: str, code: Path) -> None:
        # No process runs the failed version: its staged copy goes in every case.
        shutil.rmtree(code, ignore_errors=True)
        existing = self.store.read("functions", source.name)
        if existing and self._observe(existing)["status"].get("state") == STATE_READY:
            return  # the previous version keeps serving; the failure is reported to the caller only
        self.store.write("functions", source.name, _record(source, self.namespace, code, STATE_ERROR, message, 0))

    def _observe(self, raw: Dict[str, Any]) -> Dict[str, Any]:
        """The stored record with its state corrected by a liveness check of its process."""
        status = raw.get("status") or {}
        if status.get("state") != STATE_READY:
            return raw
        name = (raw.get("metadata") or {}).get("name", "")
        proc = self._process(name)
        if proc and processes.alive(proc.ref):
            return raw
        pid = proc.ref.pid if proc else "?"
        message = f"function process (pid {pid}) is not running; see `fusionizer logs {name}`"
        return {**raw, "status": {**status, "state": STATE_UNHEALTHY, "message": message}}

    def _process(self, name: str) -> Optional[ServingProcess]:
        raw = self.store.read("procs", name)
        return ServingProcess.from_json(raw) if raw else None


def _stage(source: FunctionSource, code: Path) -> None:
    """``code``: the build dir itself when it is the deploy's to take (a rename makes no new
    file: the deploy's slowest part is every new file and directory), else a copy of it."""
    if source.disposable:
        try:
            os.rename(source.path, code)
            return
        except OSError as e:
            if e.errno != errno.EXDEV:
                raise
    _stage_tree(Path(source.path), code)  # another filesystem, or a directory that stays its owner's


def _stage_tree(build: Path, code: Path) -> None:
    """``code``: a new private directory holding a copy of every file of ``build`` (a function
    may write to its files: never to its owner's)."""
    for directory, _, files in os.walk(build):
        target = os.path.normpath(os.path.join(code, os.path.relpath(directory, build)))
        os.mkdir(target, paths.PRIVATE_DIR)  # as the build dir's: its files can hold env values
        for name in files:
            filecache.copy_new(os.path.join(directory, name), os.path.join(target, name), times=True)


def _record(
    source: FunctionSource, namespace: str, code: Path, state: str, message: str, port: int,
    server_url: Optional[str] = None,
) -> Dict[str, Any]:
    meta = dict(source.config.get("metadata") or {})
    labels = {"nuclio.io/project-name": "default", **(meta.get("labels") or {})}
    spec = _with_server(source.config.get("spec") or {}, server_url)
    spec["build"] = {**(spec.get("build") or {}), "path": str(code), "timestamp": int(time.time())}
    status: Dict[str, Any] = {"state": state}
    if message:
        status["message"] = message
    if port:
        status.update(_serving_status(port))
    return {"metadata": {**meta, "namespace": namespace, "labels": labels}, "spec": spec, "status": status}


def _with_server(spec: Mapping[str, Any], server_url: Optional[str]) -> Dict[str, Any]:
    """The spec as deployed: the server's URL the platform gave is in ``spec.env``, as
    ``nuctl get`` shows a variable ``nuctl deploy -e`` added."""
    out = dict(spec)
    if server_url:
        env = [item for item in spec.get("env") or [] if item.get("name") != layout.ENV_SERVER_URL]
        out["env"] = env + [{"name": layout.ENV_SERVER_URL, "value": server_url}]
    return out


def _serving_status(port: int) -> Dict[str, Any]:
    url = f"127.0.0.1:{port}"
    return {"httpPort": port, "internalInvocationUrls": [url], "externalInvocationUrls": [url]}


def _given_url(spec: Mapping[str, Any], gateway: str) -> Optional[str]:
    """The server URL the platform gives a function: none when its own env sets one (as
    nuctl's ``-e`` is added only then)."""
    return None if spec_env(spec, layout.ENV_SERVER_URL) is not None else gateway


def _function_env(spec: Mapping[str, Any], server_url: Optional[str]) -> Dict[str, str]:
    env = dict(os.environ)
    for item in spec.get("env") or []:
        if "value" in item:
            env[str(item["name"])] = str(item["value"])
    if server_url:
        env[layout.ENV_SERVER_URL] = server_url
    return env


def _whole_log(name: str) -> str:
    return f"all of it: `fusionizer logs {name}`"
