"""Unit tests of the nuctl output parsers, the runner and the small pure helpers."""

from __future__ import annotations

import json
import sys
import time

import pytest

from fusionizer.errors import FusionizerError
from fusionizer.platforms.base import FunctionRecord
from fusionizer.platforms.nuctl.invoking import candidate_urls
from fusionizer.platforms.nuctl.options import NuctlOptions
from fusionizer.platforms.nuctl.output import (
    parse_bare_error,
    parse_error_stack,
    parse_function_objects,
    parse_invoke_output,
)
from fusionizer.platforms.nuctl.platform import deploy_error, go_duration, root_cause
from fusionizer.platforms.nuctl.runner import Completed, resolve_binary, run_process, strip_ansi
from fusionizer.platforms.nuctl.states import Phase, phase


def fn(name: str, state: str = "ready") -> dict:
    return {"metadata": {"name": name, "namespace": "nuclio"}, "spec": {}, "status": {"state": state}}


def test_one_function_is_one_object() -> None:
    text = json.dumps(fn("a"), indent="\t") + "\n"
    assert [o["metadata"]["name"] for o in parse_function_objects(text)] == ["a"]


def test_several_functions_are_an_array() -> None:
    text = json.dumps([fn("a"), fn("b")], indent="\t") + "\n"
    assert [o["metadata"]["name"] for o in parse_function_objects(text)] == ["a", "b"]


@pytest.mark.parametrize("text", ["No functions found\n", "No functions found", "", "\n"])
def test_no_functions(text: str) -> None:
    assert parse_function_objects(text) == []


def test_concatenated_objects_of_old_nuctl() -> None:
    text = json.dumps(fn("a"), indent="\t") + "\n" + json.dumps(fn("b"), indent="\t") + "\n"
    assert [o["metadata"]["name"] for o in parse_function_objects(text)] == ["a", "b"]


def test_log_lines_around_json_are_skipped() -> None:
    text = '24.01.02 10:11:12.123 nuctl \x1b[32m(D)\x1b[0m Getting functions {"name": ""}\n' + json.dumps(fn("a"))
    assert len(parse_function_objects(text)) == 1


@pytest.mark.parametrize("text", ["Error: boom", '{"metadata": 1}', "[1, 2]", "{"])
def test_garbage_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_function_objects(text)


# The stack a missing project produces (CVAT's docs quote it from a real nuctl).
PROJECT_MISSING = (
    "\nError - Project does not exist\n    ...//nuclio/pkg/platform/abstract/platform.go:434\n"
    "\nCall stack:\nProject existence validation failed\n    ...//nuclio/pkg/platform/abstract/platform.go:434\n"
    "Failed to validate a function configuration\n    /nuclio/pkg/platform/local/platform.go:1273\n"
)


def test_error_stack_root_cause() -> None:
    report = parse_error_stack(PROJECT_MISSING)
    assert report is not None
    assert report.root_cause == "Project does not exist"
    assert report.stack.startswith("Error - Project does not exist\n")
    assert "Call stack:\nProject existence validation failed" in report.stack


def test_multiline_root_cause_stops_at_its_location() -> None:
    stderr = (
        "\x1b[31m\nError - Function wasn't ready in time. Logs:\nTraceback (most recent call last):\n"
        '  File "main.py", line 1\nValueError: bad\n    /nuclio/pkg/platform/local/platform.go:1054\n\nCall stack:\n'
    )
    report = parse_error_stack(stderr)
    assert report is not None
    assert report.headline == "Function wasn't ready in time. Logs:"
    assert report.root_cause.endswith("ValueError: bad")


def test_error_without_line_info() -> None:
    report = parse_error_stack("\nError - plain failure\nCall stack:\nplain failure\n")
    assert report is not None and report.root_cause == "plain failure"


def test_no_error_stack() -> None:
    assert parse_error_stack("Error: unknown flag: --x\n") is None


LOG = '24.01.02 10:11:12.123 nuctl \x1b[34m(I)\x1b[0m Deploying function {"name": "f"}\n'


def test_bare_error_is_the_unterminated_last_line_of_stdout() -> None:
    assert parse_bare_error("No functions found") == "No functions found"
    assert parse_bare_error(LOG + "Project does not exist") == "Project does not exist"
    assert parse_bare_error(LOG) is None  # log lines end with a newline
    assert parse_bare_error(LOG.rstrip("\n")) is None  # a log line cut short is no error
    assert parse_bare_error("") is None


def test_root_cause_prefers_the_error_stack_and_ignores_a_killed_deploy() -> None:
    assert root_cause(Completed(("nuctl",), 1, "", PROJECT_MISSING)) == "Project does not exist"
    assert root_cause(Completed(("nuctl",), 1, LOG + "Project does not exist", "")) == "Project does not exist"
    killed = Completed(("nuctl",), -9, LOG + "Building", "", timed_out=True, timeout=5)
    assert root_cause(killed) == ""


def test_deploy_error_shows_a_bare_error_first() -> None:
    error = deploy_error("f", Completed(("nuctl", "deploy"), 1, LOG + "Project does not exist", ""))
    lines = str(error).splitlines()
    assert lines[0].startswith("nuctl deploy f failed (create the project with `nuctl create project NAME`")
    assert lines[1] == "Error - Project does not exist"
    assert "last 2 of 2 log lines:" in str(error) and "exit code: 1" in str(error)


@pytest.mark.parametrize("seconds, text", [(60, "60s"), (0.5, "0.5s"), (90.25, "90.25s"), (1e6, "1000000s")])
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


INVOKE_OUT = (
    '24.01.02 10:11:12.123 nuctl \x1b[34m(I)\x1b[0m Executing function {"method": "POST"}\n'
    '24.01.02 10:11:12.130 nuctl \x1b[34m(I)\x1b[0m Got response {"status": "201 Created"}\n'
    "\n> Response headers:\nContent-Type = application/json\nContent-Length = 99\nX-Thing = a = b\n"
    '\n> Response body:\n{\n    "a": [\n        1,\n        2\n    ]\n}\n'
)


def test_invoke_output_is_parsed() -> None:
    response = parse_invoke_output(INVOKE_OUT)
    assert response is not None
    assert response.status == 201
    assert response.headers == {"Content-Type": "application/json", "X-Thing": "a = b"}
    # Re-encoded the way Nuclio's Python wrapper encodes dicts.
    assert response.body == json.dumps({"a": [1, 2]}).encode()


def test_invoke_text_body_keeps_its_bytes() -> None:
    out = '... (I) Got response {"status": "200 OK"}\n\n> Response headers:\nContent-Type = text/plain\n\n> Response body:\n  two\n lines \n'
    response = parse_invoke_output(out)
    assert response is not None and response.body == b"  two\n lines "


def test_invoke_without_response() -> None:
    assert parse_invoke_output("some logs\n") is None


def test_strip_ansi() -> None:
    assert strip_ansi("a \x1b[34m(I)\x1b[0m b \x1b[1;31mred\x1b[0m") == "a (I) b red"


def test_states() -> None:
    assert [phase(s) for s in ("ready", "scaledToZero")] == [Phase.SERVING, Phase.SERVING]
    assert [phase(s) for s in ("error", "unhealthy", "somethingNew")] == [Phase.BROKEN] * 3
    assert phase("imported") == Phase.NOT_DEPLOYED
    assert {phase(s) for s in ("building", "waitingForBuild", "configuringResources", "")} == {Phase.IN_PROGRESS}


def record(external: tuple = (), internal: tuple = (), port: int = 0) -> FunctionRecord:
    return FunctionRecord(
        "f", "nuclio", {}, {}, "ready", http_port=port, internal_urls=internal, external_urls=external
    )


def test_candidate_urls_prefer_the_last_external_url() -> None:
    urls = candidate_urls(record(("10.0.0.1:31000", "0.0.0.0:32001"), ("172.17.0.3:8080",), 32001))
    assert urls == ["http://127.0.0.1:32001", "http://172.17.0.3:8080"]


def test_candidate_urls_without_external() -> None:
    assert candidate_urls(record((), ("nuclio-f.ns.svc.cluster.local:8080",))) == [
        "http://nuclio-f.ns.svc.cluster.local:8080"
    ]
    assert candidate_urls(record(port=4000)) == ["http://127.0.0.1:4000"]
    assert candidate_urls(record()) == []


def test_options() -> None:
    opts = NuctlOptions.from_mapping(
        {"kind": "nuctl", "nuctlPlatform": "kube", "deployTimeout": 30, "registry": "r:5000"}
    )
    assert (opts.platform, opts.deploy_timeout, opts.registry, opts.project_name) == ("kube", 30.0, "r:5000", None)
    assert NuctlOptions.from_mapping({}).platform == "auto"
    with pytest.raises(FusionizerError, match="nuctlPlatform"):
        NuctlOptions.from_mapping({"nuctlPlatform": "docker"})
    with pytest.raises(FusionizerError, match="deployTimeout"):
        NuctlOptions.from_mapping({"deployTimeout": "10"})


def test_missing_binary_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FUSIONIZER_NUCTL", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(FusionizerError) as info:
        resolve_binary(None)
    assert "releases" in str(info.value) and "nuctlPath" in str(info.value) and "FUSIONIZER_NUCTL" in str(info.value)
    with pytest.raises(FusionizerError, match="/opt/none/nuctl"):
        resolve_binary("/opt/none/nuctl")


def test_env_overrides_configured_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUSIONIZER_NUCTL", sys.executable)
    assert resolve_binary("/opt/none/nuctl") == sys.executable


def test_runner_streams_lines_and_splits_streams() -> None:
    seen = []
    script = (
        "import sys; print('\\x1b[34m(I)\\x1b[0m one', flush=True); print('two'); sys.stderr.write('bad'); sys.exit(3)"
    )
    done = run_process([sys.executable, "-c", script], timeout=30, on_line=seen.append)
    assert seen == ["(I) one", "two"]
    assert (done.returncode, done.stderr, done.ok, done.timed_out) == (3, "bad", False, False)


def test_runner_timeout_kills_the_process_group() -> None:
    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    started = time.monotonic()
    done = run_process([sys.executable, "-c", script], timeout=1.0)
    assert done.timed_out and not done.ok
    # The grandchild held stdout open too: returning at all means the whole group died.
    assert time.monotonic() - started < 20
    assert "killed after the 1s timeout" in done.render()


def test_render_shows_everything() -> None:
    done = Completed(("nuctl", "get", "function", "-n", "my ns"), 1, "out \x1b[31m(E)\x1b[0m\n", "err\n")
    assert done.render() == (
        "command: nuctl get function -n 'my ns'\nexit code: 1\nstdout:\n    out (E)\nstderr:\n    err"
    )
