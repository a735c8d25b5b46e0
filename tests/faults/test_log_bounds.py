"""Logs on the local platform are bounded, whatever a function, its build commands or the
gateway print: files rotate at a size cap, a line is cut at a length cap, a failed deploy
reads only the tail of its log, and ``fusionizer logs`` reads across rotations.

Only the CLI and the documented variables are used here (the pieces: test_log_rotation.py).
"""

from __future__ import annotations

import re
import socket
import threading
import tracemalloc
from pathlib import Path
from typing import List

import pytest
import yaml

from fusionizer.cli import main
from fusionizer.platforms.local.store import Store
from testing.example import Cli
from testing.plans import discovering_plan, write_task

KIB, MIB = 1024, 1024 * 1024
MAX_BYTES, BACKUPS, LINE_BYTES = "FUSIONIZER_LOG_MAX_BYTES", "FUSIONIZER_LOG_BACKUPS", "FUSIONIZER_LOG_LINE_BYTES"


def log_files(log: Path) -> List[Path]:
    return sorted(log.parent.glob(log.name + "*"))


def on_disk(log: Path) -> int:
    return sum(p.stat().st_size for p in log_files(log))


@pytest.fixture
def limited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MAX_BYTES, str(256 * KIB))
    monkeypatch.setenv(BACKUPS, "2")
    monkeypatch.setenv(LINE_BYTES, str(8 * KIB))


FLOOD = '''
import sys

def handler(context, event):
    if event.body == b"line":
        print("z" * (20 * 1024 * 1024))  # one line of 20 MB
    else:
        for i in range(20 * 1024):  # 20 MB in lines of 1 KiB, on both streams
            (sys.stderr if i % 2 else sys.stdout).write(f"{i:08d}" + "w" * 1015 + "\\n")
    print("request done", flush=True)
    return "flooded"
'''


def test_a_request_that_prints_without_end_fills_no_disk(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], limited: None) -> None:
    (tmp_path / "fusionizer.yaml").write_text(discovering_plan("noisy"))
    write_task(tmp_path, "flood", FLOOD)
    cli = Cli(capsys, tmp_path / "fusionizer.yaml")
    cli.ok("apply")
    log = Store("nuclio").log_file("noisy-flood")
    for body in ("lines", "line"):
        assert cli.ok("invoke", "flood", "--body", body).out.strip() == "flooded"
    cap = 3 * 256 * KIB
    assert on_disk(log) <= cap, f"{on_disk(log)} bytes of logs for a cap of {cap}"
    assert main(["logs", "noisy-flood", "--file", str(cli.plan)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2:] == ["z" * 8 * KIB + f" [... {20 * MIB - 8 * KIB} more bytes of this line "
                          "not logged]", "request done"]
    assert re.fullmatch(r"\d{8}w{1015}", lines[0])  # files end at line ends: the oldest kept is whole


INIT_FLOOD = '''
import sys

def init_context(context):
    for i in range(200 * 1024):  # 20 MB, then the error that matters
        sys.stdout.write("v" * 99 + "\\n")
    raise RuntimeError("cannot start: the database is gone")

def handler(context, event):
    return "never"
'''
BUILD_FLOOD = f"yes {'u' * 99} | head -n {200 * 1024} && echo 'the build failed here' && exit 3"  # 20 MB


@pytest.mark.parametrize("where", ["init", "build command"])
def test_a_failed_deploy_reads_only_the_tail_of_a_huge_log(
        where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MAX_BYTES, str(200 * MIB))  # no rotation: the log holds all 20 MB
    (tmp_path / "fusionizer.yaml").write_text(discovering_plan("huge"))
    write_task(tmp_path, "boom", INIT_FLOOD if where == "init" else "def handler(context, event):\n    return 1\n")
    if where == "build command":
        spec = tmp_path / "tasks" / "boom" / "function.yaml"
        config = yaml.safe_load(spec.read_text())
        config["spec"]["build"] = {"commands": [BUILD_FLOOD]}
        spec.write_text(yaml.safe_dump(config))
    cli = Cli(capsys, tmp_path / "fusionizer.yaml")
    tracemalloc.start()
    try:
        failed = cli("apply")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert failed.code == 1
    expected = "cannot start: the database is gone" if where == "init" else "the build failed here"
    assert expected in failed.out
    assert Store("nuclio").log_file("huge-boom").stat().st_size > 19 * MIB
    assert peak < 16 * MIB, f"apply's Python heap peaked at {peak / MIB:.0f} MiB"


def test_the_gateway_log_is_bounded_too(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MAX_BYTES, "4K")
    monkeypatch.setenv(BACKUPS, "1")
    (tmp_path / "fusionizer.yaml").write_text(discovering_plan("gw"))
    write_task(tmp_path, "t", "def handler(context, event):\n    return 't'\n")
    Cli(capsys, tmp_path / "fusionizer.yaml").ok("apply")
    url = Store("nuclio").read("run", "gateway")
    assert url is not None
    log = Store("nuclio").log_file("gateway")

    def garbage() -> None:
        for _ in range(100):
            with socket.create_connection(("127.0.0.1", int(url["port"])), timeout=10) as conn:
                conn.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")  # uvicorn warns: Invalid HTTP request
                conn.recv(1024)

    workers = [threading.Thread(target=garbage) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert log.with_name("gateway.log.1").exists(), "400 warnings did not even rotate the log once"
    assert on_disk(log) <= 2 * 4 * KIB + 1024


def test_a_bad_limit_stops_apply_before_anything_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fusionizer.yaml").write_text(discovering_plan("bad"))
    write_task(tmp_path, "t", "def handler(context, event):\n    return 't'\n")
    cli = Cli(capsys, tmp_path / "fusionizer.yaml")
    monkeypatch.setenv(MAX_BYTES, "ten")
    refused = cli("apply")
    assert refused.code == 1 and "Traceback" not in refused.err
    assert f"{MAX_BYTES}='ten' is not valid: expected a size in bytes, optionally with K, M or G" in refused.err
    assert cli.ok("status").code == 0  # a question does not need the limits
    assert cli.functions() == {} and Store("nuclio").read("run", "gateway") is None
