"""`fusionizer serve` as a real process on 127.0.0.1, and zips to upload to it.

The server is started with the test's FUSIONIZER_HOME, waited for on /-/healthz with a
deadline, and stopped by its pid (SIGTERM, then SIGKILL) by the fixture that started it.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import uuid
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from testing.plans import discovering_plan
from testing.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]

PLAN = discovering_plan("orig")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Answer:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


class Serve:
    """A running ``fusionizer serve ARGS...`` process."""

    def __init__(self, args: Tuple[str, ...], log: Path, env: Optional[Dict[str, str]] = None) -> None:
        self.port = free_port()
        self.log = log
        self.auth: Dict[str, str] = {}
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "fusionizer", "serve", "--port", str(self.port), "--resync", "0", *args],
                cwd=REPO, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        wait_for(self._healthy, f"serve on port {self.port} (log: {log})")

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.log.read_text()}")
        try:
            return self.request("GET", "/-/healthz").status == 200
        except OSError:
            return False

    def request(self, method: str, path: str, body: Optional[bytes] = None,
                headers: Optional[Dict[str, str]] = None, timeout: float = 120) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return Answer(response.status, response.msg, response.read())
        finally:
            conn.close()

    def put_zip(self, task: str, data: bytes, headers: Optional[Dict[str, str]] = None) -> Answer:
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"zip_file\"; filename=\"{task}.zip\"\r\n"
                f"Content-Type: application/zip\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        return self.request("PUT", f"/{task}", body,
                            {"Content-Type": f"multipart/form-data; boundary={boundary}", **(headers or {})})

    def invoke(self, task: str, payload: Any = None, headers: Optional[Dict[str, str]] = None,
               timeout: float = 120) -> Answer:
        body = json.dumps(payload).encode() if payload is not None else b""
        return self.request("POST", f"/{task}", body, {"Content-Type": "application/json", **(headers or {})}, timeout)

    def status(self) -> Dict[str, Any]:
        answer = self.request("GET", "/-/status", headers=self.auth)
        assert answer.status == 200, answer.text
        result: Dict[str, Any] = answer.json()
        return result

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def plan_dir(tmp_path: Path) -> Path:
    root = tmp_path / "plan"
    (root / "tasks").mkdir(parents=True)
    (root / "fusionizer.yaml").write_text(PLAN)
    return root


@pytest.fixture
def start_serve(tmp_path: Path) -> Iterator[Callable[..., Serve]]:
    started: List[Serve] = []

    def start(plan: Path, *extra: str, env: Optional[Dict[str, str]] = None) -> Serve:
        """``serve -f PLAN EXTRA...``; ``plan`` may be a git repository (then ``--git``)."""
        source = ("--git", str(plan)) if plan.is_dir() else ("-f", str(plan))
        serve = Serve((*source, *extra), tmp_path / f"serve-{len(started)}.log", env=env)
        started.append(serve)
        return serve

    yield start
    for serve in started:
        serve.stop()


# -- zips -------------------------------------------------------------------------------------


def zip_dir(directory: Path, prefix: str = "") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, prefix + path.relative_to(directory).as_posix())
    return out.getvalue()


def zip_entries(entries: List[Tuple[str, bytes]], symlinks: Tuple[str, ...] = ()) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are some of the bad zips made here
        for name, data in entries:
            info = zipfile.ZipInfo(name)
            if name in symlinks:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, data)
    return out.getvalue()


def tree_digest(root: Path) -> List[Tuple[str, bytes]]:
    return sorted((p.relative_to(root).as_posix(), p.read_bytes() if p.is_file() else b"")
                  for p in root.rglob("*") if "__pycache__" not in p.parts)
