"""What Nuclio's own Python image asks of a fused function (reference/nuclio.md §6), through
the local processor: no ``requests`` unless a task takes a ``requests_session``; both server
headers always, with or without a server; raw (``bytes``) events when
``NUCLIO_PYTHON_DECODE_EVENT_STRINGS`` is disabled. The image itself (a virtualenv with only
msgpack and nuclio-sdk) is exercised through the nuctl emulator, tests/nuctl/test_image.py."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Dict

import pytest

REPO = Path(__file__).resolve().parents[2]
RAW = {"NUCLIO_PYTHON_DECODE_EVENT_STRINGS": "disabled"}


def repo_task(name: str) -> Dict[str, str]:
    return {"main.py": (REPO / "tasks" / name / "main.py").read_text()}


def without_requests(tmp_path: Path) -> Dict[str, str]:
    """An environment in which ``import requests`` fails, as on Nuclio's image."""
    blocker = tmp_path / "no-requests"
    (blocker / "requests").mkdir(parents=True)
    (blocker / "requests" / "__init__.py").write_text("raise ImportError('No module named requests (blocked)')\n")
    return {"PYTHONPATH": str(blocker)}


TWO_PARAMETER = {
    "caller": {"main.py": """
        import nuclio_sdk
        def handler(context, event):
            answer = context.platform.call_function("callee", nuclio_sdk.Event(body={"n": 2}, method="POST"))
            return {"status": answer.status_code, "body": answer.body}
    """},
    "callee": {"main.py": """
        def handler(context, event):
            return {"twice": event.body["n"] * 2}
    """},
}


def test_a_function_of_two_parameter_handlers_starts_without_requests(rt: Any, processors: Any, tmp_path: Path) -> None:
    fn = processors.start(rt.build_fused(tmp_path / "fn", TWO_PARAMETER), env=without_requests(tmp_path))
    assert fn.call("caller").json() == {"status": 200, "body": {"twice": 4}}


def test_a_session_task_without_requests_fails_at_start_saying_what_to_install(rt: Any, tmp_path: Path) -> None:
    tasks = {**TWO_PARAMETER, "taska": repo_task("taska")}
    result = rt.launch(rt.build_fused(tmp_path / "fn", tasks), tmp_path / "logs", env=without_requests(tmp_path))
    assert isinstance(result, rt.Failed) and result.returncode == 1
    assert "task(s) taska take a requests_session" in result.stderr
    assert "pip install 'requests>=2.28,<3'" in result.stderr


def test_the_original_contract_answers_without_a_server(rt: Any, processors: Any, tmp_path: Path) -> None:
    fn = processors.start(rt.build_fused(tmp_path / "fn", {"taska": repo_task("taska"), "taskb": repo_task("taskb")}))
    answer = fn.call("taska")
    assert (answer.status_code, answer.text) == (200, "8")


LEAVING = {
    "session_out": {"main.py": """
        import requests
        def handler(context, event, requests_session):
            addr = event.headers["Fusionizer-Server-Address"]
            r = requests_session.post(f"http://{addr}:8000/elsewhere", json={})
            return {"status": r.status_code, "text": r.text, "typed": isinstance(r, requests.Response)}
    """},
    "platform_out": {"main.py": """
        import nuclio_sdk
        def handler(context, event):
            r = context.platform.call_function("elsewhere", nuclio_sdk.Event(body={}, method="POST"))
            return {"status": r.status_code, "text": r.body.decode(), "typed": isinstance(r, nuclio_sdk.Response)}
    """},
    "tracer": {"main.py": """
        import sys
        def handler(context, event):
            edges = sys.modules["_fusionizer_entry"]._dispatcher.traces()
            return {"edges": [[e.caller, e.callee, e.local] for e in edges]}
    """},
}


@pytest.mark.parametrize("caller", ["session_out", "platform_out"])
def test_a_call_leaving_the_function_without_a_server_is_a_clear_503(
        rt: Any, processors: Any, tmp_path: Path, caller: str) -> None:
    fn = processors.start(rt.build_fused(tmp_path / "fn", LEAVING, function="demo-out"))
    out = fn.call(caller).json()
    assert out["status"] == 503, out
    assert "serverUrl" in out["text"] and "'elsewhere' is not fused in function demo-out" in out["text"]
    assert out["typed"]
    assert fn.call("tracer").json()["edges"][-1] == [caller, "elsewhere", False]


RAW_ECHO = """
import base64, json

def show(value):
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {"dict": [[show(k), show(v)] for k, v in value.items()]}
    return value

def handler(context, event):
    return {"headers": show(event.headers), "path": show(event.path), "method": show(event.method),
            "content_type": show(event.content_type), "body": show(event.body), "fields": show(event.fields),
            "trigger": [show(event.trigger.kind), show(event.trigger.name)], "url": show(event.url),
            "id_type": type(event.id).__name__, "task_header": show(event.get_header("Task-Name"))}
"""

RAW_CALLERS = {
    "echo": {"main.py": RAW_ECHO},
    "via_platform": {"main.py": """
        import nuclio_sdk
        def handler(context, event):
            ev = nuclio_sdk.Event(body=b"hi", content_type="text/plain", headers={"X-Extra": "e"}, method="PUT",
                                  path="/sub")
            return context.platform.call_function("echo", ev).body
    """},
    "via_session": {"main.py": """
        def handler(context, event, requests_session):
            addr = event.headers[b"Fusionizer-Server-Address"].decode()
            return requests_session.put(f"http://{addr}:8000/echo/sub?q=1", json={"k": "v"},
                                        headers={"X-Extra": "e"}).json()
    """},
}


def _decoded(shown: Any) -> Any:
    """The echo's ``show`` output back to Python values (bytes stay bytes)."""
    if isinstance(shown, dict):
        if set(shown) == {"bytes"}:
            return base64.b64decode(shown["bytes"])
        if set(shown) == {"dict"}:
            return {_decoded(k): _decoded(v) for k, v in shown["dict"]}
        return {key: _decoded(value) for key, value in shown.items()}
    if isinstance(shown, list):
        return [_decoded(item) for item in shown]
    return shown


def test_raw_events_reach_the_task_as_bytes_exactly_as_unfused(rt: Any, processors: Any, tmp_path: Path) -> None:
    fused = processors.start(rt.build_fused(tmp_path / "fused", RAW_CALLERS), env=RAW)
    plain = processors.start(rt.build_plain(tmp_path / "plain", {"main.py": RAW_ECHO}), env=RAW)
    request = {"path": "/sub?q=1", "data": b"raw body", "headers": {"Content-Type": "text/plain", "X-Extra": "e"}}
    seen = {name: _decoded(fn.call("echo", **request).json()) for name, fn in (("fused", fused), ("plain", plain))}
    for event in seen.values():
        assert event["method"] == b"POST" and event["path"] == b"/sub" and event["content_type"] == b"text/plain"
        assert event["body"] == b"raw body" and event["fields"] == {b"q": b"1"} and event["url"] == b""
        assert event["trigger"] == [b"http", b"default-http"] and event["id_type"] == "bytes"
        assert event["headers"][b"Task-Name"] == b"echo" and event["headers"][b"X-Extra"] == b"e"
        assert all(isinstance(k, bytes) and isinstance(v, bytes) for k, v in event["headers"].items())
        assert event["task_header"] is None  # the sdk's get_header compares str with bytes keys
    fused_headers = seen["fused"]["headers"]
    assert fused_headers[b"Fusionizer-Server-Address"] == b"127.0.0.1"
    assert fused_headers[b"Fusionizer-Server-Url"] == b"http://127.0.0.1:8000"
    extra = {b"Fusionizer-Server-Address", b"Fusionizer-Server-Url"}
    assert {k: v for k, v in fused_headers.items() if k not in extra and k != b"Host"} == {
        k: v for k, v in seen["plain"]["headers"].items() if k != b"Host"}


@pytest.mark.parametrize("caller", ["via_platform", "via_session"])
def test_raw_in_process_callees_get_raw_events(rt: Any, processors: Any, tmp_path: Path, caller: str) -> None:
    fused = processors.start(rt.build_fused(tmp_path / "fused", RAW_CALLERS), env=RAW)
    event = _decoded(fused.call(caller).json())
    assert event["method"] == b"PUT" and event["path"] == b"/sub"
    assert event["trigger"] == [b"http", b"default-http"] and event["id_type"] == "bytes"
    headers = event["headers"]
    assert all(isinstance(k, bytes) and isinstance(v, bytes) for k, v in headers.items())
    assert headers[b"Task-Name"] == b"echo" and headers[b"X-Extra"] == b"e"
    assert headers[b"Fusionizer-Server-Url"] == b"http://127.0.0.1:8000"
    if caller == "via_session":
        assert event["content_type"] == b"application/json" and event["body"] == {"k": "v"}
        assert event["fields"] == {b"q": b"1"}
    else:
        assert event["content_type"] == b"text/plain" and event["body"] == b"hi"


def test_task_name_in_bytes_with_any_case_is_matched(rt: Any, processors: Any, tmp_path: Path) -> None:
    fused = processors.start(rt.build_fused(tmp_path / "fused", RAW_CALLERS), env=RAW)
    assert fused.call(None, headers={"task-name": "echo"}).status_code == 200
    missing = fused.call(None)
    assert missing.status_code == 400 and "Missing header Task-Name" in missing.text
    unknown = fused.call("nope")
    assert unknown.status_code == 404 and "'nope'" in unknown.text
    assert unknown.headers["Content-Type"] == "text/plain"
