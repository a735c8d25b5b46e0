"""The corpus of bad input: every case is refused with its own clear message, exit 1 (2 for
a bad command-line value), no traceback, never exit 3, never a hang, and never a byte of a
file outside the plan's directory in the output.

Each ``corpus/*.yaml`` is one case (see ``corpus/README.md`` for the format): the files of
a plan directory (written over a small valid plan), special files to create (links, FIFOs,
sockets), the command to run and the messages expected. Run it alone with
``python -m pytest -q tests/fuzz``.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import textwrap
from pathlib import Path
from types import FrameType
from typing import Any, Dict, Iterator, List, Optional

import pytest
import yaml

from fusionizer.cli import main

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(CORPUS.glob("*.yaml"))
SECRET = "ghp_0utside-the-plan-T0KEN"  # in every file outside the plan; no output may show it
TIMEOUT = 20  # seconds; a FIFO opened for reading would block forever

BASE: Dict[str, str] = {
    "fusionizer.yaml": "apiVersion: fusionizer.io/v1\nkind: FusionPlan\nmetadata: {name: corpus}\n"
                       "spec:\n  taskDirs: [tasks]\n",
    "tasks/a/function.yaml": "spec: {runtime: 'python:3.11', handler: 'main:handler'}\n",
    "tasks/a/main.py": "def handler(context, event):\n    return 'a'\n",
}


def load_case(path: Path) -> Dict[str, Any]:
    case: Dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert set(case) <= {"why", "files", "binary", "repeat", "remove", "links", "fifos", "sockets", "env",
                         "command", "expect", "exit"}, f"{path.name}: unknown keys"
    assert case.get("why") and case.get("expect"), f"{path.name}: needs why and expect"
    return case


def build(case: Dict[str, Any], root: Path, outside: Path) -> Iterator[socket.socket]:
    """Write the case's plan directory under ``root``; yields the sockets it binds (kept open)."""
    files = {**BASE, **{k: textwrap.dedent(v) for k, v in (case.get("files") or {}).items()}}
    for rel in case.get("remove") or ():
        files.pop(rel)
    for rel, text in files.items():
        write(root / rel, text.encode("utf-8"))
    for rel, data in (case.get("binary") or {}).items():
        write(root / rel, base64.b64decode(data))
    for rel, spec in (case.get("repeat") or {}).items():
        write(root / rel, (spec.get("head", "") + spec["text"] * spec["times"] + spec.get("tail", "")).encode())
    for rel, target in (case.get("links") or {}).items():
        (root / rel).unlink(missing_ok=True)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(str(outside) + target[len("@outside"):] if target.startswith("@outside") else target, root / rel)
    for rel in case.get("fifos") or ():
        (root / rel).unlink(missing_ok=True)
        os.mkfifo(root / rel)
    for rel in case.get("sockets") or ():
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(root / rel))
        yield server


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    path.write_bytes(data)


def outside_the_plan(tmp_path: Path) -> Path:
    """A directory beside the plan's, holding what a link out of the plan could reach."""
    outside = tmp_path / "outside"
    (outside / "lib").mkdir(parents=True)
    for name in ("credentials", "lib/util.py", "function.yaml"):
        (outside / name).write_text(f"{SECRET}\n")
    return outside


def _timed_out(signum: int, frame: Optional[FrameType]) -> None:
    raise TimeoutError(f"no answer within {TIMEOUT}s (a FIFO read?)")


def run(argv: List[str]) -> int:
    previous = signal.signal(signal.SIGALRM, _timed_out)
    signal.alarm(TIMEOUT)
    try:
        return main(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_bad_input_gets_its_clear_message(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    case = load_case(path)
    root = tmp_path / "plan"
    sockets = list(build(case, root, outside_the_plan(tmp_path)))
    for key, value in (case.get("env") or {}).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(root)
    try:
        code = run([*case.get("command", ["validate"]), "-f", "fusionizer.yaml"])
    finally:
        for server in sockets:
            server.close()
    out, err = capsys.readouterr()
    shown = out + err
    assert code == case.get("exit", 1), shown
    for expected in case["expect"]:
        assert expected in shown, f"expected {expected!r} in:\n{shown}"
    assert "Traceback" not in shown and SECRET not in shown, shown
