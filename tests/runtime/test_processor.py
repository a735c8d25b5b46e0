"""The local processor serving plain (unfused) Nuclio functions, as real processes."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

ECHO = {
    "main.py": """
        import base64, os
        STATE = {"inits": 0}

        def init_context(context):
            STATE["inits"] += 1
            context.user_data.greeting = "hi"
            context.platform.set_termination_callback(
                lambda: open(os.environ["TERMINATION_MARK"], "w").write("terminated"))
            context.logger.info_with("init done", worker=context.worker_id)

        def handler(context, event):
            body = event.body
            if isinstance(body, bytes):
                body = {"b64": base64.b64encode(body).decode()}
            return {
                "body": body, "content_type": event.content_type, "method": event.method,
                "path": event.path, "fields": event.fields, "headers": event.headers,
                "size": event.size, "id": event.id, "url": event.url,
                "trigger": [event.trigger.kind, event.trigger.name],
                "timestamp": type(event.timestamp).__name__, "inits": STATE["inits"],
                "greeting": context.user_data.greeting, "cwd": os.getcwd(),
                "worker_id": context.worker_id, "platform": [context.platform.kind, context.platform.namespace],
            }
    """,
}


@pytest.fixture
def echo(rt: Any, processors: Any, tmp_path: Path) -> Iterator[Any]:
    directory = rt.build_plain(tmp_path / "echo", ECHO)
    yield processors.start(directory, env={"TERMINATION_MARK": str(tmp_path / "mark")})


def test_ready_file_and_plain_function(echo: Any, tmp_path: Path) -> None:
    info = json.loads((echo.log_dir / "ready.json").read_text())
    assert info == {"pid": echo.process.pid, "port": echo.port, "host": "127.0.0.1"}
    response = echo.session.post(
        echo.url + "/some/path?a=1&b=two&a=3",
        data=b'{"k": [1, 2]}',
        headers={"content-type": "application/json", "x-custom-header": "v", "fusionizer-server-address": "h"},
    )
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    out = response.json()
    assert out["body"] == {"k": [1, 2]} and out["content_type"] == "application/json"
    assert (out["method"], out["path"], out["url"], out["size"]) == ("POST", "/some/path", "", 13)
    assert out["fields"] == {"a": "3", "b": "two"}
    assert out["headers"]["X-Custom-Header"] == "v"
    assert out["headers"]["Fusionizer-Server-Address"] == "h"
    assert out["headers"]["Content-Type"] == "application/json"
    assert out["trigger"] == ["http", "default-http"] and out["timestamp"] == "datetime"
    assert out["inits"] == 1 and out["greeting"] == "hi" and out["worker_id"] == 0
    assert out["platform"] == ["local", "nuclio"]
    assert Path(out["cwd"]).resolve() == (tmp_path / "echo").resolve()


def test_body_is_bytes_unless_json(echo: Any) -> None:
    raw = echo.session.put(echo.url, data=b"\x00\x01plain", headers={"Content-Type": "application/octet-stream"}).json()
    assert raw["body"] == {"b64": "AAFwbGFpbg=="} and raw["method"] == "PUT"
    bad_json = echo.session.post(echo.url, data=b"{not json", headers={"Content-Type": "application/json"}).json()
    assert bad_json["body"] == {"b64": "e25vdCBqc29u"}
    chunked = echo.session.post(echo.url, data=iter([b"ab", b"cd"]), headers={"Content-Type": "text/plain"}).json()
    assert chunked["body"] == {"b64": "YWJjZA=="}


def test_negative_chunk_size_is_a_bad_request(echo: Any) -> None:
    request = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n"
    with socket.create_connection((echo.host, echo.port), timeout=10) as connection:
        connection.sendall(request)  # and keep the connection open: no EOF to read up to
        response = http.client.HTTPResponse(connection)
        response.begin()
        assert (response.status, response.read()) == (400, b"bad chunk size\n")


def test_head_request_has_no_body(echo: Any) -> None:
    response = echo.session.head(echo.url)
    assert response.status_code == 200 and response.content == b""
    assert int(response.headers["Content-Length"]) > 0


def test_keep_alive_without_nagle_delay(echo: Any) -> None:
    echo.session.get(echo.url)  # warm the connection
    start = time.perf_counter()
    for _ in range(40):
        assert echo.session.get(echo.url).status_code == 200
    per_call = (time.perf_counter() - start) / 40
    assert per_call < 0.02, f"{per_call * 1000:.1f} ms per keep-alive request (Nagle?)"


def test_sigterm_shuts_down_cleanly_with_termination_callback(echo: Any, tmp_path: Path, rt: Any) -> None:
    echo.session.get(echo.url)
    echo.process.send_signal(signal.SIGTERM)
    assert echo.process.wait(10) == 0
    assert (tmp_path / "mark").read_text() == "terminated"
    out, _ = echo.logs()
    assert "init done: {'worker': 0}" in out and "Processor stopped" in out


OUTPUTS = {
    "main.py": """
        import nuclio_sdk
        def handler(context, event):
            kind = event.headers.get("X-Kind")
            return {
                "str": "text",
                "bytes": b"\\x00raw",
                "tuple": (201, {"made": True}),
                "response": nuclio_sdk.Response(headers={"X-A": "1", "X-N": 2}, body="<b/>",
                                                content_type="text/html", status_code=202),
                "batch": ["first", "second"],
                "empty": [],
                "none": None,
            }[kind]
    """,
}


@pytest.fixture(scope="module")
def outputs_fn(rt: Any, module_processors: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return module_processors.start(rt.build_plain(tmp_path_factory.mktemp("outputs") / "fn", OUTPUTS))


@pytest.mark.parametrize(
    "kind, status, content_type, body",
    [
        ("str", 200, "text/plain", b"text"),
        ("bytes", 200, "text/plain", b"\x00raw"),
        ("tuple", 201, "application/json", b'{"made": true}'),
        ("response", 202, "text/html", b"<b/>"),
        ("batch", 200, "text/plain", b"first"),
        ("none", 200, "text/plain", b"None"),
    ],
)
def test_outputs_on_the_wire(outputs_fn: Any, kind: str, status: int, content_type: str, body: bytes) -> None:
    fn = outputs_fn
    response = fn.session.get(fn.url, headers={"X-Kind": kind})
    assert (response.status_code, response.headers["Content-Type"], response.content) == (status, content_type, body)
    if kind == "response":
        assert response.headers["X-A"] == "1" and "X-N" not in response.headers


def test_empty_batch_and_exception(outputs_fn: Any) -> None:
    fn = outputs_fn
    empty = fn.session.get(fn.url, headers={"X-Kind": "empty"})
    assert empty.status_code == 500 and "empty list" in empty.text
    error = fn.session.get(fn.url, headers={"X-Kind": "missing"})
    assert error.status_code == 500 and error.headers["Content-Type"] == "text/plain"
    assert error.text.startswith("Exception caught in handler - \"'missing'\": Traceback")


def test_init_failure_exits_1_with_traceback_and_no_ready_file(rt: Any, tmp_path: Path) -> None:
    files = {"main.py": "def init_context(context):\n    raise RuntimeError('cannot init')\n\ndef handler(c, e):\n    return ''\n"}
    result = rt.launch(rt.build_plain(tmp_path / "fn", files), tmp_path / "logs")
    assert isinstance(result, rt.Failed) and result.returncode == 1
    assert "Traceback" in result.stderr and "RuntimeError: cannot init" in result.stderr
    assert not (tmp_path / "logs" / "ready.json").exists()


def test_malformed_handler_exits_1(rt: Any, tmp_path: Path) -> None:
    result = rt.launch(rt.build_plain(tmp_path / "fn", {"main.py": "x = 1\n"}, handler="not a handler"), tmp_path / "logs")
    assert isinstance(result, rt.Failed) and result.returncode == 1
    assert "Malformed handler" in result.stderr


def test_async_handler_and_init_share_one_loop(rt: Any, processors: Any, tmp_path: Path) -> None:
    files = {"app/entry.py": """
        import asyncio
        async def init_context(context):
            context.user_data.loop = id(asyncio.get_running_loop())
        async def serve(context, event):
            await asyncio.sleep(0)
            return {"same_loop": id(asyncio.get_running_loop()) == context.user_data.loop}
    """, "app/__init__.py": ""}
    fn = processors.start(rt.build_plain(tmp_path / "fn", files, handler="app.entry:serve"))
    assert fn.session.get(fn.url).json() == {"same_loop": True}


def test_launch_directory_does_not_shadow_the_function(rt: Any, processors: Any, tmp_path: Path) -> None:
    # The processor is started with its log dir as cwd; a main.py there must not win.
    (tmp_path / "procs" / "proc0").mkdir(parents=True)
    (tmp_path / "procs" / "proc0" / "main.py").write_text("def handler(c, e):\n    return 'wrong'\n")
    fn = processors.start(rt.build_plain(tmp_path / "fn", {"main.py": "def handler(c, e):\n    return 'right'\n"}))
    assert fn.session.get(fn.url).text == "right"


def test_concurrent_requests(echo: Any) -> None:
    import concurrent.futures

    def one(i: int) -> int:
        with requests.Session() as session:
            return int(session.post(echo.url, data=str(i), headers={"Content-Type": "application/json"}).json()["body"])

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(one, range(32))) == list(range(32))
