"""Helpers for runtime tests: build function dirs, run real processors, a stub gateway.

Every process started here is stopped by the fixture that started it (SIGTERM, then
SIGKILL after a deadline). Readiness is polled with a deadline, never slept for.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple

import pytest
import requests

import fusionizer.runtime
from fusionizer.runtime import layout

RUNTIME_SRC = Path(fusionizer.runtime.__file__).parent
READY_DEADLINE_S = 30.0


def write_files(root: Path, files: Mapping[str, str]) -> None:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")


def build_fused(
    root: Path,
    tasks: Mapping[str, Mapping[str, str]],
    handlers: Optional[Mapping[str, str]] = None,
    function: str = "demo-fused",
) -> Path:
    """A fused function dir laid out as layout.py describes (what the builder writes)."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(
        RUNTIME_SRC, root / layout.RUNTIME_PACKAGE, ignore=shutil.ignore_patterns("__pycache__")
    )
    (root / f"{layout.ENTRY_MODULE}.py").write_text(layout.ENTRY_SOURCE, encoding="utf-8")
    manifest = {
        "plan": "demo",
        "function": function,
        "tasks": {
            name: {
                "dir": f"{layout.TASKS_DIR}/{name}",
                "handler": (handlers or {}).get(name, "main:handler"),
            }
            for name in tasks
        },
    }
    (root / layout.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    config = {"metadata": {"name": function}, "spec": {"handler": layout.ENTRY_HANDLER, "runtime": "python:3.11"}}
    (root / "function.yaml").write_text(json.dumps(config), encoding="utf-8")
    for name, files in tasks.items():
        write_files(root / layout.TASKS_DIR / name, files)
    return root


def build_plain(root: Path, files: Mapping[str, str], handler: str = "main:handler") -> Path:
    """An ordinary (unfused) Nuclio Python function dir, function.yaml in YAML."""
    root.mkdir(parents=True, exist_ok=True)
    write_files(root, files)
    (root / "function.yaml").write_text(
        f"metadata:\n  name: {root.name}\nspec:\n  runtime: python:3.11\n  handler: {handler}\n",
        encoding="utf-8",
    )
    return root


@dataclass
class Processor:
    process: "subprocess.Popen[bytes]"
    host: str
    port: int
    log_dir: Path
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def call(self, task: Optional[str], path: str = "/", **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if task is not None:
            headers["Task-Name"] = task
        kwargs.setdefault("timeout", 30)
        return self.session.post(self.url + path, headers=headers, **kwargs)

    def logs(self) -> Tuple[str, str]:
        return (
            (self.log_dir / "stdout.log").read_text(errors="replace"),
            (self.log_dir / "stderr.log").read_text(errors="replace"),
        )

    def stop(self, timeout: float = 10.0) -> int:
        self.session.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(timeout)


@dataclass(frozen=True)
class Failed:
    returncode: int
    stdout: str
    stderr: str


def launch(
    directory: Path,
    log_dir: Path,
    env: Optional[Mapping[str, str]] = None,
    extra_args: Tuple[str, ...] = (),
) -> "Processor | Failed":
    """Start a processor and wait (polling, with a deadline) until it is ready or dead."""
    log_dir.mkdir(parents=True, exist_ok=True)
    ready = log_dir / "ready.json"
    full_env = dict(os.environ)
    full_env.pop(layout.ENV_SERVER_URL, None)
    full_env.update(env or {})
    with open(log_dir / "stdout.log", "wb") as out, open(log_dir / "stderr.log", "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "fusionizer.runtime.processor", str(directory),
             "--host", "127.0.0.1", "--port", "0", "--ready-file", str(ready), *extra_args],
            stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=full_env, cwd=str(log_dir),
        )
    deadline = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < deadline:
        if ready.exists():
            info = json.loads(ready.read_text())
            assert info["pid"] == process.pid
            return Processor(process, info["host"], info["port"], log_dir)
        code = process.poll()
        if code is not None:
            return Failed(
                code,
                (log_dir / "stdout.log").read_text(errors="replace"),
                (log_dir / "stderr.log").read_text(errors="replace"),
            )
        time.sleep(0.01)  # polling interval, not synchronisation
    process.kill()
    process.wait(10)
    raise AssertionError(f"processor for {directory} not ready within {READY_DEADLINE_S}s")


class ProcessorPool:
    """Starts processors and stops every one of them at teardown."""

    def __init__(self, base: Path) -> None:
        self._base = base
        self._started: List[Processor] = []

    def start(self, directory: Path, env: Optional[Mapping[str, str]] = None) -> Processor:
        result = launch(directory, self._base / f"proc{len(self._started)}", env)
        if isinstance(result, Failed):
            raise AssertionError(f"processor failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        self._started.append(result)
        return result

    def stop_all(self) -> None:
        for processor in self._started:
            processor.stop()
        self._started.clear()


@pytest.fixture
def processors(tmp_path: Path) -> Iterator[ProcessorPool]:
    pool = ProcessorPool(tmp_path / "procs")
    yield pool
    pool.stop_all()


@pytest.fixture(scope="module")
def module_processors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessorPool]:
    pool = ProcessorPool(tmp_path_factory.mktemp("procs"))
    yield pool
    pool.stop_all()


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: Dict[str, str]
    body: bytes


class Gateway:
    """A stand-in for the Fusionizer server: records requests, answers a JSON echo."""

    def __init__(self) -> None:
        self.requests: List[Recorded] = []
        gateway = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                gateway.requests.append(Recorded(self.command, self.path, dict(self.headers.items()), body))
                payload = json.dumps({"gateway": True, "method": self.command, "path": self.path,
                                      "task": self.headers.get("Task-Name")}).encode()
                self.send_response(203)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Gateway", "yes")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def paths(self) -> List[str]:
        return [r.path for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    stub = Gateway()
    yield stub
    stub.close()


@pytest.fixture(scope="module")
def module_gateway() -> Iterator[Gateway]:
    stub = Gateway()
    yield stub
    stub.close()


def poll(condition: Callable[[], bool], deadline_s: float = 10.0) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


class RuntimeHelpers:
    """The helpers above, for test modules (importlib mode cannot import conftest)."""

    build_fused = staticmethod(build_fused)
    build_plain = staticmethod(build_plain)
    write_files = staticmethod(write_files)
    launch = staticmethod(launch)
    poll = staticmethod(poll)
    Failed = Failed
    Gateway = Gateway


@pytest.fixture(scope="session")
def rt() -> "type[RuntimeHelpers]":
    return RuntimeHelpers
