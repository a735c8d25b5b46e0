"""Fixtures for the nuctl platform: the nuctl emulator (tests/nuctl/emulator) on PATH and in
``$FUSIONIZER_NUCTL``, a fresh emulator store per test, helpers to read the calls it
recorded, builders of tiny Nuclio function dirs, and cleanup of every function process.

Fixtures:
- ``nuctl_emulator`` -> :class:`NuctlEmulator`: ``home``, ``run(*args)``, ``calls()``,
  ``args()``, ``mark()``, ``store(namespace, platform)``, ``stop_all()``;
  ``module_nuctl_emulator``: the same, shared by a module.
- ``make_function`` -> ``make_function(name, handler=..., runtime=..., ...) -> Path``.
- ``nuctl_platform`` -> ``nuctl_platform(namespace="nuclio", **options) -> NuctlPlatform``
  (``nuctlPlatform: local`` unless given).
- ``source_of`` -> ``source_of(dir, name=None) -> FunctionSource``.
- ``cli`` -> :class:`testing.example.Cli` on a copy of the example, ``--platform nuctl``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple

import pytest
import yaml

from fusionizer.platforms.base import FunctionSource
from fusionizer.platforms.nuctl import platform as nuctl_platform_module
from fusionizer.platforms.nuctl.platform import NuctlPlatform
from testing.example import Cli, copy_example

EMULATOR_DIR = Path(__file__).parent / "emulator"
EMULATOR = EMULATOR_DIR / "nuctl"


# The emulator is a package next to its executable; import it for its store layout and
# process helpers (one source of truth for where things live).
sys.path.insert(0, str(EMULATOR_DIR))
from nuctl_emulator import processes as emulator_processes  # noqa: E402
from nuctl_emulator import store as emulator_store  # noqa: E402


@dataclass(frozen=True)
class Call:
    """One nuctl call the emulator recorded; ``exit`` is None if it was killed mid-way."""

    args: Tuple[str, ...]
    exit: Optional[int]
    time: float
    duration: Optional[float]


class NuctlEmulator:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.executable = EMULATOR

    def run(
        self, *args: str, stdin: Optional[str] = None, env: Optional[Mapping[str, str]] = None
    ) -> "subprocess.CompletedProcess[str]":
        """Run the emulator directly, like a user at a shell (stdin /dev/null unless given)."""
        return subprocess.run(
            [str(self.executable), *args],
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=60,
        )

    def calls(self, since: int = 0) -> List[Call]:
        """Completed and killed calls, in start order (``since``: a value of ``mark()``)."""
        entries = emulator_store.read_jsonl(self.home / "calls.jsonl")
        ends = {e["id"]: e for e in entries if e["event"] == "end"}
        starts = [e for e in entries if e["event"] == "start"]
        calls = [
            Call(
                tuple(s["argv"][1:]),
                ends.get(s["id"], {}).get("exit"),
                s["time"],
                ends.get(s["id"], {}).get("duration"),
            )
            for s in starts
        ]
        return calls[since:]

    def args(self, since: int = 0) -> List[Tuple[str, ...]]:
        return [call.args for call in self.calls(since)]

    def mark(self) -> int:
        return len(self.calls())

    def store(self, namespace: str = "nuclio", platform: str = "local") -> emulator_store.Store:
        return emulator_store.Store(self.home / platform / namespace)

    def running_processes(self) -> List[Dict[str, Any]]:
        return [
            p
            for p in emulator_store.started_processes(self.home)
            if emulator_processes.is_running(p["pid"], p.get("start"))
        ]

    def stop_all(self) -> None:
        """Stop every function process the emulator started, and anything still running in
        its store (e.g. a process whose nuctl was killed before recording it)."""
        for proc in emulator_store.started_processes(self.home):
            emulator_processes.stop_process(proc["pid"], proc.get("start"), grace=2.0)
        for pid in _pids_with_cwd_under(self.home):
            emulator_processes.stop_process(pid, emulator_processes.proc_start_time(pid), grace=2.0)


def _pids_with_cwd_under(root: Path) -> List[int]:
    found = []
    prefix = str(root.resolve()) + os.sep
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if (cwd + os.sep).startswith(prefix):
                found.append(int(entry.name))
    return found


def use_emulator(home: Path, monkeypatch: pytest.MonkeyPatch) -> NuctlEmulator:
    """Point nuctl (PATH, ``$FUSIONIZER_NUCTL``) at the emulator, with its store in ``home``."""
    monkeypatch.setenv("NUCTL_EMULATOR_HOME", str(home))
    # Image virtualenvs are made from this interpreter when the runtime's Python is missing.
    monkeypatch.setenv("NUCTL_EMULATOR_PYTHON", sys.executable)
    monkeypatch.setenv("FUSIONIZER_NUCTL", str(EMULATOR))
    # The emulator's `#!/usr/bin/env python3` must find this interpreter (PyYAML, fusionizer).
    path = os.pathsep.join([str(EMULATOR_DIR), str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    monkeypatch.setenv("PATH", path)
    for name in ("NUCTL_PLATFORM", "NUCTL_NAMESPACE", "NUCTL_REGISTRY", "NUCTL_RUN_REGISTRY", "KUBECONFIG"):
        monkeypatch.delenv(name, raising=False)
    # Projects a NuctlPlatform created are remembered per process: each test starts fresh.
    monkeypatch.setattr(nuctl_platform_module, "_known_projects", set())
    return NuctlEmulator(home)


@pytest.fixture
def nuctl_emulator(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[NuctlEmulator]:
    emu = use_emulator(tmp_path_factory.mktemp("nuctl-emulator"), monkeypatch)
    yield emu
    emu.stop_all()


@pytest.fixture(scope="module")
def module_nuctl_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NuctlEmulator]:
    """One emulator store for a whole module (functions deployed once, used by many tests)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        emu = use_emulator(tmp_path_factory.mktemp("nuctl-emulator"), monkeypatch)
        yield emu
        emu.stop_all()


ECHO_HANDLER = """
import json
import os


def handler(context, event):
    body = event.body.decode() if isinstance(event.body, bytes) else event.body
    return {
        "task": event.get_header("Task-Name"),
        "body": body,
        "path": event.path,
        "greeting": os.environ.get("GREETING"),
        "version": VERSION,
    }

VERSION = 1
"""


@pytest.fixture
def make_function(tmp_path: Path) -> Callable[..., Path]:
    """A plain Nuclio function dir: function.yaml + main.py (an echo handler by default)."""

    def make(
        name: str = "echo",
        *,
        source: str = ECHO_HANDLER,
        runtime: Optional[str] = "python:3.11",
        handler: str = "main:handler",
        env: Optional[Dict[str, str]] = None,
        labels: Optional[Dict[str, str]] = None,
        annotations: Optional[Dict[str, str]] = None,
        namespace: Optional[str] = None,
        extra_spec: Optional[Dict[str, Any]] = None,
        directory: Optional[Path] = None,
    ) -> Path:
        target = directory or tmp_path / "functions" / name
        target.mkdir(parents=True, exist_ok=True)
        (target / "main.py").write_text(textwrap.dedent(source))
        meta: Dict[str, Any] = {"name": name}
        if namespace:
            meta["namespace"] = namespace
        if labels:
            meta["labels"] = labels
        if annotations:
            meta["annotations"] = annotations
        spec: Dict[str, Any] = {"handler": handler}
        if runtime:
            spec["runtime"] = runtime
        if env:
            spec["env"] = [{"name": k, "value": v} for k, v in env.items()]
        spec.update(extra_spec or {})
        config = {"apiVersion": "nuclio.io/v1", "kind": "NuclioFunction", "metadata": meta, "spec": spec}
        (target / "function.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        return target

    return make


@pytest.fixture
def cli(nuctl_emulator: NuctlEmulator, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cli:
    """The repository's example on (emulated) nuctl, as a user first tries it: no serverUrl."""
    plan = copy_example(tmp_path / "example")
    doc = yaml.safe_load(plan.read_text())
    doc["spec"]["platform"]["nuctlPlatform"] = "local"
    plan.write_text(yaml.safe_dump(doc))
    return Cli(capsys, plan, "--platform", "nuctl")


@pytest.fixture
def nuctl_platform(nuctl_emulator: NuctlEmulator) -> Iterator[Callable[..., NuctlPlatform]]:
    made: List[NuctlPlatform] = []

    def make(namespace: str = "nuclio", **options: Any) -> NuctlPlatform:
        platform = NuctlPlatform(namespace, {"nuctlPlatform": "local", **options})
        made.append(platform)
        return platform

    yield make
    for platform in made:
        platform.close()


def function_config(directory: Path) -> Dict[str, Any]:
    loaded = yaml.safe_load((directory / "function.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture
def source_of() -> Callable[..., FunctionSource]:
    """``source_of(dir, name=None)``: what the builder hands a platform, for a function dir."""

    def make(directory: Path, name: Optional[str] = None) -> FunctionSource:
        config = function_config(directory)
        return FunctionSource(name=name or config["metadata"]["name"], path=directory, config=config)

    return make
