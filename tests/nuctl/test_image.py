"""Functions run the way Nuclio 1.14.1's Python image runs them (reference/nuclio.md §6): a
virtualenv holding only msgpack 1.0.8 and nuclio-sdk 0.5.13, the function's build commands
run in it, the code on PYTHONPATH, another working directory, events decoded or raw as
NUCLIO_PYTHON_DECODE_EVENT_STRINGS says. A dependency the image lacks fails here, not in a
user's cluster: the example, fusion transparency and a raw-strings function run through it."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import textwrap
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional

import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings

from fusionizer.build import fuser
from fusionizer.plan.loader import load_plan
from fusionizer.plan.model import Group
from fusionizer.runtime import layout
from testing.example import Cli

LOCAL = ("-n", "nuclio", "--platform", "local")
IMPORTS = """
import importlib, os, sys

def handler(context, event):
    found = {}
    for name in ("requests", "yaml", "fusionizer", "click", "hypothesis", "msgpack", "nuclio_sdk"):
        try:
            importlib.import_module(name)
            found[name] = True
        except ImportError:
            found[name] = False
    import nuclio_sdk.context, inspect
    return {"imports": found, "cwd": os.getcwd(), "path0": sys.path[0], "file": __file__,
            "context_params": len(inspect.signature(nuclio_sdk.Context.__init__).parameters) - 1,
            "python": "%d.%d" % sys.version_info[:2], "pythonpath": os.environ.get("PYTHONPATH"),
            "method_type": type(event.method).__name__}
"""


def deploy(emu: Any, directory: Path, *extra: str) -> Any:
    return emu.run("deploy", "--path", str(directory), *LOCAL, *extra)


def url_of(emu: Any, name: str) -> str:
    done = emu.run("get", "function", name, *LOCAL, "-o", "json")
    assert done.returncode == 0, done.stderr
    return f"http://127.0.0.1:{json.loads(done.stdout)['status']['httpPort']}"


def test_the_image_holds_only_msgpack_and_nuclio_sdk(nuctl_emulator: Any, make_function: Callable[..., Path]) -> None:
    directory = make_function("bare", source=IMPORTS, runtime="python:3.11")
    assert deploy(nuctl_emulator, directory).returncode == 0
    seen = requests.post(url_of(nuctl_emulator, "bare"), timeout=30).json()
    assert seen["imports"] == {"requests": False, "yaml": False, "fusionizer": False, "click": False,
                               "hypothesis": False, "msgpack": True, "nuclio_sdk": True}
    assert seen["context_params"] == 4  # nuclio-sdk 0.5.13's Context, not 0.6's
    code = str(Path(seen["file"]).parent)
    assert seen["pythonpath"] == code and seen["path0"] == code and seen["cwd"] != code
    assert seen["method_type"] == "str"


def test_a_missing_dependency_fails_the_deploy(nuctl_emulator: Any, make_function: Callable[..., Path]) -> None:
    directory = make_function("needy", source="import requests\n\ndef handler(context, event):\n    return 'ok'\n")
    done = deploy(nuctl_emulator, directory)
    assert done.returncode == 1
    assert "Function wasn't ready in time" in done.stderr and "No module named 'requests'" in done.stderr


def test_build_commands_run_in_the_image_once_per_command_list(
        nuctl_emulator: Any, make_function: Callable[..., Path]) -> None:
    source = "import requests\n\ndef handler(context, event):\n    return requests.__version__\n"
    extra = {"build": {"commands": [layout.REQUESTS_BUILD_COMMAND]}}
    first = make_function("needs-a", source=source, extra_spec=extra)
    second = make_function("needs-b", source=source, extra_spec=extra)
    assert deploy(nuctl_emulator, first).returncode == 0
    done = deploy(nuctl_emulator, second)
    assert done.returncode == 0, done.stderr
    assert "Using the cached build of the build commands" in done.stdout
    version = requests.get(url_of(nuctl_emulator, "needs-b"), timeout=30).text
    assert version.startswith("2.")


def test_a_failing_build_command_fails_the_deploy(nuctl_emulator: Any, make_function: Callable[..., Path]) -> None:
    directory = make_function("unbuildable", extra_spec={"build": {"commands": ["pip install no-such-package-zz9"]}})
    done = deploy(nuctl_emulator, directory)
    assert done.returncode == 1
    assert "Failed to build processor image" in done.stderr
    assert "pip install no-such-package-zz9" in done.stderr and "no-such-package-zz9" in done.stderr


RAW_TASKS = {
    "echo": """
def handler(context, event):
    return {"method": repr(event.method), "path": repr(event.path), "ct": repr(event.content_type),
            "task": repr(event.headers.get(b"Task-Name")), "body": repr(event.body),
            "server": repr(event.headers.get(b"Fusionizer-Server-Url")), "fields": repr(event.fields)}
""",
    "caller": """
import nuclio_sdk

def handler(context, event, requests_session):
    addr = event.headers[b"Fusionizer-Server-Address"].decode()
    via_session = requests_session.post(f"http://{addr}:8000/echo/s?x=1", json={"a": 1}).json()
    via_platform = context.platform.call_function("echo", nuclio_sdk.Event(body="hi", method="PUT")).body
    return {"session": via_session, "platform": via_platform}
""",
}


def _plan_dir(root: Path, plan: str, tasks: Dict[str, Dict[str, str]], env: Dict[str, str]) -> Path:
    """A plan fusing ``tasks`` ({task: {file: source}}) into one function."""
    for name, files in tasks.items():
        for relative, text in files.items():
            path = root / "tasks" / name / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"))
        spec = {"runtime": "python:3.11", "handler": "main:handler",
                "env": [{"name": k, "value": v} for k, v in env.items()]}
        (root / "tasks" / name / "function.yaml").write_text(yaml.safe_dump({"metadata": {"name": name}, "spec": spec}))
    document = {"apiVersion": "fusionizer.io/v1", "kind": "FusionPlan", "metadata": {"name": plan},
                "spec": {"taskDirs": ["tasks"], "fusion": {"groups": [sorted(tasks)]}}}
    (root / "fusionizer.yaml").write_text(yaml.safe_dump(document))
    return root / "fusionizer.yaml"


def _built(plan_file: Path, root: Path) -> Path:
    """The fused function directory exactly as apply hands it to ``nuctl deploy``."""
    plan = load_plan(plan_file)
    build = fuser.describe(plan, Group(tuple(sorted(plan.tasks))))
    directory = fuser.materialize(build, plan, root)
    fuser.finalize(build, directory, "test", "now")
    return directory


@pytest.mark.e2e
def test_a_raw_strings_fused_function(nuctl_emulator: Any, tmp_path: Path) -> None:
    raw = {"NUCLIO_PYTHON_DECODE_EVENT_STRINGS": "disabled"}
    tasks = {name: {"main.py": source} for name, source in RAW_TASKS.items()}
    directory = _built(_plan_dir(tmp_path / "plan", "img", tasks, raw), tmp_path / "builds")
    done = deploy(nuctl_emulator, directory)
    assert done.returncode == 0, done.stderr
    url = url_of(nuctl_emulator, "img-caller-echo")
    direct = requests.post(url + "/d", data=b"x", headers={"Task-Name": "echo", "Content-Type": "text/plain"},
                           timeout=30).json()
    assert direct == {"method": "b'POST'", "path": "b'/d'", "ct": "b'text/plain'", "task": "b'echo'",
                      "body": "b'x'", "server": "b'http://127.0.0.1:8000'", "fields": "{}"}
    answer = requests.post(url, headers={"task-name": "caller"}, timeout=30)
    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert out["session"] == {"method": "b'POST'", "path": "b'/s'", "ct": "b'application/json'", "task": "b'echo'",
                              "body": "{'a': 1}", "server": "b'http://127.0.0.1:8000'", "fields": "{b'x': b'1'}"}
    assert out["platform"]["method"] == "b'PUT'" and out["platform"]["body"] == "b'hi'"


# -- fusion transparency, through the image ---------------------------------------------

_spec = importlib.util.spec_from_file_location(
    "transparency_on_the_image", Path(__file__).resolve().parents[1] / "runtime" / "test_transparency.py")
assert _spec is not None and _spec.loader is not None
transparency = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(transparency)


@dataclasses.dataclass
class Served:
    """What the transparency tests need of a running function."""

    url: str
    session: requests.Session = dataclasses.field(default_factory=requests.Session)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def functions(module_nuctl_emulator: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Any]]:
    """The transparency tests' fused function (built by the fuser, so with the requests
    build command) and their plain callee, deployed by the emulator."""
    emu = module_nuctl_emulator
    root = tmp_path_factory.mktemp("image-transparency")
    tasks = {"callee": transparency.CALLEE, "via-session": transparency.VIA_SESSION,
             "via-platform": transparency.VIA_PLATFORM}
    fused_dir = _built(_plan_dir(root / "plan", "tr", tasks, {}), root / "builds")
    for directory, name in ((fused_dir, []), (root / "plan" / "tasks" / "callee", ["plain"])):
        done = emu.run("deploy", *name, "--path", str(directory), *LOCAL)
        assert done.returncode == 0, done.stderr
    served = {"fused": Served(url_of(emu, "tr-callee-via-platform-via-session")), "plain": Served(url_of(emu, "plain"))}
    yield served
    for each in served.values():
        each.session.close()


@pytest.mark.e2e
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**transparency.SESSION_CALLS)
def test_image_session_calls_equal_http(functions: Dict[str, Any], spec: Dict[str, Any], body: Dict[str, Any],
                                        method: str, params: Optional[Dict[str, str]], subpath: str) -> None:
    transparency.check_session_call(functions, spec, body, method, params, subpath)


@pytest.mark.e2e
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**transparency.PLATFORM_CALLS)
def test_image_call_function_equals_sdk(functions: Dict[str, Any], spec: Dict[str, Any], body: Dict[str, Any],
                                        method: str) -> None:
    transparency.check_platform_call(functions, spec, body, method)


# -- the example --------------------------------------------------------------------------


@pytest.mark.e2e
def test_the_example_without_a_server(cli: Cli, nuctl_emulator: Any) -> None:
    planned = cli.ok("plan")
    warning = ("Warning: task checkout [checkout, inventory, price, validate-order] calls payment "
               "[notify, payment] in another function, but no Fusionizer server is set (spec.platform.serverUrl)")
    assert warning in planned.out
    assert cli.ok("plan", "-o", "json").json()["warnings"] == [warning[len("Warning: "):] + (
        ": that call will be answered 503; set serverUrl or fuse them")]
    applied = cli.ok("apply")
    assert warning in applied.out and "3 created" in applied.out
    assert cli.ok("invoke", "taska").out.strip() == "8"  # fused: in-process, no server needed
    priced = json.loads(cli.ok("invoke", "price", "--body", '{"items": [{"sku": "book", "qty": 2}]}').out)
    assert priced["total_cents"] == 2500
    order = (Path(__file__).resolve().parents[2] / "samples" / "order.json").read_text()
    refused = cli("invoke", "checkout", "--body", order)
    answer = json.loads(refused.out)
    assert answer["status"] == "payment-failed" and "serverUrl" in answer["reason"], refused
    builds = {c[1]: c for c in nuctl_emulator.args() if c[0] == "deploy"}
    assert set(builds) == {"demo-billing", "demo-storefront", "demo-taska-taskb"}
    for name in builds:
        config = yaml.safe_load((Path(builds[name][3]) / "function.yaml").read_text())
        assert config["spec"]["build"]["commands"][0] == layout.REQUESTS_BUILD_COMMAND, name


@pytest.mark.e2e
def test_no_warning_with_a_server(cli: Cli) -> None:
    doc = yaml.safe_load(cli.plan.read_text())
    doc["spec"]["platform"]["serverUrl"] = "http://127.0.0.1:9"
    cli.plan.write_text(yaml.safe_dump(doc))
    planned = cli.ok("plan")
    assert "Warning" not in planned.out
    assert cli.ok("plan", "-o", "json").json()["warnings"] == []
