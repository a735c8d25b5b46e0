"""``nuctl deploy``: read and merge the config, enrich and validate it like nuctl, build
(the image's virtualenv with the build commands run in it, see ``image``; the code staged
with the emulated wrapper next to it), then replace the old process and wait for the new one."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import yaml

from nuctl_emulator import VERSION, image
from nuctl_emulator.console import Console
from nuctl_emulator.context import Context, initialize
from nuctl_emulator.errors import ABSTRACT_GO, BUILDER_GO, DEPLOY_GO, LOCAL_GO, NuctlError, error
from nuctl_emulator.flags import string_map
from nuctl_emulator.processes import proc_start_time, stop_process
from nuctl_emulator.store import PROJECT_LABEL, append_jsonl, read_json

DEFAULT_READINESS_TIMEOUT = 120
SUPPORTED_PYTHON = ("python:3.9", "python:3.10", "python:3.11")
WARN_PYTHON = ("python:3.7", "python:3.8")
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SKIP_ANNOTATIONS = ("skip-build", "skip-deploy")  # removed on deploy
KUBE_DEPLOYER_GO = "/nuclio/pkg/platform/kube/client/deployer.go"
DOCKER_SHELL_GO = "/nuclio/pkg/dockerclient/shell.go"
WRAPPER = Path(__file__).with_name("wrapper.py")
WRAPPER_NAME = "_nuclio_wrapper.py"  # beside the code, as in /opt/nuclio
# NUCLIO_PYTHON_DECODE_EVENT_STRINGS values that start the wrapper without --decode-event-strings.
DECODING_OFF = ("no", "false", "disable", "disabled")


@dataclass
class DeployRequest:
    config: Dict[str, Any]  # {"metadata": ..., "spec": ...} after flags, before enrichment
    source: Path  # the --path dir or file
    config_file: Optional[Path]


def cmd_deploy(options: Dict[str, Any], args: List[str]) -> int:
    ctx = initialize(options)
    request = deploy_request(options, args, ctx.namespace)
    name = request.config["metadata"]["name"]
    with ctx.store.locked(name):
        record = enrich_and_validate(ctx, request, options)
        ctx.console.log("I", "Deploying function", name=name)
        record["status"] = {"state": "building"}
        ctx.store.save_function(record)
        try:
            staged, built = build(ctx, request, record)
            run_function(ctx, record, staged, built)
        except NuctlError as exc:
            ctx.console.log("E", "Failed to deploy function", name=name, err=str(exc).splitlines()[0])
            record["status"] = {"state": "error", "message": exc.render().strip()}
            ctx.store.save_function(record)
            raise exc.wrap("Failed to deploy function", DEPLOY_GO, 174) from None
    status = record["status"]
    ctx.console.log(
        "I",
        "Function deploy complete",
        functionName=name,
        httpPort=status.get("httpPort", 0),
        internalInvocationURLs=status.get("internalInvocationUrls", []),
        externalInvocationURLs=status.get("externalInvocationUrls", []),
    )
    return 0


def deploy_request(options: Dict[str, Any], args: List[str], namespace: str) -> DeployRequest:
    """Resolve the source and its config file, then apply the flags on top."""
    if not options["path"]:
        raise error("Function code must be provided either in the path or inline in a spec file", DEPLOY_GO, 120)
    if re.match(r"^[a-z]+://", options["path"]):
        raise error("The nuctl emulator deploys local paths only", DEPLOY_GO, 121)
    source = Path(options["path"]).resolve()
    if not source.exists():
        raise error(
            f"Function path {source} does not exist",
            DEPLOY_GO,
            125,
            ("Failed to resolve function path", DEPLOY_GO, 126),
        )
    config_file = resolve_config_path(options, source)
    config = load_config(config_file) if config_file else {}
    config.setdefault("metadata", {})
    config.setdefault("spec", {})
    apply_flags(config, options)
    name = args[0] if args else config["metadata"].get("name")
    if not name:
        raise error("Function name is not provided", DEPLOY_GO, 151)
    config["metadata"]["name"] = name
    config["metadata"]["namespace"] = namespace  # enrichConfigMetadata: the file never wins
    return DeployRequest(config, source, config_file)


def resolve_config_path(options: Mapping[str, Any], source: Path) -> Optional[Path]:
    if options["file"]:
        return Path(options["file"]).resolve()
    if source.is_file() and source.suffix in (".yaml", ".yml"):
        return source
    candidate = source / "function.yaml"
    return candidate if source.is_dir() and candidate.is_file() else None


def load_config(path: Path) -> Dict[str, Any]:
    """JSON if it parses, else YAML; only ``metadata`` and ``spec`` are kept (Config has no
    apiVersion/kind)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise error(f"Failed to read function configuration {path}: {exc}", DEPLOY_GO, 239) from None
    try:
        loaded = json.loads(text)
    except ValueError:
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise error("Failed to parse function configuration", DEPLOY_GO, 247, cause=str(exc)) from None
    if not isinstance(loaded, dict):
        loaded = {}
    return {"metadata": dict(loaded.get("metadata") or {}), "spec": dict(loaded.get("spec") or {})}


def apply_flags(config: Dict[str, Any], options: Mapping[str, Any]) -> None:
    """Command-line flags on top of the file (flags win; -e appends)."""
    _apply_meta_flags(config["metadata"], options)
    spec = config["spec"]
    for item in options["env"]:
        env_name, _, value = item.partition("=")
        spec.setdefault("env", []).append({"name": env_name, "value": value})
    spec.update({key: options[flag] for flag, key in _STRING_FLAGS if options[flag]})
    spec.update({key: options[flag] for flag, key in _INT_FLAGS if options[flag] >= 0})
    spec.update({key: _json_flag(flag, options[flag]) for flag, key in _JSON_FLAGS if options[flag]})
    if options["disable"]:
        spec["disable"] = True
    build_spec = spec.setdefault("build", {})
    if options["registry"]:
        build_spec["registry"] = options["registry"]
    if options["build-command"]:
        build_spec["commands"] = list(build_spec.get("commands") or []) + options["build-command"]


_STRING_FLAGS = (
    ("runtime", "runtime"),
    ("handler", "handler"),
    ("image", "image"),
    ("desc", "description"),
    ("run-registry", "runRegistry"),
)
_INT_FLAGS = (  # -1 means "not given"
    ("replicas", "replicas"),
    ("min-replicas", "minReplicas"),
    ("max-replicas", "maxReplicas"),
    ("readiness-timeout", "readinessTimeoutSeconds"),
    ("target-cpu", "targetCPU"),
)
_JSON_FLAGS = (
    ("triggers", "triggers"),
    ("data-bindings", "dataBindings"),
    ("runtime-attrs", "runtimeAttributes"),
    ("platform-config", "platform"),
)


def _apply_meta_flags(meta: Dict[str, Any], options: Mapping[str, Any]) -> None:
    if options["labels"]:
        meta["labels"] = {**(meta.get("labels") or {}), **string_map(options["labels"])}
    if options["annotations"]:
        meta["annotations"] = {**(meta.get("annotations") or {}), **string_map(options["annotations"])}
    if options["project-name"]:
        meta.setdefault("labels", {})[PROJECT_LABEL] = options["project-name"]


def _json_flag(flag: str, raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise error(f"Failed to decode --{flag}", DEPLOY_GO, 270, cause=str(exc)) from None


def enrich_and_validate(ctx: Context, request: DeployRequest, options: Mapping[str, Any]) -> Dict[str, Any]:
    """EnrichFunctionConfig + ValidateFunctionConfig: what a record holds before the build."""
    meta, spec = request.config["metadata"], request.config["spec"]
    _check_name(meta["name"])
    meta.setdefault("labels", {}).setdefault(PROJECT_LABEL, "default")
    _check_project(ctx, meta["labels"][PROJECT_LABEL])
    for annotation in SKIP_ANNOTATIONS:
        (meta.get("annotations") or {}).pop(annotation, None)
    _enrich_spec(spec, ctx.platform, options["http-trigger-service-type"])
    spec["build"] = {**spec.get("build", {}), "path": str(request.source), "timestamp": int(time.time())}
    spec.setdefault("image", image_name(meta["name"], spec["build"].get("registry", "")))
    return {"metadata": _ordered_meta(meta), "spec": _ordered_spec(spec)}


def _check_name(name: str) -> None:
    if not _NAME_RE.match(name) or len(name) > 63:
        raise error(
            f"Function name doesn't conform to k8s naming convention: {name}",
            ABSTRACT_GO,
            392,
            ("Failed to validate a function configuration", LOCAL_GO, 1273),
            ("Failed to enrich and validate a function configuration", LOCAL_GO, 268),
        )


def _check_project(ctx: Context, project: str) -> None:
    if ctx.store.project(project) is None:
        raise error(
            "Project existence validation failed",
            ABSTRACT_GO,
            434,
            ("Failed to validate a function configuration", LOCAL_GO, 1273),
            ("Failed to enrich and validate a function configuration", LOCAL_GO, 268),
            ("Failed to create function", LOCAL_GO, 277),
            cause="Project does not exist",
        )


def _enrich_spec(spec: Dict[str, Any], platform: str, service_type: str) -> None:
    if spec.get("runtime") == "python":
        spec["runtime"] = "python:3.9"
    # enrichMinMaxReplicas: one bound given means both.
    if "minReplicas" in spec or "maxReplicas" in spec:
        spec.setdefault("minReplicas", spec.get("maxReplicas"))
        spec.setdefault("maxReplicas", spec.get("minReplicas"))
    spec.setdefault("readinessTimeoutSeconds", DEFAULT_READINESS_TIMEOUT)
    _enrich_triggers(spec, platform, service_type)
    for key, empty in (("resources", {}), ("platform", {}), ("securityContext", {}), ("eventTimeout", "")):
        spec.setdefault(key, empty)


def _enrich_triggers(spec: Dict[str, Any], platform: str, service_type: str) -> None:
    triggers = spec.setdefault("triggers", {})
    if not any((t or {}).get("kind") == "http" for t in triggers.values()):
        triggers["default-http"] = {"class": "", "kind": "http", "name": "default-http", "numWorkers": 1}
    if platform == "kube" and service_type:
        for trigger in triggers.values():
            if trigger.get("kind") == "http":
                trigger.setdefault("attributes", {}).setdefault("serviceType", service_type)


def _ordered_meta(meta: Dict[str, Any]) -> Dict[str, Any]:
    ordered: Dict[str, Any] = {"name": meta["name"], "namespace": meta["namespace"]}
    for key in ("labels", "annotations"):
        if meta.get(key):
            ordered[key] = dict(sorted((str(k), str(v)) for k, v in meta[key].items()))
    ordered.update({k: v for k, v in meta.items() if k not in ordered and k not in ("labels", "annotations")})
    return ordered


# functionconfig.Spec field order, so records print the way nuctl prints them.
_SPEC_ORDER = (
    "description",
    "disable",
    "publish",
    "handler",
    "runtime",
    "env",
    "envFrom",
    "resources",
    "image",
    "imageHash",
    "replicas",
    "minReplicas",
    "maxReplicas",
    "targetCPU",
    "dataBindings",
    "triggers",
    "volumes",
    "version",
    "alias",
    "build",
    "runRegistry",
    "runtimeAttributes",
    "loggerSinks",
    "platform",
    "readinessTimeoutSeconds",
    "serviceType",
    "securityContext",
    "eventTimeout",
)


def _ordered_spec(spec: Dict[str, Any]) -> Dict[str, Any]:
    ordered = {k: spec[k] for k in _SPEC_ORDER if k in spec}
    ordered.update({k: spec[k] for k in sorted(spec) if k not in ordered})
    return ordered


def image_name(name: str, registry: str) -> str:
    """builder.getImage: a registry with a path part drops the ``nuclio/`` prefix."""
    if not registry:
        return f"nuclio/processor-{name}:latest"
    if "/" in registry:
        return f"{registry}/processor-{name}:latest"
    return f"{registry}/nuclio/processor-{name}:latest"


def build(ctx: Context, request: DeployRequest, record: Dict[str, Any]) -> Tuple[Path, image.Image]:
    """Validate the runtime, make the image (its build commands run) and stage the code."""
    spec = record["spec"]
    log = ctx.console.log
    log("I", "Building", builderKind="docker", versionInfo=f"Label: {VERSION}", name=record["metadata"]["name"])
    check_runtime(spec.get("runtime"), request, log)
    spec.setdefault("handler", default_handler(request.source))
    log("I", "Staging files and preparing base images")
    commands = list((spec.get("build") or {}).get("commands") or [])
    try:
        built = image.prepare(spec["runtime"], commands, lambda command: log("I", "Running build command",
                                                                             command=command))
        if commands and built.cached:
            log("I", "Using the cached build of the build commands", commands=commands)
    except image.ImageUnavailable as missing:
        raise error(f"The nuctl emulator cannot make the Python image: {missing}", BUILDER_GO, 331) from None
    except image.BuildFailed as failed:
        raise error(
            f"stdout:\n{failed.output}\n\nstderr:\n",
            DOCKER_SHELL_GO,
            177,
            ("Failed to build", BUILDER_GO, 1147),
            ("Failed to build processor image", BUILDER_GO, 331),
            ("Failed to build function", LOCAL_GO, 289),
            cause=f"exit status {failed.code} (in build command `{failed.command}`):\n{failed.output}",
        ) from None
    if built.emulated:
        log("W", "No interpreter for this runtime here; emulated with another Python", runtime=spec["runtime"],
            python=built.version)
    log("I", "Building processor image", registryURL=spec["build"].get("registry", ""), imageName=spec["image"])
    if ctx.platform == "kube" and not spec["build"].get("registry"):
        raise error(
            "Failed to push image",
            DOCKER_SHELL_GO,
            177,
            ("Failed to build processor image", BUILDER_GO, 331),
            ("Failed to build function", LOCAL_GO, 289),
            cause="denied: requested access to the resource is denied",
        )
    staged = stage_code(ctx, request, record)
    log("I", "Build complete", image=spec["image"])
    return staged, built


def check_runtime(runtime: Any, request: DeployRequest, log: Callable[..., None]) -> None:
    if not runtime:
        message = (
            "function.yaml must specify runtime"
            if request.config_file
            else "Build path is directory - runtime must be specified"
        )
        raise error(
            message,
            BUILDER_GO,
            713,
            ("Failed to resolve runtime", BUILDER_GO, 258),
            ("Failed to build function", LOCAL_GO, 289),
        )
    if runtime in WARN_PYTHON:
        log("W", "Python 3.7 and 3.8 runtimes are deprecated", runtime=runtime)
    elif runtime not in SUPPORTED_PYTHON:
        raise error(
            f"Runtime {runtime} is not supported by this build (supported: {', '.join(SUPPORTED_PYTHON)})",
            BUILDER_GO,
            1432,
            ("Failed to validate runtime", BUILDER_GO, 262),
            ("Failed to build function", LOCAL_GO, 289),
        )


def default_handler(source: Path) -> str:
    """DetectFunctionHandlers: ``<file name without extension>:handler``."""
    if source.is_file():
        return f"{source.stem}:handler"
    return "main:handler"


def stage_code(ctx: Context, request: DeployRequest, record: Dict[str, Any]) -> Path:
    """Copy the source aside so later edits do not leak in, with the merged function.yaml."""
    staged = ctx.store.new_code_dir(record["metadata"]["name"])
    if request.source.is_dir():
        shutil.copytree(request.source, staged, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        staged.mkdir(parents=True)
        shutil.copy2(request.source, staged / request.source.name)
    config = {"metadata": record["metadata"], "spec": record["spec"]}
    (staged / "function.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    shutil.copyfile(WRAPPER, staged / WRAPPER_NAME)
    return staged


def run_function(ctx: Context, record: Dict[str, Any], code: Path, built: image.Image) -> None:
    """local: remove the old "container" first, then start the new one (nuctl's order).
    kube: a rolling update, the old process goes once the new one is ready."""
    name = record["metadata"]["name"]
    old = ctx.store.process(name)
    timeout = int(record["spec"].get("readinessTimeoutSeconds") or DEFAULT_READINESS_TIMEOUT)
    if ctx.platform == "local":
        ctx.console.log("I", "Cleaning up before deployment", functionName=name)
        if old is not None:
            ctx.console.log("I", "Function already exists, deleting function containers", functionName=name)
            ctx.store.stop_function_process(name)
        ctx.console.log("I", "Waiting for function to be ready", timeout=timeout)
    process = start_and_wait(ctx, record, code, built, timeout)
    ctx.store.save_process(name, process)
    if ctx.platform == "kube" and old is not None:
        ctx.store.stop_function_process(name, only=old)
    record["status"] = ready_status(ctx, record, int(process["port"]))
    ctx.store.save_function(record)


def function_env(spec: Mapping[str, Any], code: Path, built: image.Image, console: Console) -> Dict[str, str]:
    """The container's environment: the image's (nothing of the emulator's own, so nothing
    installed here leaks in), ``PYTHONPATH`` the code directory, plus ``spec.env``."""
    env: Dict[str, str] = {}
    for item in spec.get("env") or []:
        if "value" in item:
            env[str(item["name"])] = str(item["value"])
        else:
            console.log("W", "Env var with valueFrom is not supported by the nuctl emulator", name=item.get("name"))
    return built.environment({**env, "PYTHONPATH": str(code)})


def start_and_wait(
    ctx: Context, record: Dict[str, Any], code: Path, built: image.Image, timeout: int
) -> Dict[str, Any]:
    """Start the processor detached (its own session, output to the function's log) and wait."""
    name = record["metadata"]["name"]
    ready_file = ctx.store.root / "run" / f"{code.name}.ready"
    ready_file.parent.mkdir(parents=True, exist_ok=True)
    proc = _start_processor(ctx, record, code, built, ready_file)
    start = proc_start_time(proc.pid)
    append_jsonl(
        ctx.home / "processes.jsonl",
        {"pid": proc.pid, "start": start, "function": name, "namespace": ctx.namespace, "platform": ctx.platform},
    )
    ready = wait_ready(proc, ready_file, timeout)
    ready_file.unlink(missing_ok=True)
    if ready is None:
        exited = proc.poll() is not None
        stop_process(proc.pid, start)
        proc.wait()
        shutil.rmtree(code, ignore_errors=True)
        raise readiness_error(ctx.platform, exited, _tail(ctx.store.log_path(name), 100))
    proc.returncode = 0  # detached on purpose: the function outlives this nuctl call
    return {"pid": proc.pid, "start": start, "port": int(ready["port"]), "code": str(code)}


def _http_trigger(spec: Mapping[str, Any]) -> Tuple[str, Dict[str, Any]]:
    """The name and attributes of the function's (only) http trigger."""
    for trigger_name, trigger in (spec.get("triggers") or {}).items():
        if (trigger or {}).get("kind") == "http":
            return str(trigger.get("name") or trigger_name), dict(trigger.get("attributes") or {})
    return "default-http", {}


def _start_processor(
    ctx: Context, record: Dict[str, Any], code: Path, built: image.Image, ready_file: Path
) -> "subprocess.Popen[bytes]":
    """``python -u /opt/nuclio/_nuclio_wrapper.py ...`` with the image's interpreter, from a
    working directory of its own (never the code's), as Nuclio's processor runs it."""
    name = record["metadata"]["name"]
    spec = record["spec"]
    env = function_env(spec, code, built, ctx.console)
    trigger_name, attributes = _http_trigger(spec)
    argv = [str(built.python), "-u", str(code / WRAPPER_NAME), "--handler", str(spec["handler"])]
    argv += ["--host", "127.0.0.1", "--port", str(int(attributes.get("port") or 0)), "--ready-file", str(ready_file)]
    argv += ["--platform-kind", ctx.platform, "--namespace", ctx.namespace, "--worker-id", "0"]
    argv += ["--trigger-kind", "http", "--trigger-name", trigger_name]
    if env.get("NUCLIO_PYTHON_DECODE_EVENT_STRINGS", "").strip().lower() not in DECODING_OFF:
        argv.append("--decode-event-strings")
    workdir = ctx.store.root / "work" / code.name
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = ctx.store.log_path(name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log_file:
        return subprocess.Popen(
            argv,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def readiness_error(platform: str, exited: bool, logs: str) -> NuctlError:
    """local: waitForContainer's message. kube: the CR's state (a crashed pod is in error,
    one that never got ready is unhealthy), with the pod logs."""
    if platform == "kube":
        state = "error" if exited else "unhealthy"
        return error(
            f"NuclioFunction in {state} state:\n{logs}",
            KUBE_DEPLOYER_GO,
            253,
            ("Failed to wait for function readiness", KUBE_DEPLOYER_GO, 132),
        )
    return error(
        f"Function wasn't ready in time. Logs:\n{logs}",
        LOCAL_GO,
        1054,
        ("Failed to wait for function to be ready", LOCAL_GO, 765),
    )


def wait_ready(proc: "subprocess.Popen[bytes]", ready_file: Path, timeout: float) -> Optional[Dict[str, Any]]:
    """Like nuctl's readiness wait: done when the processor reports ready, failed when it
    exits or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = read_json(ready_file)
        if isinstance(ready, dict) and ready.get("port"):
            return ready
        try:
            proc.wait(timeout=0.02)
            return None  # exited before it was ready (init failure)
        except subprocess.TimeoutExpired:
            continue
    return None


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def ready_status(ctx: Context, record: Mapping[str, Any], port: int) -> Dict[str, Any]:
    name = record["metadata"]["name"]
    status: Dict[str, Any] = {"state": "ready"}
    if ctx.platform == "kube":
        internal = [f"nuclio-{name}.{ctx.namespace}.svc.cluster.local:8080"]
        node_port = str(_http_trigger(record["spec"])[1].get("serviceType", "")).lower() == "nodeport"
        external = [f"127.0.0.1:{port}"] if node_port else []
        if node_port:
            status["httpPort"] = port  # present only for NodePort services
    else:
        internal, external = [f"127.0.0.1:{port}"], [f"0.0.0.0:{port}"]
        status["httpPort"] = port
    status["containerImage"] = record["spec"]["image"]
    status["internalInvocationUrls"] = internal
    status["externalInvocationUrls"] = external
    return status
