"""The emulator's own contract: the flags, exit codes, stream split and output shapes of
nuctl 1.14.1 (reference/nuclio.md), and deploys that really run the function."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict

import pytest
import yaml

LOCAL = ("-n", "nuclio", "--platform", "local")
LOG_LINE = re.compile(r"^\d{2}\.\d{2}\.\d{2} \d{2}:\d{2}:\d{2}\.\d{3} nuctl \x1b\[\d+m\((D|I|W|E)\)\x1b\[0m \S")


def get_json(emu: Any, *extra: str) -> Any:
    done = emu.run("get", "function", *extra, *LOCAL, "-o", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def deploy(emu: Any, directory: Path, *extra: str) -> Any:
    return emu.run("deploy", "--path", str(directory), *LOCAL, *extra)


def call(url: str, body: bytes = b"", task: str = "t1") -> Dict[str, Any]:
    request = urllib.request.Request(f"http://{url}/", data=body or None, headers={"Task-Name": task})
    with urllib.request.urlopen(request, timeout=30) as response:
        result: Dict[str, Any] = json.loads(response.read())
        return result


# --- no function process needed -------------------------------------------------------


def test_version_needs_no_platform(nuctl_emulator: Any) -> None:
    done = nuctl_emulator.run("version", env={"NUCTL_EMULATOR_HOME": ""})
    assert done.returncode == 0
    assert re.fullmatch(
        r'Client version:\n"Label: 1\.14\.1, Git commit: \S+, OS: \w+, Arch: \w+, Go version: go[\d.]+"\n', done.stdout
    )


def test_unnamed_get_of_nothing(nuctl_emulator: Any) -> None:
    for output in ("json", "yaml", "text"):
        done = nuctl_emulator.run("get", "functions", *LOCAL, "-o", output)
        assert (done.returncode, done.stdout, done.stderr) == (0, "No functions found\n", "")


def test_named_get_of_a_missing_function(nuctl_emulator: Any) -> None:
    done = nuctl_emulator.run("get", "fn", "ghost", *LOCAL, "-o", "json")
    # nuclio.ErrorWithStatusCode: stdout, no trailing newline, exit 1.
    assert (done.returncode, done.stdout, done.stderr) == (1, "No functions found", "")


def test_failed_deploy_streams_and_errors_the_nuctl_way(
    nuctl_emulator: Any, make_function: Callable[..., Path]
) -> None:
    done = deploy(nuctl_emulator, make_function("noruntime", runtime=None))
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines and all(LOG_LINE.match(line) for line in lines), done.stdout
    assert '\x1b[34m(I)\x1b[0m Deploying function {"name": "noruntime"}' in done.stdout
    assert done.stderr.startswith("\nError - function.yaml must specify runtime\n    /nuclio/")
    assert "\n\nCall stack:\nfunction.yaml must specify runtime\n" in done.stderr
    record = get_json(nuctl_emulator)
    assert record["status"]["state"] == "error"
    assert record["status"]["message"].startswith("Error - function.yaml must specify runtime")


def test_one_object_for_one_function_and_an_array_for_several(
    nuctl_emulator: Any, make_function: Callable[..., Path]
) -> None:
    deploy(nuctl_emulator, make_function("one", runtime=None))
    text = nuctl_emulator.run("get", "function", *LOCAL, "-o", "json").stdout
    assert text.startswith('{\n\t"metadata": {\n\t\t"name": "one",') and text.endswith("}\n")
    deploy(nuctl_emulator, make_function("two", runtime=None))
    listed = get_json(nuctl_emulator)
    assert isinstance(listed, list) and [f["metadata"]["name"] for f in listed] == ["one", "two"]
    single = get_json(nuctl_emulator, "two")
    assert isinstance(single, dict) and single["metadata"]["name"] == "two"
    assert isinstance(get_json(nuctl_emulator, "-l", "nuclio.io/project-name=default"), list)


def test_record_shape(nuctl_emulator: Any, make_function: Callable[..., Path]) -> None:
    deploy(nuctl_emulator, make_function("shape", runtime=None))
    record = get_json(nuctl_emulator)
    assert list(record) == ["metadata", "spec", "status"]
    assert "apiVersion" not in record and "kind" not in record
    assert record["metadata"]["labels"] == {"nuclio.io/project-name": "default"}
    spec = record["spec"]
    for always in ("resources", "build", "platform", "eventTimeout"):
        assert always in spec
    assert spec["triggers"]["default-http"]["kind"] == "http"
    assert spec["image"] == "nuclio/processor-shape:latest"


def test_yaml_and_text_output(nuctl_emulator: Any, make_function: Callable[..., Path]) -> None:
    deploy(nuctl_emulator, make_function("ya", runtime=None))
    done = nuctl_emulator.run("get", "fu", *LOCAL, "-o", "yaml")
    assert done.stdout.endswith("\n\n") and done.stdout.startswith("metadata:\n")
    assert yaml.safe_load(done.stdout)["metadata"]["name"] == "ya"
    table = nuctl_emulator.run("get", "function", *LOCAL).stdout.splitlines()
    assert table[0].split() == ["NAMESPACE", "|", "NAME", "|", "PROJECT", "|", "STATE", "|", "REPLICAS"]
    assert table[2].split() == ["nuclio", "|", "ya", "|", "default", "|", "error", "|", "1/1"]


def test_project_must_exist(nuctl_emulator: Any, make_function: Callable[..., Path]) -> None:
    directory = make_function("proj", runtime=None)
    done = deploy(nuctl_emulator, directory, "--project-name", "team")
    assert done.returncode == 1
    assert done.stderr.startswith("\nError - Project does not exist\n")
    assert "Project existence validation failed" in done.stderr
    assert nuctl_emulator.run("get", "function", *LOCAL).stdout == "No functions found\n"  # nothing stored
    assert nuctl_emulator.run("create", "project", "team", *LOCAL).returncode == 0
    again = nuctl_emulator.run("create", "project", "team", *LOCAL)
    assert again.returncode == 1 and "Project already exists" in again.stderr
    deploy(nuctl_emulator, directory, "--project-name", "team")
    assert get_json(nuctl_emulator)["metadata"]["labels"]["nuclio.io/project-name"] == "team"


@pytest.mark.parametrize(
    ("runtime", "message"),
    [("python:3.6", "Runtime python:3.6 is not supported"), ("golang", "Runtime golang is not supported")],
)
def test_unsupported_runtimes(
    nuctl_emulator: Any, make_function: Callable[..., Path], runtime: str, message: str
) -> None:
    done = deploy(nuctl_emulator, make_function("old", runtime=runtime))
    assert done.returncode == 1 and message in done.stderr.splitlines()[1]


def test_runtime_flag_and_namespace_override(nuctl_emulator: Any, make_function: Callable[..., Path]) -> None:
    directory = make_function("ns", runtime=None, namespace="elsewhere", labels={"a": "1"}, env={"FILE": "f"})
    deploy(
        nuctl_emulator, directory, "--runtime", "python:3.6", "-l", "a=2,b=3", "--annotations", "x=y", "-e", "FLAG=g=h"
    )
    record = get_json(nuctl_emulator)
    assert record["metadata"]["namespace"] == "nuclio"  # -n wins over the file, always
    assert record["metadata"]["labels"] == {"a": "2", "b": "3", "nuclio.io/project-name": "default"}
    assert record["metadata"]["annotations"] == {"x": "y"}
    assert record["spec"]["runtime"] == "python:3.6"  # the flag overrode the (missing) file runtime
    assert record["spec"]["env"] == [{"name": "FILE", "value": "f"}, {"name": "FLAG", "value": "g=h"}]
    other = nuctl_emulator.run("get", "function", "-n", "elsewhere", "--platform", "local", "-o", "json")
    assert other.stdout == "No functions found\n"


def test_name_comes_from_the_file_when_not_given(nuctl_emulator: Any, make_function: Callable[..., Path]) -> None:
    deploy(nuctl_emulator, make_function("fromfile", runtime=None))
    assert get_json(nuctl_emulator)["metadata"]["name"] == "fromfile"
    nuctl_emulator.run("deploy", "renamed", "-p", str(make_function("fromfile2", runtime=None)), *LOCAL)
    assert {f["metadata"]["name"] for f in get_json(nuctl_emulator)} == {"fromfile", "renamed"}


def test_delete_is_idempotent_and_respects_provisioning(
    nuctl_emulator: Any, make_function: Callable[..., Path]
) -> None:
    assert nuctl_emulator.run("delete", "function", "ghost", *LOCAL).returncode == 0
    deploy(nuctl_emulator, make_function("busy", runtime=None))
    store = nuctl_emulator.store()
    record = store.function("busy")
    record["status"] = {"state": "building"}
    store.save_function(record)
    refused = nuctl_emulator.run("delete", "fn", "busy", *LOCAL)
    assert refused.returncode == 1 and "Function is being provisioned and cannot be deleted" in refused.stderr
    forced = nuctl_emulator.run("del", "fu", "busy", "-f", *LOCAL)
    assert forced.returncode == 0 and "Successfully deleted function" in forced.stdout
    assert nuctl_emulator.run("delete", "function", "busy", *LOCAL).returncode == 0


def test_flag_errors(nuctl_emulator: Any) -> None:
    done = nuctl_emulator.run("get", "function", "--bogus", *LOCAL)
    assert done.returncode == 1 and done.stderr.startswith("Error: unknown flag: --bogus")
    assert nuctl_emulator.run("delete", "function", *LOCAL).returncode == 1
    assert nuctl_emulator.run("get", "function", "-n").returncode == 1


def test_flags_in_any_position_and_inline_values(nuctl_emulator: Any) -> None:
    done = nuctl_emulator.run("--platform=local", "-nnuclio", "get", "functions", "--output=json")
    assert (done.returncode, done.stdout) == (0, "No functions found\n")


def test_auto_platform_follows_the_kubeconfig(nuctl_emulator: Any, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump({"current-context": "c", "contexts": [{"name": "c", "context": {"namespace": "team"}}]})
    )
    home = {"HOME": str(tmp_path)}
    assert nuctl_emulator.run("get", "function", env=home).returncode == 0
    assert (nuctl_emulator.home / "local" / "nuclio").is_dir()  # no kubeconfig: local, namespace nuclio
    assert nuctl_emulator.run("get", "function", env={**home, "KUBECONFIG": str(kubeconfig)}).returncode == 0
    assert (nuctl_emulator.home / "kube" / "team").is_dir()  # the context's namespace
    missing = nuctl_emulator.run("get", "function", "--platform", "kube", env=home)
    assert missing.returncode == 1 and "Error - " in missing.stderr


def test_calls_are_recorded(nuctl_emulator: Any) -> None:
    nuctl_emulator.run("get", "function", *LOCAL, "-o", "json")
    nuctl_emulator.run("get", "function", "ghost", *LOCAL)
    calls = nuctl_emulator.calls()
    assert [c.args for c in calls] == [("get", "function", *LOCAL, "-o", "json"), ("get", "function", "ghost", *LOCAL)]
    assert [c.exit for c in calls] == [0, 1]
    assert calls[0].time <= calls[1].time and all(c.duration is not None for c in calls)


# --- deploys that run the function -----------------------------------------------------


def test_deploy_runs_the_function(nuctl_emulator: Any, make_function: Callable[..., Path]) -> None:
    directory = make_function("echo", runtime="python", env={"GREETING": "hello"})
    done = deploy(nuctl_emulator, directory)
    assert done.returncode == 0, done.stderr
    assert "Function deploy complete" in done.stdout.splitlines()[-1]
    record = get_json(nuctl_emulator, "echo")
    status = record["status"]
    port = status["httpPort"]
    assert status["state"] == "ready"
    assert status["externalInvocationUrls"] == [f"0.0.0.0:{port}"]
    assert status["internalInvocationUrls"] == [f"127.0.0.1:{port}"]
    assert record["spec"]["runtime"] == "python:3.9"  # the alias
    result = call(f"127.0.0.1:{port}", b"hi", task="t1")
    assert result == {"task": "t1", "body": "hi", "path": "/", "greeting": "hello", "version": 1}


def test_redeploy_replaces_the_old_process_and_copies_the_source(
    nuctl_emulator: Any, make_function: Callable[..., Path]
) -> None:
    directory = make_function("echo")
    assert deploy(nuctl_emulator, directory).returncode == 0
    first = nuctl_emulator.running_processes()
    (directory / "main.py").write_text((directory / "main.py").read_text().replace("VERSION = 1", "VERSION = 2"))
    port = get_json(nuctl_emulator)["status"]["httpPort"]
    assert call(f"127.0.0.1:{port}")["version"] == 1  # the deployed copy, not the edited source
    again = deploy(nuctl_emulator, directory)
    assert "Function already exists, deleting function containers" in again.stdout
    assert [p["pid"] for p in nuctl_emulator.running_processes()] != [p["pid"] for p in first]
    assert len(nuctl_emulator.running_processes()) == 1
    assert call(f"127.0.0.1:{get_json(nuctl_emulator)['status']['httpPort']}")["version"] == 2


def test_delete_stops_the_function(nuctl_emulator: Any, make_function: Callable[..., Path]) -> None:
    assert deploy(nuctl_emulator, make_function("gone")).returncode == 0
    assert len(nuctl_emulator.running_processes()) == 1
    assert nuctl_emulator.run("delete", "function", "gone", *LOCAL).returncode == 0
    assert nuctl_emulator.running_processes() == []
    assert nuctl_emulator.run("get", "function", *LOCAL).stdout == "No functions found\n"


def test_init_failure_is_a_failed_deploy(nuctl_emulator: Any, make_function: Callable[..., Path]) -> None:
    broken = make_function("broken", source="raise RuntimeError('cannot start: missing model')\n")
    done = deploy(nuctl_emulator, broken)
    assert done.returncode == 1
    assert done.stderr.startswith("\nError - Function wasn't ready in time. Logs:\n")
    assert "cannot start: missing model" in done.stderr
    assert get_json(nuctl_emulator)["status"]["state"] == "error"
    assert nuctl_emulator.running_processes() == []


def test_invoke(nuctl_emulator: Any, make_function: Callable[..., Path]) -> None:
    assert deploy(nuctl_emulator, make_function("echo")).returncode == 0
    done = nuctl_emulator.run(
        "invoke", "echo", *LOCAL, "-m", "POST", "-b", "ping", "-d", "task-name=t9", "--raise-on-status"
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r'Got response \{"status": "200 OK"\}', done.stdout)
    head, body = done.stdout.split("\n> Response headers:\n", 1)[1].split("\n> Response body:\n", 1)
    assert "Content-Type = application/json" in head.splitlines()
    assert body.startswith('{\n    "task": "t9",\n')  # nuctl indents JSON with 4 spaces
    assert json.loads(body)["body"] == "ping"


def test_invoke_raise_on_status(nuctl_emulator: Any, make_function: Callable[..., Path]) -> None:
    failing = "def handler(context, event):\n    raise ValueError('nope')\n"
    assert deploy(nuctl_emulator, make_function("fails", source=failing)).returncode == 0
    plain = nuctl_emulator.run("invoke", "fails", *LOCAL)
    assert plain.returncode == 0 and '"status": "500 Internal Server Error"' in plain.stdout
    raised = nuctl_emulator.run("invoke", "fails", *LOCAL, "--raise-on-status")
    assert raised.returncode == 1 and "> Response body:" in raised.stdout
    assert raised.stderr.startswith("\nError - Function invocation failed\n")


def test_kube_deploys_need_a_registry_and_roll(
    nuctl_emulator: Any, make_function: Callable[..., Path], tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump({"current-context": "c", "contexts": [{"name": "c", "context": {"namespace": "team"}}]})
    )
    kube = ("--platform", "kube", "-k", str(kubeconfig))
    directory = make_function("rolling")
    refused = nuctl_emulator.run("deploy", "-p", str(directory), *kube)
    assert refused.returncode == 1 and "denied: requested access to the resource is denied" in refused.stderr
    flags = ("-r", "localhost:5000/team", "--http-trigger-service-type", "NodePort")
    assert nuctl_emulator.run("deploy", "-p", str(directory), *kube, *flags).returncode == 0
    again = nuctl_emulator.run("deploy", "-p", str(directory), *kube, *flags)
    assert "Cleaning up before deployment" not in again.stdout  # a rolling update, not local's delete-first
    record = json.loads(nuctl_emulator.run("get", "function", "rolling", *kube, "-o", "json").stdout)
    status = record["status"]
    assert record["metadata"]["namespace"] == "team"  # from the kubeconfig context
    assert record["spec"]["image"] == "localhost:5000/team/processor-rolling:latest"
    assert status["internalInvocationUrls"] == ["nuclio-rolling.team.svc.cluster.local:8080"]
    assert status["externalInvocationUrls"] == [f"127.0.0.1:{status['httpPort']}"]
    assert call(status["externalInvocationUrls"][0])["task"] == "t1"
    assert len(nuctl_emulator.running_processes()) == 1


def test_config_file_flag_and_wide_output(
    nuctl_emulator: Any, make_function: Callable[..., Path], tmp_path: Path
) -> None:
    code = make_function("code-only", runtime=None)
    config = tmp_path / "elsewhere.yaml"
    config.write_text(json.dumps({"metadata": {"name": "from-file", "labels": {"team": "a"}}, "spec": {}}))
    deploy(nuctl_emulator, code, "-f", str(config))  # JSON is accepted, it parses first
    record = get_json(nuctl_emulator)
    assert record["metadata"]["name"] == "from-file" and record["metadata"]["labels"]["team"] == "a"
    wide = nuctl_emulator.run("get", "function", *LOCAL, "-o", "wide").stdout.splitlines()
    assert "LABELS" in wide[0] and "EXTERNAL INVOCATION URLS" in wide[0]
    assert "nuclio.io/project-name=default,team=a" in wide[2]


def test_deploy_enrichment_of_replicas_and_skip_annotations(
    nuctl_emulator: Any, make_function: Callable[..., Path]
) -> None:
    annotations = {"skip-build": "true", "skip-deploy": "true", "keep": "me"}
    directory = make_function("enriched", runtime=None, annotations=annotations, extra_spec={"maxReplicas": 4})
    deploy(nuctl_emulator, directory)
    record = get_json(nuctl_emulator)
    assert (record["spec"]["minReplicas"], record["spec"]["maxReplicas"]) == (4, 4)  # enrichMinMaxReplicas
    assert record["metadata"]["annotations"] == {"keep": "me"}  # skip-build/skip-deploy are removed
    deploy(nuctl_emulator, directory, "--min-replicas", "2")
    spec = get_json(nuctl_emulator)["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 4)


def test_shorthand_booleans_run_together_and_bool_values_are_checked(
    nuctl_emulator: Any, make_function: Callable[..., Path]
) -> None:
    deploy(nuctl_emulator, make_function("busy", runtime=None))
    store = nuctl_emulator.store()
    record = store.function("busy")
    record["status"] = {"state": "building"}
    store.save_function(record)
    bad = nuctl_emulator.run("delete", "function", "busy", "--force=maybe", *LOCAL)
    assert bad.returncode == 1 and 'invalid argument "maybe" for "--force" flag' in bad.stderr
    assert nuctl_emulator.run("delete", "function", "busy", "--force=false", *LOCAL).returncode == 1
    done = nuctl_emulator.run("delete", "function", "busy", "-fv", *LOCAL)  # -f -v
    assert done.returncode == 0 and "Successfully deleted function" in done.stdout
    assert "\x1b[32m(D)\x1b[0m Initializing platform" in done.stdout  # -v took effect too


def kube_flags(tmp_path: Path) -> tuple:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump({"current-context": "c", "contexts": [{"name": "c", "context": {"namespace": "team"}}]})
    )
    return ("--platform", "kube", "-k", str(kubeconfig))


def test_kube_readiness_failure_and_cluster_ip_invoke(
    nuctl_emulator: Any, make_function: Callable[..., Path], tmp_path: Path
) -> None:
    kube = kube_flags(tmp_path)
    registry = ("-r", "localhost:5000/team")
    broken = make_function("broken", source="raise RuntimeError('no model')\n")
    failed = nuctl_emulator.run("deploy", "-p", str(broken), *kube, *registry)
    assert failed.returncode == 1
    assert failed.stderr.startswith("\nError - NuclioFunction in error state:\n")
    assert "no model" in failed.stderr and "Failed to wait for function readiness" in failed.stderr
    assert "Waiting for function to be ready" not in failed.stdout  # a local-platform log line
    assert nuctl_emulator.run("deploy", "-p", str(make_function("internal")), *kube, *registry).returncode == 0
    refused = nuctl_emulator.run("invoke", "internal", *kube)  # ClusterIP: internal URL only
    assert refused.returncode == 1 and refused.stderr.startswith("\nError - Function has no external invocation url\n")
