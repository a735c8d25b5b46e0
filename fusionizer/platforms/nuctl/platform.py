"""The nuctl platform: real Nuclio (docker or Kubernetes) driven through the ``nuctl`` CLI,
exactly as reference/nuclio.md describes nuctl 1.14.1.

Every command carries ``-n NAMESPACE --platform P`` (``auto`` silently becomes ``kube``
when a kubeconfig exists, so the choice is always explicit), stdin is /dev/null, stdout
is parsed only for ``get -o json`` (never with ``-v``) and everything else is judged by
the exit code. Labels and annotations travel in the built ``function.yaml``, which nuctl
merges into ``metadata`` (command-line flags would override them; none are passed).
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Set, Tuple

import requests

from fusionizer.errors import FusionizerError, PlatformError
from fusionizer.platforms.base import (
    FunctionRecord,
    FunctionSource,
    InvokeRequest,
    InvokeResponse,
    LogSink,
    Platform,
    spec_env,
)
from fusionizer.platforms.nuctl.invoking import HttpInvoker, candidate_urls, request_headers
from fusionizer.platforms.nuctl.logs import read_logs
from fusionizer.platforms.nuctl.options import NuctlOptions
from fusionizer.platforms.nuctl.output import (
    NO_FUNCTIONS,
    parse_bare_error,
    parse_error_stack,
    parse_function_objects,
    parse_invoke_output,
)
from fusionizer.platforms.nuctl.runner import Completed, NuctlRunner, strip_ansi
from fusionizer.runtime.layout import ENV_SERVER_URL, HEADER_TASK
from fusionizer.runtime.trust import ENV_SECRET

DEPLOY_LOG_TAIL = 20
_PROJECT_MISSING = "Project does not exist"
_BEING_PROVISIONED = "being provisioned"

# Projects this process created (or saw a deploy succeed in), so each is created at most
# once per process however many platforms and threads deploy into it.
_known_projects: Set[Tuple[str, ...]] = set()
_projects_lock = threading.Lock()


class NuctlPlatform:
    """The :class:`fusionizer.platforms.base.Platform` protocol on top of ``nuctl``.

    ``options`` are the plan's ``spec.platform`` keys: ``nuctlPlatform`` (auto|local|kube),
    ``registry``, ``runRegistry``, ``kubeconfig``, ``projectName``, ``nuctlPath``
    (``$FUSIONIZER_NUCTL`` wins), ``deployTimeout``, ``readinessTimeout``,
    ``commandTimeout``, ``invokeTimeout`` (seconds) and ``serverUrl``.
    """

    kind = "nuctl"

    def __init__(self, namespace: str, options: Mapping[str, Any]) -> None:
        if not namespace:
            raise FusionizerError("the nuctl platform needs a namespace (spec.platform.namespace)")
        self.namespace = namespace
        self.options = NuctlOptions.from_mapping(options)
        global_args = ["-n", namespace, "--platform", self.options.platform]
        if self.options.kubeconfig:
            global_args += ["--kubeconfig", self.options.kubeconfig]
        self._runner = NuctlRunner(self.options.nuctl_path, global_args)
        self._http = HttpInvoker(self.options.invoke_timeout)

    # -- Platform protocol ------------------------------------------------------------

    def list(self) -> List[FunctionRecord]:
        done = self._check(self._run(["get", "function"], ["-o", "json"]), "list functions")
        return [FunctionRecord.from_nuctl(obj) for obj in self._parse(done)]

    def deploy(self, source: FunctionSource, log: Optional[LogSink] = None) -> FunctionRecord:
        done = self._deploy_once(source, log)
        if not done.ok and self._project_now_exists(done):
            done = self._deploy_once(source, log)
        if not done.ok:
            raise deploy_error(source.name, done)
        self._remember_project()
        return self.get(source.name)

    def delete(self, name: str) -> None:
        done = self._run(["delete", "function", name])
        if not done.ok and _BEING_PROVISIONED in strip_ansi(done.stdout + done.stderr):
            # Only a deploy that died mid-way leaves our function "provisioning" (one apply
            # per plan holds the lock), so forcing is what makes a re-apply converge.
            done = self._run(["delete", "function", name], ["--force"])
        self._check(done, f"delete function {name}")

    def invoke(self, function: FunctionRecord, task: str, request: InvokeRequest) -> InvokeResponse:
        headers = request_headers(task, request.headers, HEADER_TASK)
        try:
            response = self._http.try_urls(candidate_urls(function), request, headers)
        except requests.RequestException as exc:
            raise PlatformError(f"invoking task {task} in function {function.name} failed: {exc}") from exc
        if response is not None:
            return response
        return self._invoke_via_nuctl(function.name, request, headers)

    def server_url(self) -> Optional[str]:
        return self.options.server_url

    def routes_calls(self) -> bool:
        return self.options.server_url is not None

    def prepare(self) -> None:
        """Nothing to start: the server functions call is the plan's ``serverUrl``."""

    def logs(self, name: str, since: Optional[datetime] = None, follow: bool = False) -> Iterator[str]:
        return read_logs(name, self.namespace, self.options, since, follow)

    # -- helpers ----------------------------------------------------------------------

    def get(self, name: str) -> FunctionRecord:
        """One function by name (``nuctl get function NAME``); PlatformError if missing."""
        done = self._run(["get", "function", name], ["-o", "json"])
        if not done.ok and parse_bare_error(done.stdout) == NO_FUNCTIONS:
            raise PlatformError(f"function {name} not found in namespace {self.namespace}", done.render())
        matches = [obj for obj in self._parse(self._check(done, f"get function {name}")) if _name(obj) == name]
        if len(matches) != 1:
            raise PlatformError(f"nuctl get function {name} did not return that function", done.render())
        return FunctionRecord.from_nuctl(matches[0])

    def close(self) -> None:
        self._http.close()

    def _run(self, head: Sequence[str], tail: Sequence[str] = (), timeout: Optional[float] = None) -> Completed:
        return self._runner.run(head, tail, timeout=timeout or self.options.command_timeout)

    def _check(self, done: Completed, what: str) -> Completed:
        if not done.ok:
            cause = root_cause(done)
            raise PlatformError(f"nuctl could not {what}{': ' + cause if cause else ''}", done.render())
        return done

    def _parse(self, done: Completed) -> List[Dict[str, Any]]:
        try:
            return parse_function_objects(done.stdout)
        except ValueError as exc:
            raise PlatformError(f"unexpected output from nuctl ({exc})", done.render()) from exc

    def _deploy_once(self, source: FunctionSource, log: Optional[LogSink]) -> Completed:
        head = ["deploy", source.name, "--path", str(source.path.resolve())]
        return self._runner.run(head, self._deploy_flags(source), timeout=self.options.deploy_timeout, on_line=log)

    def _deploy_flags(self, source: FunctionSource) -> List[str]:
        opts = self.options
        flags: List[str] = []
        for flag, value in (
            ("--registry", opts.registry),
            ("--run-registry", opts.run_registry),
            ("--project-name", opts.project_name),
            ("--readiness-timeout", str(opts.readiness_timeout) if opts.readiness_timeout else None),
        ):
            if value:
                flags += [flag, value]
        # nuctl appends -e entries to spec.env: add the gateway URL only if the build lacks it.
        if opts.server_url and spec_env(source.config.get("spec") or {}, ENV_SERVER_URL) is None:
            flags += ["-e", f"{ENV_SERVER_URL}={opts.server_url}"]
        if opts.server_secret:  # shared with the server: calls between functions prove it (runtime.trust)
            flags += ["-e", f"{ENV_SECRET}={opts.server_secret}"]
        return flags

    def _project_key(self) -> Tuple[str, ...]:
        return (self._runner.binary(), self.options.platform, self.namespace, self.options.project_name or "")

    def _remember_project(self) -> None:
        if self.options.project_name:
            with _projects_lock:
                _known_projects.add(self._project_key())

    def _project_now_exists(self, failed: Completed) -> bool:
        """After a deploy failed for lack of the configured project: create it (at most once
        per process) and say whether a retry can succeed."""
        project = self.options.project_name
        if not project or _PROJECT_MISSING not in strip_ansi(failed.stderr + failed.stdout):
            return False
        with _projects_lock:  # parallel deploys into a new project create it once
            if self._project_key() not in _known_projects:
                done = self._run(["create", "project", project])
                if not done.ok and "already exists" not in strip_ansi(done.stderr + done.stdout):
                    self._check(done, f"create project {project}")
                _known_projects.add(self._project_key())
        # Also when another thread created it: this deploy may have failed just before that.
        return True

    def _invoke_via_nuctl(self, name: str, request: InvokeRequest, headers: Mapping[str, str]) -> InvokeResponse:
        tail = ["-m", request.method, "-b", _text_body(request.body)]
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        other = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        tail += ["-d", _header_flag(other)]
        if content_type:
            tail += ["-c", content_type]
        if request.path.strip("/"):
            tail += ["-p", request.path.lstrip("/")]  # nuctl joins url + "/" + path itself
        tail += ["--raise-on-status", "-t", go_duration(self.options.invoke_timeout)]
        done = self._run(["invoke", name], tail, timeout=self.options.invoke_timeout + self.options.command_timeout)
        # With --raise-on-status nuctl prints a non-2xx response, then exits 1: still a response.
        response = parse_invoke_output(done.stdout)
        if response is None:
            self._check(done, f"invoke function {name}")
            raise PlatformError(f"nuctl invoke {name} printed no response", done.render())
        return response


def deploy_error(name: str, done: Completed) -> PlatformError:
    """The useful part first: nuctl's ``Error - <root cause>`` line, its call stack, then the
    last log lines, then the command itself. ANSI codes are stripped throughout."""
    parts = _error_part(done) + _log_tail(done.stdout)
    parts.append(f"command: {done.command()}\nexit code: {done.exit_status()}")
    if done.timed_out:
        headline = f"nuctl deploy {name} timed out after {done.timeout:g}s (spec.platform.deployTimeout)"
    else:
        headline = f"nuctl deploy {name} failed"
    if _PROJECT_MISSING in root_cause(done):
        headline += " (create the project with `nuctl create project NAME`, or set spec.platform.projectName)"
    return PlatformError(headline, "\n\n".join(parts))


def root_cause(done: Completed) -> str:
    """Why nuctl failed, in its words: the root cause of its error stack on stderr, else a
    bare status error on stdout (a deploy killed mid-line left no such thing)."""
    report = parse_error_stack(done.stderr)
    if report is not None:
        return report.headline
    return "" if done.timed_out else parse_bare_error(done.stdout) or ""


def _error_part(done: Completed) -> List[str]:
    report = parse_error_stack(done.stderr)
    if report is not None:
        return [report.stack]
    if done.stderr.strip():
        return ["stderr:\n" + _indent(strip_ansi(done.stderr).strip().splitlines())]
    cause = root_cause(done)
    return [f"Error - {cause}"] if cause else []


def _log_tail(stdout: str) -> List[str]:
    lines = [line for line in strip_ansi(stdout).splitlines() if line.strip()]
    if not lines:
        return []
    tail = lines[-DEPLOY_LOG_TAIL:]
    return [f"last {len(tail)} of {len(lines)} log lines:\n" + _indent(tail)]


def go_duration(seconds: float) -> str:
    """A Go ``time.ParseDuration`` string: ``60s``, ``0.5s`` (never ``1e+06s`` as ``:g`` gives)."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


def _indent(lines: Sequence[str]) -> str:
    return "\n".join("    " + line for line in lines)


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _text_body(body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlatformError("cannot pass a binary request body through `nuctl invoke -b`") from exc
    if "\x00" in text:
        raise PlatformError("cannot pass a body containing NUL bytes through `nuctl invoke -b`")
    return text


def _header_flag(headers: Mapping[str, str]) -> str:
    """``name=val[,name=val]``: nuctl splits on every ``,`` and ``=``, so those cannot pass."""
    for key, value in headers.items():
        if any(c in key + value for c in ",="):
            raise PlatformError(f"header {key!r} cannot be passed through `nuctl invoke -d` (contains ',' or '=')")
    return ",".join(f"{k}={v}" for k, v in headers.items())


def _conforms(platform: NuctlPlatform) -> Platform:
    return platform  # mypy proves NuctlPlatform satisfies the Platform protocol
