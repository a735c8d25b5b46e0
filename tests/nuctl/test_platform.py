"""NuctlPlatform against the nuctl emulator: the commands it issues (read back from the
emulator's calls.jsonl), how it parses what nuctl prints, and how failures surface."""

from __future__ import annotations

import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, List

import pytest
import yaml

from fusionizer.errors import FusionizerError, PlatformError
from fusionizer.platforms.base import ANNOTATION_TASKS, LABEL_MANAGED_BY, LABEL_PLAN, FunctionRecord, InvokeRequest
from fusionizer.platforms.nuctl.platform import NuctlPlatform

LOCAL = ("-n", "nuclio", "--platform", "local")
MakeFunction = Callable[..., Path]

FAILING = "def handler(context, event):\n    raise ValueError('task exploded')\n"


def list_call() -> tuple:
    return ("get", "function", *LOCAL, "-o", "json")


# --- list ------------------------------------------------------------------------------


def test_list_of_an_empty_namespace(nuctl_emulator: Any, nuctl_platform: Callable[..., NuctlPlatform]) -> None:
    assert nuctl_platform().list() == []
    assert nuctl_emulator.args() == [list_call()]


def test_list_of_one_and_of_many_functions(
    nuctl_emulator: Any, nuctl_platform: Callable[..., NuctlPlatform], make_function: MakeFunction
) -> None:
    platform = nuctl_platform()
    nuctl_emulator.run("deploy", "--path", str(make_function("a", runtime=None)), *LOCAL)
    mark = nuctl_emulator.mark()
    [only] = platform.list()  # nuctl prints ONE object for one function
    assert (only.name, only.namespace, only.state, only.serving) == ("a", "nuclio", "error", False)
    assert "function.yaml must specify runtime" in only.message
    nuctl_emulator.run("deploy", "--path", str(make_function("b", runtime=None)), *LOCAL)
    nuctl_emulator.run("deploy", "--path", str(make_function("c", runtime=None)), *LOCAL)
    names = [r.name for r in platform.list()]
    assert names == ["a", "b", "c"]
    lists = [args for args in nuctl_emulator.args(mark) if args[0] == "get"]
    assert lists == [list_call(), list_call()]  # exactly one nuctl call per list()


def test_list_keeps_labels_of_managed_and_unmanaged_functions(
    nuctl_emulator: Any, nuctl_platform: Callable[..., NuctlPlatform], make_function: MakeFunction
) -> None:
    managed = {LABEL_MANAGED_BY: "fusionizer", LABEL_PLAN: "demo"}
    nuctl_emulator.run(
        "deploy",
        "--path",
        str(make_function("demo-a", runtime=None, labels=managed, annotations={ANNOTATION_TASKS: "a,b"})),
        *LOCAL,
    )
    nuctl_emulator.run("deploy", "--path", str(make_function("someone-else", runtime=None)), *LOCAL)
    records = {r.name: r for r in nuctl_platform().list()}
    assert records["demo-a"].plan() == "demo" and records["demo-a"].tasks() == ("a", "b")
    assert records["someone-else"].plan() is None
    assert records["someone-else"].labels == {"nuclio.io/project-name": "default"}


def test_list_failure_shows_the_command(
    nuctl_emulator: Any, nuctl_platform: Callable[..., NuctlPlatform], tmp_path: Path
) -> None:
    platform = nuctl_platform(nuctlPlatform="kube", kubeconfig=str(tmp_path / "missing"))
    with pytest.raises(PlatformError) as info:
        platform.list()
    text = str(info.value)
    assert text.startswith("nuctl could not list functions: ")
    assert "command: " in text and "--kubeconfig" in text and "exit code: 1" in text and "stderr:" in text


def test_kube_platform_and_kubeconfig_are_passed(
    nuctl_emulator: Any, nuctl_platform: Callable[..., NuctlPlatform], tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({"current-context": "c", "contexts": [{"name": "c", "context": {}}]}))
    assert nuctl_platform("team", nuctlPlatform="kube", kubeconfig=str(kubeconfig)).list() == []
    assert nuctl_emulator.args() == [
        ("get", "function", "-n", "team", "--platform", "kube", "--kubeconfig", str(kubeconfig), "-o", "json")
    ]


def test_auto_is_passed_explicitly(nuctl_emulator: Any) -> None:
    platform = NuctlPlatform("nuclio", {})
    platform.list()
    platform.close()
    assert nuctl_emulator.args() == [("get", "function", "-n", "nuclio", "--platform", "auto", "-o", "json")]


def test_missing_nuctl(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FUSIONIZER_NUCTL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    platform = NuctlPlatform("nuclio", {"nuctlPlatform": "local"})  # building it needs no nuctl
    with pytest.raises(FusionizerError, match="nuctl not found") as info:
        platform.list()
    assert "nuctlPath" in str(info.value)
    platform.close()


# --- deploy ----------------------------------------------------------------------------


def test_deploy_argv_and_result(
    nuctl_emulator: Any, nuctl_platform: Callable[..., NuctlPlatform], make_function: MakeFunction, source_of: Any
) -> None:
    nuctl_emulator.run("create", "project", "team", *LOCAL)
    platform = nuctl_platform(
        registry="localhost:5000",
        runRegistry="registry:5000",
        projectName="team",
        readinessTimeout=30,
        serverUrl="http://127.0.0.1:8000",
    )
    directory = make_function("demo-echo", labels={LABEL_MANAGED_BY: "fusionizer", LABEL_PLAN: "demo"})
    mark = nuctl_emulator.mark()
    lines: List[str] = []
    record = platform.deploy(source_of(directory), lines.append)
    assert nuctl_emulator.args(mark) == [
        (
            "deploy",
            "demo-echo",
            "--path",
            str(directory.resolve()),
            *LOCAL,
            "--registry",
            "localhost:5000",
            "--run-registry",
            "registry:5000",
            "--project-name",
            "team",
            "--readiness-timeout",
            "30",
            "-e",
            "FUSIONIZER_SERVER_URL=http://127.0.0.1:8000",
        ),
        ("get", "function", "demo-echo", *LOCAL, "-o", "json"),
    ]
    assert record.serving and record.http_port > 0 and record.plan() == "demo"
    assert record.labels["nuclio.io/project-name"] == "team"
    assert record.raw["spec"]["env"] == [{"name": "FUSIONIZER_SERVER_URL", "value": "http://127.0.0.1:8000"}]
    assert record.raw["spec"]["image"] == "localhost:5000/nuclio/processor-demo-echo:latest"
    # Log lines reach the sink as they come, without ANSI codes.
    assert any(line.endswith('(I) Deploying function {"name": "demo-echo"}') for line in lines)
    assert "Function deploy complete" in lines[-1] and not any("\x1b" in line for line in lines)


def test_minimal_deploy_argv(
    nuctl_emulator: Any, nuctl_platform: Callable[..., NuctlPlatform], make_function: MakeFunction, source_of: Any
) -> None:
    directory = make_function("plain", env={"FUSIONIZER_SERVER_URL": "http://gw:8000"})
    nuctl_platform(serverUrl="http://other:8000").deploy(source_of(directory))
    # The build already sets the gateway URL: nuctl would append a duplicate.
    assert nuctl_emulator.args()[0] == ("deploy", "plain", "--path", str(directory.resolve()), *LOCAL)


def test_deploy_creates_a_missing_project_once(
    nuctl_emulator: Any, nuctl_platform: Callable[..., NuctlPlatform], make_function: MakeFunction, source_of: Any
) -> None:
    platform = nuctl_platform(projectName="team")
    platform.deploy(source_of(make_function("p1")))
    nuctl_platform(projectName="team").deploy(source_of(make_function("p2")))
    commands = [args[:3] for args in nuctl_emulator.args()]
    assert commands == [
        ("deploy", "p1", "--path"),
        ("create", "project", "team"),
        ("deploy", "p1", "--path"),
        ("get", "function", "p1"),
        ("deploy", "p2", "--path"),
        ("get", "function", "p2"),
    ]


def test_deploy_failure_shows_the_root_cause_first(
    nuctl_emulator: Any, nuctl_platform: Callable[..., NuctlPlatform], make_function: MakeFunction, source_of: Any
) -> None:
    broken = make_function("broken", source="raise RuntimeError('model file is missing')\n")
    with pytest.raises(PlatformError) as info:
        nuctl_platform().deploy(source_of(broken))
    text = str(info.value)
    assert "\x1b" not in text
    lines = text.splitlines()
    assert lines[0] == "nuctl deploy broken failed"
    assert lines[1] == "Error - Function wasn't ready in time. Logs:"
    error_at, stack_at = text.index("model file is missing"), text.index("Call stack:")
    logs_at, command_at = text.index("log lines:\n"), text.index("command: ")
    assert error_at < stack_at < logs_at < command_at
    assert "(I) Waiting for function to be ready" in text[logs_at:]
    assert "exit code: 1" in text
    # The failed deploy ran no `get`: the error is all nuctl said.
    assert [args[0] for args in nuctl_emulator.args()] == ["deploy"]


def test_deploy_failure_without_a_project(
    nuctl_emulator: Any, nuctl_platform: Callable[..., NuctlPlatform], make_function: MakeFunction, source_of: Any
) -> None:
    directory = make_function("lost", labels={"nuclio.io/project-name": "nowhere"})
    with pytest.raises(PlatformError) as info:
        nuctl_platform().deploy(source_of(directory))
    assert str(info.value).splitlines()[1] == "Error - Project does not exist"
    assert "nuctl create project" in str(info.value).splitlines()[0]


def test_deploy_timeout_kills_nuctl(
    nuctl_emulator: Any, nuctl_platform: Callable[..., NuctlPlatform], make_function: MakeFunction, source_of: Any
) -> None:
    slow = "import time\n\ndef init_context(context):\n    time.sleep(60)\n\ndef handler(context, event):\n    return 'late'\n"
    with pytest.raises(PlatformError, match=r"timed out after 2s \(spec.platform.deployTimeout\)"):
        nuctl_platform(deployTimeout=2).deploy(source_of(make_function("slow", source=slow)))
    [killed] = nuctl_emulator.calls()
    assert killed.args[0] == "deploy" and killed.exit is None  # it never got to record an exit


def test_redeploy_updates_in_place(
    nuctl_emulator: Any, nuctl_platform: Callable[..., NuctlPlatform], make_function: MakeFunction, source_of: Any
) -> None:
    platform = nuctl_platform()
    directory = make_function("again")
    first = platform.deploy(source_of(directory))
    (directory / "main.py").write_text((directory / "main.py").read_text().replace("VERSION = 1", "VERSION = 7"))
    second = platform.deploy(source_of(directory))
    assert [r.name for r in platform.list()] == ["again"]
    response = platform.invoke(second, "t", InvokeRequest(body=b"x"))
    assert json.loads(response.body)["version"] == 7
    assert first.name == second.name


# --- delete ----------------------------------------------------------------------------


def test_delete_is_idempotent(
    nuctl_emulator: Any, nuctl_platform: Callable[..., NuctlPlatform], make_function: MakeFunction, source_of: Any
) -> None:
    platform = nuctl_platform()
    platform.deploy(source_of(make_function("doomed")))
    mark = nuctl_emulator.mark()
    platform.delete("doomed")
    platform.delete("doomed")
    assert nuctl_emulator.args(mark) == [("delete", "function", "doomed", *LOCAL)] * 2
    assert platform.list() == []
    assert nuctl_emulator.running_processes() == []


def test_delete_forces_a_function_stuck_provisioning(
    nuctl_emulator: Any, nuctl_platform: Callable[..., NuctlPlatform], make_function: MakeFunction
) -> None:
    nuctl_emulator.run("deploy", "--path", str(make_function("stuck", runtime=None)), *LOCAL)
    store = nuctl_emulator.store()
    record = store.function("stuck")
    record["status"] = {"state": "building"}  # what a deploy killed mid-way leaves behind
    store.save_function(record)
    mark = nuctl_emulator.mark()
    nuctl_platform().delete("stuck")
    assert nuctl_emulator.args(mark) == [
        ("delete", "function", "stuck", *LOCAL),
        ("delete", "function", "stuck", *LOCAL, "--force"),
    ]


# --- invoke ----------------------------------------------------------------------------


def test_invoke_over_http(
    nuctl_emulator: Any, nuctl_platform: Callable[..., NuctlPlatform], make_function: MakeFunction, source_of: Any
) -> None:
    platform = nuctl_platform()
    record = platform.deploy(source_of(make_function("echo")))
    mark = nuctl_emulator.mark()
    response = platform.invoke(
        record, "taskb", InvokeRequest(method="POST", path="/sub", body=b"payload", headers={"Task-Name": "ignored"})
    )
    assert response.status == 200 and response.content_type == "application/json"
    assert json.loads(response.body) == {
        "task": "taskb",
        "body": "payload",
        "path": "/sub",
        "greeting": None,
        "version": 1,
    }
    assert nuctl_emulator.calls(mark) == []  # straight to the function, no nuctl involved


def unreachable(record: FunctionRecord) -> FunctionRecord:
    """The same function with addresses nothing listens on (a record from another host)."""
    return dataclasses.replace(record, external_urls=("0.0.0.0:1",), internal_urls=("127.0.0.1:1",), http_port=1)


def test_invoke_falls_back_to_nuctl(
    nuctl_emulator: Any, nuctl_platform: Callable[..., NuctlPlatform], make_function: MakeFunction, source_of: Any
) -> None:
    platform = nuctl_platform()
    record = platform.deploy(source_of(make_function("echo")))
    mark = nuctl_emulator.mark()
    request = InvokeRequest(method="POST", path="/p", body=b'{"k": 1}', headers={"Content-Type": "application/json"})
    response = platform.invoke(unreachable(record), "taskc", request)
    assert nuctl_emulator.args(mark) == [
        (
            "invoke",
            "echo",
            *LOCAL,
            "-m",
            "POST",
            "-b",
            '{"k": 1}',
            "-d",
            "Task-Name=taskc",
            "-c",
            "application/json",
            "-p",
            "p",
            "--raise-on-status",
            "-t",
            "60s",
        )
    ]
    assert response.status == 200
    assert json.loads(response.body) == {
        "task": "taskc",
        "body": {"k": 1},
        "path": "/p",
        "greeting": None,
        "version": 1,
    }


def test_invoke_fallback_returns_error_statuses(
    nuctl_emulator: Any, nuctl_platform: Callable[..., NuctlPlatform], make_function: MakeFunction, source_of: Any
) -> None:
    platform = nuctl_platform()
    record = platform.deploy(source_of(make_function("fails", source=FAILING)))
    response = platform.invoke(unreachable(record), "t", InvokeRequest(method="GET"))
    assert response.status == 500 and b"task exploded" in response.body
    direct = platform.invoke(record, "t", InvokeRequest(method="GET"))
    assert direct.status == 500 and b"task exploded" in direct.body


def test_invoke_of_a_vanished_function(
    nuctl_emulator: Any, nuctl_platform: Callable[..., NuctlPlatform], make_function: MakeFunction, source_of: Any
) -> None:
    platform = nuctl_platform()
    record = platform.deploy(source_of(make_function("brief")))
    platform.delete("brief")
    with pytest.raises(PlatformError, match="nuctl could not invoke function brief: Function not found"):
        platform.invoke(record, "t", InvokeRequest())


def test_invoke_fallback_refuses_what_nuctl_cannot_carry(
    nuctl_emulator: Any, nuctl_platform: Callable[..., NuctlPlatform]
) -> None:
    record = FunctionRecord("f", "nuclio", {}, {}, "ready", external_urls=("0.0.0.0:1",))
    platform = nuctl_platform()
    with pytest.raises(PlatformError, match="binary request body"):
        platform.invoke(record, "t", InvokeRequest(body=b"\xff\xfe"))
    with pytest.raises(PlatformError, match="contains ',' or '='"):
        platform.invoke(record, "t", InvokeRequest(headers={"X-List": "a,b"}))
    assert nuctl_emulator.calls() == []


# --- a namespace holding exactly one function, end to end ------------------------------


def test_namespace_with_exactly_one_function(
    nuctl_emulator: Any, nuctl_platform: Callable[..., NuctlPlatform], make_function: MakeFunction, source_of: Any
) -> None:
    platform = nuctl_platform("solo")
    deployed = platform.deploy(source_of(make_function("only")))
    raw = nuctl_emulator.run("get", "function", "-n", "solo", "--platform", "local", "-o", "json").stdout
    assert raw.startswith("{")  # nuctl's single-object shape
    [listed] = platform.list()
    assert listed == deployed and listed.namespace == "solo" and listed.serving
    assert platform.get("only") == deployed
    with pytest.raises(PlatformError, match="function ghost not found in namespace solo"):
        platform.get("ghost")
    assert platform.server_url() is None


def test_parallel_deploys_into_a_new_project(
    nuctl_emulator: Any, nuctl_platform: Callable[..., NuctlPlatform], make_function: MakeFunction, source_of: Any
) -> None:
    platform = nuctl_platform(projectName="team")
    sources = [source_of(make_function(f"par-{i}")) for i in range(3)]
    with ThreadPoolExecutor(max_workers=3) as pool:  # the reconciler deploys in parallel too
        records = list(pool.map(platform.deploy, sources))
    assert all(r.serving for r in records)
    assert len({r.http_port for r in records}) == 3
    assert [args[:2] for args in nuctl_emulator.args()].count(("create", "project")) == 1
    assert sorted(r.name for r in platform.list()) == ["par-0", "par-1", "par-2"]
