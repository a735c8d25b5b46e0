"""Conventions a CLI user expects: completion with task names, did-you-mean, destroy says
what it will stop before asking, JSON from destroy and watch, progress lines off a
terminal, and a SIGTERM that does not talk about Ctrl-C."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import List

import pytest

from fusionizer.cli import apply as apply_module
from fusionizer.cli import destroy as destroy_module
from fusionizer.cli import main
from fusionizer.cli.watch import report_json
from fusionizer.loop import running
from fusionizer.loop.reconciling import RunReport
from fusionizer.loop.triggers import FILE, Trigger
from fusionizer.reconciler.diff import Change
from fusionizer.reconciler.state import RunResult
from tests.cli.conftest import record_function


def complete(cwd: Path, words: str) -> List[str]:
    """What bash completion offers for the last word of ``words``."""
    env = {**os.environ, "_FUSIONIZER_COMPLETE": "bash_complete", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
    done = subprocess.run([sys.executable, "-m", "fusionizer"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60)
    return [line.split(",", 1)[1] for line in done.stdout.splitlines()]


def test_completion_scripts_and_task_names(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for shell in ("bash", "zsh", "fish"):
        assert main(["completion", shell]) == 0
        assert "_FUSIONIZER_COMPLETE" in capsys.readouterr().out
    assert complete(example.parent, "fusionizer invoke ta") == ["taska", "taskb"]
    assert complete(example.parent, "fusionizer logs demo-billing --task pa") == ["payment"]
    assert "status" in complete(example.parent, "fusionizer st")


def test_an_unknown_task_gets_a_did_you_mean(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invoke", "tsaka", "-f", str(example)]) == 1
    assert "task 'tsaka' is not in plan demo; did you mean 'taska'" in capsys.readouterr().err


def test_destroy_lists_what_it_will_stop_before_asking(example: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    record_function("demo-billing", ["notify", "payment"])
    record_function("demo-storefront", ["checkout"])
    record_function("other-a", ["a"], plan="other")
    monkeypatch.setattr(destroy_module, "interactive", lambda: True)
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("n\n"))
    assert main(["destroy", "-f", str(example)]) == 1
    out = capsys.readouterr().out
    assert "  - demo-billing\n  - demo-storefront\nDelete these 2 function(s)?" in out and "other-a" not in out
    assert main(["destroy", "-f", str(example), "--yes", "-o", "json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done == {"plan": "demo", "namespace": "nuclio", "deleted": ["demo-billing", "demo-storefront"]}


def test_watch_runs_as_json_lines() -> None:
    report = RunReport((Trigger(FILE, "tasks/a/main.py"),), RunResult.OK, "dir:1", "dir:1", {"update": 1},
                       ("demo-a",), warnings=("fusionizer.yaml:3:1: warning: x",), seconds=0.5)
    line = json.dumps(report_json(report))
    assert "\n" not in line
    data = json.loads(line)
    assert data["result"] == "ok" and data["done"] == {"update": 1} and data["triggers"] == ["file tasks/a/main.py"]
    assert data["warnings"] == ["fusionizer.yaml:3:1: warning: x"]


def test_a_long_deploy_reports_progress_every_few_seconds_off_a_terminal() -> None:
    lines: List[str] = []
    ticked = threading.Event()

    def echo(line: str) -> None:
        lines.append(line)
        if "still deploying demo-billing" in line:
            ticked.set()

    with apply_module.ticking(echo, every=0.02) as progress:
        progress.started(Change("update", "demo-billing", ("payment",), "spec changed"))
        assert ticked.wait(10)
    assert any("  still deploying demo-billing [0s]" in line for line in lines)  # dim on a terminal


class _Loop:
    """Stands in for the reconcile loop: runs until stopped."""

    def __init__(self) -> None:
        self._stopped = threading.Event()

    def run_forever(self) -> None:
        self._stopped.wait(30)

    def stop(self) -> None:
        self._stopped.set()


@pytest.mark.parametrize("signum, again", [(signal.SIGTERM, False), (signal.SIGINT, True)])
def test_sigterm_stops_watch_without_mentioning_ctrl_c(signum: int, again: bool,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    signals = running._Signals()
    signals.post(signum)
    log = logging.getLogger("test.watch")
    with caplog.at_level(logging.INFO, logger="test.watch"):
        assert running._run_loop_thread(_Loop(), signals, log) == signum  # type: ignore[arg-type]
    stopping = [r.getMessage() for r in caplog.records if r.getMessage().startswith("stopping")]
    assert len(stopping) == 1 and ("Ctrl-C again" in stopping[0]) == again
