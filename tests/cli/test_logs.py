"""`fusionizer logs`: the function's log on every platform, one task's lines with --task,
--since, -f; tracebacks from the task's own code; failures name the command, not a path."""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator, List

import pytest

from fusionizer.cli import main, tracebacks
from fusionizer.errors import PlatformError
from fusionizer.platforms.local.logfile import read_log
from fusionizer.platforms.local.platform import LocalPlatform
from fusionizer.platforms.local.store import Store
from fusionizer.platforms.nuctl.platform import NuctlPlatform
from tests.cli.conftest import record_function

CODE = "/home/u/.fusionizer/local/nuclio/code/demo-billing-7a0417c61085-00f4eda1"
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/venv/fusionizer/runtime/conversion.py", line 258, in result_from_call\n'
    "    return result_from_output(call(event))\n"
    f'  File "{CODE}/_fusionizer_runtime/dispatcher.py", line 170, in invoke\n'
    "    return self.handler(self.context, event, self.session)\n"
    f'  File "{CODE}/tasks/payment/main.py", line 14, in handler\n'
    '    if not util.luhn_ok(charge["card"]):\n'
    f'  File "{CODE}/tasks/payment/util.py", line 3, in luhn_ok\n'
    "    raise KeyError('card')\n"
    "KeyError: 'card'\n"
)


def stamp(moment: datetime) -> str:
    """How the local processor stamps a line: local time, milliseconds after a comma."""
    local = moment.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S,") + f"{local.microsecond // 1000:03d}"


def billing_log(old: datetime, new: datetime) -> str:
    return "\n".join([
        f"Python> {stamp(old)} [info] Processor started: {{'name': 'demo-billing', 'port': 1}}",
        f"Python> {stamp(old)} [info] notification: {{'to': 'a@b', 'task': 'notify'}}",
        "a print of notify, long ago",
        f"Python> {stamp(new)} [info] charging: {{'amount': 3, 'task': 'payment'}}",
        f"Python> {stamp(new)} [error] Exception caught in handler: {{'exc': \"'card'\", 'traceback': {TRACEBACK!r}}}",
        f"Python> {stamp(new)} [info] notification: {{'to': 'c@d', 'task': 'notify'}}",
    ]) + "\n"


def logs(capsys: pytest.CaptureFixture[str], example: Path, *argv: str) -> List[str]:
    code = main(["logs", *argv, "--file", str(example)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out.splitlines()


def test_a_task_or_its_function_names_the_log_and_task_filters_it(
        example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(timezone.utc)
    record_function("demo-billing", ["notify", "payment"], log=billing_log(now - timedelta(hours=2), now))
    whole = logs(capsys, example, "demo-billing")
    assert logs(capsys, example, "payment") == whole and len(whole) == 12  # 6 lines, a traceback of 6 below one
    notify = logs(capsys, example, "payment", "--task", "notify")
    assert len(notify) == 2 and all("'task': 'notify'" in line for line in notify)
    payment = logs(capsys, example, "demo-billing", "--task", "payment")
    assert payment[0].endswith("charging: {'amount': 3, 'task': 'payment'}")
    assert payment[1].endswith("Exception caught in handler: {'exc': \"'card'\", 'traceback': (below)}")
    # The traceback, below its record, starts at the task's own code.
    assert payment[2:] == ["    Traceback (most recent call last):",
                           f'      File "{CODE}/tasks/payment/main.py", line 14, in handler',
                           '        if not util.luhn_ok(charge["card"]):',
                           f'      File "{CODE}/tasks/payment/util.py", line 3, in luhn_ok',
                           "        raise KeyError('card')", "    KeyError: 'card'"]


def test_since_keeps_the_recent_lines_and_what_belongs_to_them(
        example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(timezone.utc)
    record_function("demo-billing", ["notify", "payment"], log=billing_log(now - timedelta(hours=2), now))
    recent = logs(capsys, example, "demo-billing", "--since", "10m")
    assert recent[0].endswith("charging: {'amount': 3, 'task': 'payment'}") and len(recent) == 9
    assert not any("long ago" in line for line in recent)
    assert logs(capsys, example, "demo-billing", "--since", (now - timedelta(hours=3)).isoformat()) \
        == logs(capsys, example, "demo-billing")


def test_unknown_names_get_a_did_you_mean(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record_function("demo-billing", ["notify", "payment"])
    assert main(["logs", "pamyent", "--file", str(example)]) == 1
    assert "'pamyent' is not in plan demo; did you mean 'payment'?" in capsys.readouterr().err
    assert main(["logs", "payment", "--task", "notfy", "--file", str(example)]) == 1
    assert "task 'notfy' is not served by demo-billing; did you mean 'notify'?" in capsys.readouterr().err


def test_follow_prints_lines_as_they_are_appended(tmp_path: Path) -> None:
    log = tmp_path / "f.log"
    log.write_text("one\n")
    lines = read_log(log, follow=True)
    assert next(lines) == "one"
    got: List[str] = []
    done = threading.Event()

    def consume(it: Iterator[str]) -> None:
        got.append(next(it))
        done.set()

    threading.Thread(target=consume, args=(lines,), daemon=True).start()
    with open(log, "a") as out:
        out.write("tw")
        out.flush()
        out.write("o\n")
    assert done.wait(10) and got == ["two"]


def test_a_dead_function_names_the_logs_command_not_a_path(fusionizer_home: Path) -> None:
    record_function("demo-billing", ["payment"], "ready")
    Store("nuclio").write("procs", "demo-billing", {"pid": 2 ** 22 + 7, "start": 1, "port": 1, "code": "/nowhere"})
    (record,) = LocalPlatform("nuclio").list()
    assert record.state == "unhealthy" and record.message.endswith("see `fusionizer logs demo-billing`")
    assert str(fusionizer_home) not in record.message


def test_tracebacks_start_at_the_first_frame_of_the_tasks_code() -> None:
    body = f"Exception caught in handler - \"'card'\": {TRACEBACK}"
    shown = tracebacks.from_user_code(body)
    assert shown.startswith("Exception caught in handler - \"'card'\": Traceback (most recent call last):\n"
                            f'  File "{CODE}/tasks/payment/main.py", line 14')
    assert "dispatcher.py" not in shown and shown.endswith("KeyError: 'card'\n")
    runtime_fault = "Traceback (most recent call last):\n  File \"/x/dispatcher.py\", line 1, in f\nValueError: x\n"
    assert tracebacks.from_user_code(runtime_fault) == runtime_fault  # no task frame: left whole


def fake_tool(bin_dir: Path, name: str) -> None:
    """``name`` on PATH: prints its arguments and two log lines (one coloured, as Nuclio's)."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / name
    script.write_text(f"#!/bin/sh\necho \"{name} $*\"\nprintf '\\033[32m(I)\\033[0m ready\\n'\n")
    script.chmod(0o755)


@pytest.mark.parametrize("nuctl_platform, tool, expected", [
    ("local", "docker", "docker logs --since 2026-01-01T00:00:00Z nuclio-shop-demo-billing"),
    ("kube", "kubectl", "kubectl logs -n shop -l nuclio.io/function-name=demo-billing --tail=-1 "
                        "--since-time=2026-01-01T00:00:00Z -f"),
])
def test_nuctl_reads_the_log_where_nuclio_keeps_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    nuctl_platform: str, tool: str, expected: str) -> None:
    fake_tool(tmp_path / "bin", tool)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    platform = NuctlPlatform("shop", {"nuctlPlatform": nuctl_platform})
    since = datetime(2026, 1, 1, tzinfo=timezone.utc)
    lines = list(platform.logs("demo-billing", since, follow=tool == "kubectl"))
    assert lines == [expected, "(I) ready"]


def test_nuctl_without_the_tool_says_how_to_read_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PlatformError) as caught:
        NuctlPlatform("shop", {"nuctlPlatform": "local"}).logs("demo-billing")
    assert "docker is not on PATH" in str(caught.value) and "`docker logs nuclio-shop-demo-billing`" in str(caught.value)


def test_a_log_command_that_fails_is_an_error_with_its_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "docker").write_text("#!/bin/sh\necho 'Error: No such container: nuclio-shop-x'\nexit 1\n")
    (tmp_path / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    began = time.monotonic()
    with pytest.raises(PlatformError) as caught:
        list(NuctlPlatform("shop", {"nuctlPlatform": "local"}).logs("x"))
    assert "exited 1" in str(caught.value) and "No such container" in str(caught.value)
    assert time.monotonic() - began < 30
