"""The emulator's store under ``$NUCTL_EMULATOR_HOME`` (layout: see the package docstring)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from nuctl_emulator.errors import NUCTL_GO, error
from nuctl_emulator.processes import stop_process

PROJECT_LABEL = "nuclio.io/project-name"
IN_PROGRESS_STATES = (
    "waitingForBuild",
    "building",
    "waitingForResourceConfiguration",
    "waitingForScaleResourceFromZero",
    "waitingForScaleResourceToZero",
    "configuringResources",
)


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, indent=1))
    os.replace(tmp, path)  # readers never see half a record


def read_json(path: Path) -> Optional[Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def append_jsonl(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # One O_APPEND write per line: concurrent emulators never interleave within a line.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (json.dumps(value) + "\n").encode())
    finally:
        os.close(fd)


def read_jsonl(path: Path) -> List[Dict[str, Any]]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def emulator_home() -> Path:
    home = os.environ.get("NUCTL_EMULATOR_HOME")
    if not home:
        raise error("NUCTL_EMULATOR_HOME is not set (the nuctl emulator keeps its store there)", NUCTL_GO, 1)
    return Path(home)


@dataclass
class Store:
    root: Path  # $NUCTL_EMULATOR_HOME/<platform>/<namespace>

    def function_path(self, name: str) -> Path:
        return self.root / "functions" / f"{name}.json"

    def function(self, name: str) -> Optional[Dict[str, Any]]:
        found = read_json(self.function_path(name))
        return found if isinstance(found, dict) else None

    def functions(self) -> List[Dict[str, Any]]:
        paths = sorted((self.root / "functions").glob("*.json"))
        return [r for r in (read_json(p) for p in paths) if isinstance(r, dict)]

    def save_function(self, record: Dict[str, Any]) -> None:
        write_json(self.function_path(record["metadata"]["name"]), record)

    def project(self, name: str) -> Optional[Dict[str, Any]]:
        found = read_json(self.root / "projects" / f"{name}.json")
        return found if isinstance(found, dict) else None

    def projects(self) -> List[Dict[str, Any]]:
        paths = sorted((self.root / "projects").glob("*.json"))
        return [p for p in (read_json(p) for p in paths) if isinstance(p, dict)]

    def save_project(self, name: str, spec: Dict[str, Any]) -> None:
        meta = {"name": name, "namespace": self.root.name}
        write_json(self.root / "projects" / f"{name}.json", {"metadata": meta, "spec": spec})

    def process(self, name: str) -> Optional[Dict[str, Any]]:
        """The running process of a function: ``{"pid", "start", "port", "code"}``."""
        found = read_json(self._process_path(name))
        return found if isinstance(found, dict) else None

    def save_process(self, name: str, process: Dict[str, Any]) -> None:
        write_json(self._process_path(name), process)

    def _process_path(self, name: str) -> Path:
        return self.root / "processes" / f"{name}.json"

    def new_code_dir(self, name: str) -> Path:
        """Each deploy gets its own copy of the code ("image"), removed with its process."""
        return self.root / "code" / f"{name}.{uuid.uuid4().hex[:8]}"

    def log_path(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    @contextlib.contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """Deploys and deletes of one function take turns (parallel applies are allowed)."""
        path = self.root / "locks" / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def stop_function_process(self, name: str, only: Optional[Dict[str, Any]] = None) -> bool:
        """Stop the function's process ("delete its container") and remove its code; True if
        there was one. ``only``: that process, even if the store has a newer one by now."""
        proc = only or self.process(name)
        if proc is None:
            return False
        if self.process(name) == proc:
            self._process_path(name).unlink(missing_ok=True)
        stop_process(int(proc["pid"]), proc.get("start"))
        if proc.get("code"):
            shutil.rmtree(proc["code"], ignore_errors=True)
        return True

    def remove_function(self, name: str) -> None:
        self.stop_function_process(name)
        self.function_path(name).unlink(missing_ok=True)


def started_processes(home: Path) -> List[Dict[str, Any]]:
    """Every function process any emulator call started under ``home`` (for test cleanup)."""
    return [e for e in read_jsonl(home / "processes.jsonl") if "pid" in e]
