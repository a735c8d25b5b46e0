"""`status` explains: why a function does not serve, in the table; columns aligned with
and without colour; the history of this platform's deployment only."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from fusionizer.cli import cli, main, render
from fusionizer.platforms.local.platform import LocalPlatform
from fusionizer.reconciler.state import PlanRef, PlanState, RunResult
from tests.cli.conftest import record_function

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def column_starts(line: str) -> list[int]:
    return [m.start(1) for m in re.finditer(r"(?:^|  )(\S)", line)]


def test_the_reason_a_function_does_not_serve_is_in_the_table(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record_function("demo-billing", ["notify", "payment"], "error", "Function wasn't ready in time: exited 1\nLogs:")
    record_function("demo-storefront", ["checkout"], "scaledToZero")  # serving: no reason
    assert main(["status", "-f", str(example)]) == 0
    out = capsys.readouterr().out
    header, billing, storefront = out.splitlines()[1:4]
    assert header.split() == ["FUNCTION", "STATE", "TASKS", "REVISION", "URL", "REASON"]
    assert billing.endswith("Function wasn't ready in time: exited 1")
    assert header.index("REASON") == billing.index("Function wasn't")
    assert storefront.split()[1] == "scaledToZero" and "Function" not in storefront


def test_columns_line_up_whether_or_not_the_cells_are_coloured() -> None:
    rows = [[click.style("error", fg="red"), "a"], ["ready", "b"]]
    coloured = render.table(rows, ["STATE", "TASKS"])
    plain = ANSI.sub("", coloured)
    assert coloured != plain
    assert [column_starts(line) for line in plain.splitlines()] == [[0, 7]] * 3


def test_no_color_and_the_no_color_variable_keep_colour_codes_out(example: Path) -> None:
    record_function("demo-billing", ["notify", "payment"], "error", "boom")
    runner = CliRunner()
    coloured = runner.invoke(cli, ["status", "-f", str(example)], color=True)
    assert coloured.exit_code == 0 and ANSI.search(coloured.output)
    for argv, env in ((["status", "--no-color"], {}), (["--no-color", "status"], {}), (["status"], {"NO_COLOR": "1"})):
        plain = runner.invoke(cli, [*argv, "-f", str(example)], color=True, env=env)
        assert plain.exit_code == 0 and not ANSI.search(plain.output), argv
        assert plain.output == ANSI.sub("", coloured.output)


def test_local_and_nuctl_runs_of_one_plan_keep_apart_histories(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    local, nuctl = PlanState(PlanRef("local", "nuclio", "demo")), PlanState(PlanRef("nuctl", "nuclio", "demo"))
    nuctl.record_run({"at": "2026-01-01T00:00:00+00:00", "revision": "dir:aaaaaaaaaaaa", "result": RunResult.FAILED,
                      "errors": ["demo-billing: nuctl deploy failed"]})
    assert local.history() == [] and local.dir != nuctl.dir
    assert PlanState.of(LocalPlatform("nuclio"), "demo").dir == local.dir
    assert main(["status", "-f", str(example)]) == 0
    out = capsys.readouterr().out
    assert "Plan demo on the local platform, namespace nuclio" in out
    assert "Recent runs" not in out and "nuctl deploy failed" not in out
