"""A fused function served by the real local processor: dispatch, contexts, isolation,
in-process calls (both styles, nested), remote calls through a gateway, traces."""

from __future__ import annotations

import concurrent.futures
import json
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest
import requests

ISO_MAIN = """
import os, sys
import util
import pkg.mod
from util import NAME as FROM_IMPORT

def handler(context, event, requests_session):
    import util as lazy_util              # lazy: resolved at call time
    import helpers                         # only ever imported lazily, defined by both tasks
    import pkg.lazy                        # submodule only imported lazily
    from pkg import mod as lazy_mod
    out = {
        "task": "{task}",
        "util": util.NAME,
        "lazy_util": lazy_util.NAME,
        "from_import": FROM_IMPORT,
        "pkg": pkg.mod.NAME,
        "lazy_pkg": lazy_mod.NAME,
        "pkg_lazy": pkg.lazy.NAME,
        "helpers": helpers.NAME,
        "sys_modules_util": sys.modules["util"].NAME,
        "util_calls_own_helper": util.helper(),
        "main_file": os.path.relpath(__file__, os.getcwd()),
    }
    body = event.body if isinstance(event.body, dict) else {}
    if body.get("nest"):
        addr = event.headers["Fusionizer-Server-Address"]
        out["nested"] = requests_session.post(f"http://{addr}:8000/{other}", json={}).json()
        import util as after_call          # the callee's modules must not leak back
        out["util_after_nested_call"] = after_call.NAME
    return out
"""


def iso_task(task: str, other: str) -> Dict[str, str]:
    return {
        "main.py": ISO_MAIN.replace("{task}", task).replace("{other}", other),
        "util.py": f"""
            NAME = "util-{task}"
            def helper():
                import helpers
                return helpers.NAME
        """,
        "helpers.py": f'NAME = "helpers-{task}"\n',
        "pkg/__init__.py": f'NAME = "pkg-{task}"\n',
        "pkg/mod.py": f'NAME = "mod-{task}"\n',
        "pkg/lazy.py": f'NAME = "lazy-{task}"\n',
    }


TASKS: Dict[str, Dict[str, str]] = {
    "iso1": iso_task("iso1", "iso2"),
    "iso2": iso_task("iso2", "iso1"),
    "chain_a": {
        "main.py": """
            import os
            def handler(context, event, requests_session):
                addr = event.headers["Fusionizer-Server-Address"]
                style = event.body["style"] if isinstance(event.body, dict) else "session"
                r = requests_session.post(f"http://{addr}:8000/chain_b", json={"path": ["a"], "style": style})
                return {"b": r.json(), "status": r.status_code, "pid": os.getpid()}
        """,
    },
    "chain_b": {
        "main.py": """
            import os
            import nuclio_sdk
            def handler(context, event, requests_session):
                path = event.body["path"] + ["b"]
                if event.body["style"] == "platform":
                    ev = nuclio_sdk.Event(body={"path": path}, method="POST")
                    r = context.platform.call_function("chain_c", ev)
                    return {"c": r.body, "pid": os.getpid(), "status": r.status_code}
                url = event.headers["Fusionizer-Server-Url"]
                r = requests_session.post(f"{url}/chain_c", json={"path": path})
                return {"c": r.json(), "pid": os.getpid(), "status": r.status_code}
        """,
    },
    "chain_c": {
        "main.py": """
            import os
            def handler(context, event):
                return {"path": event.body["path"] + ["c"], "pid": os.getpid()}
        """,
    },
    "ctx1": {
        "main.py": """
            import requests
            INITS = []
            def init_context(context):
                INITS.append(1)
                context.user_data.value = "ctx1-state"
            def handler(context, event):
                context.logger.info("ctx1 handled")
                return {"value": context.user_data.value, "inits": len(INITS),
                        "logger": context.logger._logger.name,
                        "platform": type(context.platform).__name__,
                        "trigger": context.trigger.kind, "args": 2}
        """,
    },
    "ctx2": {
        "main.py": """
            import requests
            INITS = []
            def init_context(context):
                INITS.append(1)
                context.user_data.value = "ctx2-state"
            def handler(context, event, requests_session):
                return {"value": context.user_data.value, "inits": len(INITS),
                        "logger": context.logger._logger.name,
                        "session": isinstance(requests_session, requests.Session),
                        "session_type": type(requests_session).__name__, "args": 3}
        """,
    },
    "remote_caller": {
        "main.py": """
            import json
            import nuclio_sdk
            def handler(context, event, requests_session):
                body = event.body
                if body["style"] == "platform":
                    ev = nuclio_sdk.Event(body={"k": "v"}, method="POST", headers={"X-Keep": "1"})
                    r = context.platform.call_function(body["target"], ev)
                    return {"status": r.status_code, "body": r.body, "ct": r.content_type,
                            "headers": r.headers, "event_headers": ev.headers}
                addr = event.headers["Fusionizer-Server-Address"]
                url = event.headers["Fusionizer-Server-Url"]
                target = f"http://{addr}:8000/{body['target']}" if body["style"] == "contract" else f"{url}/{body['target']}"
                r = requests_session.post(target, data=b"raw", headers={"X-Keep": "1"})
                return {"status": r.status_code, "body": r.json(), "ct": r.headers["Content-Type"],
                        "x_gateway": r.headers.get("X-Gateway")}
        """,
    },
    "mutator": {
        "main.py": """
            def handler(context, event):
                if isinstance(event.body, dict):
                    event.body["mutated"] = True
                    event.body.setdefault("items", []).append("callee")
                event.headers["X-Mutated"] = "yes"
                event.headers.pop("X-Keep", None)
                return "ok"
        """,
    },
    "guard": {
        "main.py": """
            import copy
            import nuclio_sdk
            def handler(context, event, requests_session):
                before_body = copy.deepcopy(event.body)
                before_headers = dict(event.headers)
                payload = {"items": ["caller"]}
                addr = event.headers["Fusionizer-Server-Address"]
                r1 = requests_session.post(f"http://{addr}:8000/mutator", json=payload, headers={"X-Keep": "1"})
                ev = nuclio_sdk.Event(body={"items": ["caller"]}, method="POST", headers={"X-Keep": "1"})
                r2 = context.platform.call_function("mutator", ev)
                r3 = context.platform.call_function("mutator", event)   # the caller's own event
                return {"texts": [r1.text, r2.body.decode()],
                        "payload": payload, "ev_body": ev.body, "ev_headers": ev.headers,
                        "own_body_same": event.body == before_body,
                        "own_headers_same": event.headers == before_headers,
                        "r3": r3.status_code}
        """,
    },
    "boom": {
        "main.py": """
            def handler(context, event):
                raise RuntimeError("callee exploded")
        """,
    },
    "boom_caller": {
        "main.py": """
            def handler(context, event, requests_session):
                addr = event.headers["Fusionizer-Server-Address"]
                r = requests_session.post(f"http://{addr}:8000/boom", data="x")
                return {"status": r.status_code, "text": r.text, "ct": r.headers["Content-Type"]}
        """,
    },
    "async_task": {
        "main.py": """
            import asyncio
            async def init_context(context):
                await asyncio.sleep(0)
                context.user_data.ready = "async-init"
            async def handler(context, event):
                await asyncio.sleep(0)
                return {"async": True, "ready": context.user_data.ready, "body": event.body}
        """,
    },
    "async_caller": {
        "main.py": """
            def handler(context, event, requests_session):
                addr = event.headers["Fusionizer-Server-Address"]
                r = requests_session.post(f"http://{addr}:8000/async_task", json={"n": 1})
                return {"status": r.status_code, "inner": r.json()}
        """,
    },
    "headers_seen": {
        "main.py": """
            def handler(context, event):
                return {k: event.headers.get(k) for k in
                        ("Fusionizer-Server-Address", "Fusionizer-Server-Url", "Task-Name", "Host")}
        """,
    },
    "outsider": {
        "main.py": """
            import inspect, sys
            def handler(context, event):
                out = {"hasattr": hasattr(sys.modules["util"], "NAME"),
                       "getmodule": inspect.getmodule(handler).__file__.endswith("tasks/outsider/main.py"),
                       "repr": repr(sys.modules["util"])}
                import util
                try:
                    util.NAME
                except AttributeError as exc:
                    out["attribute_error"] = str(exc)
                try:
                    from helpers import NAME
                except ImportError as exc:
                    out["import_error"] = type(exc).__name__
                return out
        """,
    },
    "fallbacks": {
        "main.py": """
            def handler(context, event, requests_session):
                body = event.body
                target = "http://" + event.headers["Fusionizer-Server-Address"] + ":8000/chain_c"
                kind = body["kind"]
                if kind == "files":
                    r = requests_session.post(target, files={"f": ("a.txt", b"abc")})
                elif kind == "cookies":
                    requests_session.cookies.set("c", "1")
                    try:
                        r = requests_session.post(target, json={"path": []})
                    finally:
                        requests_session.cookies.clear()
                elif kind == "stream":
                    r = requests_session.post(target, data=iter([b"a", b"b"]))
                elif kind == "bad_header_name":  # a server answers 400 or garbles the headers
                    r = requests_session.get(target, headers={"Bad Name": "x"})
                else:
                    r = requests_session.post(body["url"] + "/not-the-server", data=b"x")
                return {"status": r.status_code, "json": r.json(), "type": type(r).__name__}
        """,
    },
    "relay": {
        "main.py": """
            def handler(context, event, requests_session):
                if event.body["style"] == "contract":
                    target = "http://" + event.headers["Fusionizer-Server-Address"] + ":8000/headers_seen"
                else:
                    target = event.headers["Fusionizer-Server-Url"] + "/headers_seen"
                return requests_session.post(target, json={}).json()
        """,
    },
    "answer": {
        "main.py": """
            import nuclio_sdk
            def handler(context, event):
                spec = event.body
                return nuclio_sdk.Response(headers=spec["headers"], body=spec["body"],
                                           content_type="text/plain", status_code=spec["status"])
        """,
    },
    "extras": {
        "main.py": """
            def handler(context, event, requests_session):
                spec = event.body
                target = "http://" + event.headers["Fusionizer-Server-Address"] + ":8000/answer/sub?a=1"
                r = requests_session.post(target, params={"p": "q r"}, json=spec["answer"],
                                          allow_redirects=spec.get("follow", True))
                out = {"status": r.status_code, "url": r.url, "history": [h.status_code for h in r.history],
                       "body": r.text, "type": type(r).__name__, "is_redirect": r.is_redirect,
                       "next": r.next.url if r.next else None, "cookie": r.cookies.get("k"),
                       "session_cookie": requests_session.cookies.get("k")}
                requests_session.cookies.clear()
                return out
        """,
    },
    "tracer": {
        "main.py": """
            import _fusionizer_entry
            def handler(context, event):
                edges = _fusionizer_entry._dispatcher.traces()
                return (200, [[e.caller, e.callee, e.local, e.duration_s, e.ts] for e in edges])
        """,
    },
}


@pytest.fixture(scope="module")
def fused(module_processors: Any, module_gateway: Any, rt: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    directory = rt.build_fused(tmp_path_factory.mktemp("fused") / "fn", TASKS)
    yield module_processors.start(directory, env={"FUSIONIZER_SERVER_URL": module_gateway.url})


def _gateway_paths_after(gateway: Any, start: int) -> list:
    return [r.path for r in gateway.requests[start:]]


def test_dispatch_by_task_name_header_any_case(fused: Any) -> None:
    assert fused.call(None, headers={"task-name": "ctx1"}).json()["value"] == "ctx1-state"
    assert fused.call(None, headers={"TASK-NAME": "ctx2"}).json()["value"] == "ctx2-state"


def test_missing_or_unknown_task_is_a_clear_client_error(fused: Any) -> None:
    missing = fused.call(None)
    assert missing.status_code == 400 and "Task-Name" in missing.text and "ctx1" in missing.text
    unknown = fused.call("nope")
    assert unknown.status_code == 404 and "'nope'" in unknown.text and "chain_a" in unknown.text
    assert fused.call("ctx1").status_code == 200  # still serving


def test_two_and_three_parameter_handlers_with_own_contexts(fused: Any) -> None:
    one, two = fused.call("ctx1").json(), fused.call("ctx2").json()
    assert one["args"] == 2 and one["platform"] == "InterceptingPlatform" and one["trigger"] == "http"
    assert two["args"] == 3 and two["session"] and two["session_type"] == "InterceptingSession"
    assert (one["value"], two["value"]) == ("ctx1-state", "ctx2-state")
    assert one["logger"].endswith(".ctx1") and two["logger"].endswith(".ctx2")
    for _ in range(3):
        assert fused.call("ctx1").json()["inits"] == 1  # init_context ran once per task


def test_task_logs_are_bound_to_the_task(fused: Any, rt: Any) -> None:
    fused.call("ctx1")
    assert rt.poll(lambda: "ctx1 handled: {'task': 'ctx1'}" in fused.logs()[0])
    # An exception in an in-process callee is logged by the callee's logger.
    fused.call("boom_caller")
    assert rt.poll(lambda: "[error] Exception caught in handler: {'exc': 'callee exploded'" in fused.logs()[0])
    assert "'task': 'boom'" in fused.logs()[0]


def test_same_named_modules_are_isolated_at_load_and_call_time(fused: Any) -> None:
    for task in ("iso1", "iso2"):
        out = fused.call(task).json()
        expected = {
            "util": f"util-{task}", "lazy_util": f"util-{task}", "from_import": f"util-{task}",
            "pkg": f"mod-{task}", "lazy_pkg": f"mod-{task}", "pkg_lazy": f"lazy-{task}",
            "helpers": f"helpers-{task}", "sys_modules_util": f"util-{task}",
            "util_calls_own_helper": f"helpers-{task}", "main_file": f"tasks/{task}/main.py",
        }
        assert {k: out[k] for k in expected} == expected


def test_task_without_a_shared_module_does_not_see_the_others(fused: Any) -> None:
    out = fused.call("outsider").json()
    assert out["hasattr"] is False and out["getmodule"] is True
    assert out["repr"] == "<module 'util' (one per fused task)>"
    assert out["attribute_error"] == "No module named 'util' in task 'outsider'"
    assert out["import_error"] == "ImportError"


def test_isolation_holds_for_nested_and_concurrent_calls(fused: Any) -> None:
    out = fused.call("iso1", json={"nest": True}).json()
    assert out["nested"]["util"] == "util-iso2" and out["nested"]["helpers"] == "helpers-iso2"
    assert out["util_after_nested_call"] == "util-iso1"

    def one(i: int) -> bool:
        task = ("iso1", "iso2")[i % 2]
        with requests.Session() as session:
            got = session.post(fused.url, headers={"Task-Name": task}, timeout=30).json()
        return got["lazy_util"] == f"util-{task}" and got["helpers"] == f"helpers-{task}"

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert all(pool.map(one, range(64)))


@pytest.mark.parametrize("style", ["session", "platform"])
def test_nested_chain_runs_in_process(fused: Any, module_gateway: Any, style: str) -> None:
    start = len(module_gateway.requests)
    out = fused.call("chain_a", json={"style": style}).json()
    assert out["status"] == 200 and out["b"]["status"] == 200
    assert out["b"]["c"]["path"] == ["a", "b", "c"]
    assert out["pid"] == out["b"]["pid"] == out["b"]["c"]["pid"]  # one process
    assert _gateway_paths_after(module_gateway, start) == []  # nothing went out
    edges = [tuple(e[:3]) for e in fused.call("tracer").json()]
    assert ("chain_a", "chain_b", True) in edges and ("chain_b", "chain_c", True) in edges


def test_traces_record_duration_and_time(fused: Any) -> None:
    fused.call("chain_a", json={"style": "session"})
    edges = fused.call("tracer").json()
    last = [e for e in edges if e[0] == "chain_a"][-1]
    assert 0 < last[3] < 5 and last[4] > 1_600_000_000


@pytest.mark.parametrize("style", ["contract", "url"])
def test_session_call_to_a_task_elsewhere_goes_to_the_server(fused: Any, module_gateway: Any, style: str) -> None:
    start = len(module_gateway.requests)
    out = fused.call("remote_caller", json={"style": style, "target": "elsewhere"}).json()
    assert out["status"] == 203 and out["x_gateway"] == "yes" and out["ct"] == "application/json"
    assert out["body"]["path"] == "/elsewhere"
    (request,) = module_gateway.requests[start:]
    assert request.method == "POST" and request.body == b"raw" and request.headers["X-Keep"] == "1"
    assert request.headers["Fusionizer-Server-Address"] == "127.0.0.1"
    assert request.headers["Fusionizer-Server-Url"] == module_gateway.url
    edges = [tuple(e[:3]) for e in fused.call("tracer").json()]
    assert ("remote_caller", "elsewhere", False) in edges


def test_call_function_to_a_task_elsewhere_goes_to_the_server(fused: Any, module_gateway: Any) -> None:
    start = len(module_gateway.requests)
    out = fused.call("remote_caller", json={"style": "platform", "target": "elsewhere"}).json()
    assert out["status"] == 203 and out["ct"] == "application/json"
    assert out["body"] == {"gateway": True, "method": "POST", "path": "/elsewhere", "task": "elsewhere"}
    assert out["headers"]["x-gateway"] == "yes"  # call_function lower-cases header names
    assert out["event_headers"] == {"X-Keep": "1"}  # the caller's event was not touched
    (request,) = module_gateway.requests[start:]
    assert json.loads(request.body) == {"k": "v"}
    assert request.headers["Task-Name"] == "elsewhere"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Nuclio-Target"] == "elsewhere"
    assert request.headers["Fusionizer-Server-Url"] == module_gateway.url


def _sent_to(url: str, request: Any) -> bool:
    return request.headers["Fusionizer-Server-Url"] == url


@pytest.mark.parametrize("kind, check", [
    ("files", lambda r, url: r.headers["Content-Type"].startswith("multipart/form-data") and b"abc" in r.body
     and _sent_to(url, r)),
    ("cookies", lambda r, url: r.headers["Cookie"] == "c=1" and _sent_to(url, r)),
    ("stream", lambda r, url: r.headers.get("Transfer-Encoding") == "chunked" and _sent_to(url, r)),
    # The stub (like any stdlib server) stops reading headers at the bad name.
    ("bad_header_name", lambda r, url: r.method == "GET" and "Fusionizer-Server-Url" not in r.headers),
])
def test_requests_the_runtime_cannot_reproduce_go_over_http(fused: Any, module_gateway: Any, kind: str, check: Any) -> None:
    start = len(module_gateway.requests)
    out = fused.call("fallbacks", json={"kind": kind}).json()
    assert out["status"] == 203 and out["type"] == "Response" and out["json"]["path"] == "/chain_c"
    (request,) = module_gateway.requests[start:]
    assert check(request, module_gateway.url)


def test_other_urls_are_plain_requests(fused: Any, module_gateway: Any, gateway: Any) -> None:
    start = len(module_gateway.requests)
    out = fused.call("fallbacks", json={"kind": "plain", "url": gateway.url}).json()
    assert out["status"] == 203 and out["json"]["path"] == "/not-the-server"
    (request,) = gateway.requests
    assert "Fusionizer-Server-Url" not in request.headers and request.body == b"x"
    assert len(module_gateway.requests) == start


def test_request_naming_only_the_server_address_uses_the_contract_port(fused: Any) -> None:
    seen = fused.call("headers_seen", headers={"Fusionizer-Server-Address": "10.1.2.3"}).json()
    assert seen["Fusionizer-Server-Address"] == "10.1.2.3"
    assert seen["Fusionizer-Server-Url"] == "http://10.1.2.3:8000"


def test_callee_cannot_mutate_the_callers_event_or_objects(fused: Any) -> None:
    out = fused.call("guard", json={"items": ["original"]}, headers={"X-Keep": "1"}).json()
    assert out["texts"] == ["ok", "ok"] and out["r3"] == 200
    assert out["payload"] == {"items": ["caller"]}
    assert out["ev_body"] == {"items": ["caller"]} and out["ev_headers"] == {"X-Keep": "1"}
    assert out["own_body_same"] and out["own_headers_same"]


def test_exception_in_callee_is_a_500_for_the_caller(fused: Any) -> None:
    out = fused.call("boom_caller").json()
    assert out["status"] == 500 and out["ct"] == "text/plain"
    assert out["text"].startswith('Exception caught in handler - "callee exploded": Traceback')


def test_async_handlers_are_awaited_top_level_and_nested(fused: Any) -> None:
    top = fused.call("async_task", json={"n": 0}).json()
    assert top == {"async": True, "ready": "async-init", "body": {"n": 0}}
    nested = fused.call("async_caller").json()
    assert nested == {"status": 200, "inner": {"async": True, "ready": "async-init", "body": {"n": 1}}}


def test_server_headers_come_from_env_unless_the_request_has_them(fused: Any, module_gateway: Any, gateway: Any) -> None:
    from_env = fused.call("headers_seen").json()
    assert from_env == {"Fusionizer-Server-Address": "127.0.0.1", "Fusionizer-Server-Url": module_gateway.url,
                        "Task-Name": "headers_seen", "Host": f"127.0.0.1:{fused.port}"}
    given = fused.call("headers_seen", headers={"fusionizer-server-url": gateway.url}).json()
    assert given["Fusionizer-Server-Url"] == gateway.url
    assert given["Fusionizer-Server-Address"] == "127.0.0.1"
    # A server named by a request is where that request's remote calls go.
    out = fused.call("remote_caller", json={"style": "url", "target": "far"},
                     headers={"Fusionizer-Server-Url": gateway.url}).json()
    assert out["status"] == 203 and gateway.paths() == ["/far"]


@pytest.mark.parametrize("style, host", [("contract", "localhost"), ("url", "127.0.0.1")])
def test_in_process_callee_gets_the_headers_the_server_route_gives(fused: Any, gateway: Any, style: str, host: str) -> None:
    # The request names a server other than the env's; over HTTP the call would go there,
    # carrying that server's headers and Host: in-process the callee must see the same.
    netloc = f"{host}:{gateway.server.server_address[1]}"
    named = {"Fusionizer-Server-Address": host, "Fusionizer-Server-Url": f"http://{netloc}"}
    seen = fused.call("relay", json={"style": style}, headers=named).json()
    assert seen == {**named, "Task-Name": "headers_seen", "Host": netloc}
    assert gateway.requests == []  # answered in-process


def test_local_response_url_is_the_one_requests_reports(fused: Any, module_gateway: Any) -> None:
    answer = {"status": 200, "headers": {}, "body": "ok"}
    out = fused.call("extras", json={"answer": answer}).json()
    assert (out["status"], out["body"], out["type"]) == (200, "ok", "LocalResponse")
    assert out["url"] == f"{module_gateway.url}/answer/sub?a=1&p=q+r"


def test_redirect_from_an_in_process_callee_is_followed_as_requests_does(fused: Any, module_gateway: Any) -> None:
    start = len(module_gateway.requests)
    for location, landed in ((f"{module_gateway.url}/landing", "/landing"), ("/relative", "/relative")):
        answer = {"status": 302, "headers": {"Location": location}, "body": ""}
        out = fused.call("extras", json={"answer": answer}).json()
        assert out["status"] == 203 and out["history"] == [302]  # POST -> 302 -> GET, as requests does
        assert out["url"] == module_gateway.url + landed and json.loads(out["body"])["method"] == "GET"
    assert _gateway_paths_after(module_gateway, start) == ["/landing", "/relative"]
    edges = [tuple(e[:3]) for e in fused.call("tracer").json()]
    assert ("extras", "answer", True) in edges  # the first hop ran in-process


def test_redirect_not_followed_is_offered_as_next(fused: Any, module_gateway: Any) -> None:
    start = len(module_gateway.requests)
    answer = {"status": 307, "headers": {"Location": "/elsewhere"}, "body": "moved"}
    out = fused.call("extras", json={"answer": answer, "follow": False}).json()
    assert (out["status"], out["body"], out["history"], out["is_redirect"]) == (307, "moved", [], True)
    assert out["next"] == f"{module_gateway.url}/elsewhere"
    assert _gateway_paths_after(module_gateway, start) == []


def test_cookies_set_by_an_in_process_callee_reach_response_and_session(fused: Any) -> None:
    answer = {"status": 200, "headers": {"Set-Cookie": "k=v; Path=/"}, "body": "ok"}
    out = fused.call("extras", json={"answer": answer}).json()
    assert (out["status"], out["cookie"], out["session_cookie"]) == (200, "v", "v")


def test_without_server_env_tasks_are_told_the_offline_server(rt: Any, processors: Any, tmp_path: Path, gateway: Any) -> None:
    # No FUSIONIZER_SERVER_URL: tasks still get both headers (the original contract needs
    # them), naming an address that is never contacted; a request's own headers win.
    tasks = {"a": TASKS["headers_seen"], "caller": TASKS["chain_a"], "chain_b": TASKS["chain_c"]}
    fn = processors.start(rt.build_fused(tmp_path / "fn", tasks))
    assert fn.call("a").json() == {"Fusionizer-Server-Address": "127.0.0.1",
                                   "Fusionizer-Server-Url": "http://127.0.0.1:8000",
                                   "Task-Name": "a", "Host": f"127.0.0.1:{fn.port}"}
    assert fn.call("caller", json={"style": "session"}).json()["b"]["path"] == ["a", "c"]
    headers = {"Fusionizer-Server-Address": "127.0.0.1", "Fusionizer-Server-Url": gateway.url}
    out = fn.call("caller", json={"style": "session"}, headers=headers).json()
    assert out["b"]["path"] == ["a", "c"] and gateway.requests == []


def test_broken_task_fails_startup_naming_the_task(rt: Any, tmp_path: Path) -> None:
    tasks = {"good": TASKS["chain_c"], "bad": {"main.py": "import does_not_exist\n"}}
    result = rt.launch(rt.build_fused(tmp_path / "fn", tasks), tmp_path / "logs")
    assert isinstance(result, rt.Failed) and result.returncode == 1
    assert "task 'bad'" in result.stderr and "does_not_exist" in result.stderr
    assert not (tmp_path / "logs" / "ready.json").exists()


def test_failing_task_init_context_fails_startup(rt: Any, tmp_path: Path) -> None:
    tasks = {"good": TASKS["chain_c"],
             "bad": {"main.py": "def init_context(c):\n    raise ValueError('no db')\ndef handler(c, e):\n    return ''\n"}}
    result = rt.launch(rt.build_fused(tmp_path / "fn", tasks), tmp_path / "logs")
    assert isinstance(result, rt.Failed) and result.returncode == 1
    assert "init_context of task 'bad' failed: ValueError: no db" in result.stderr
