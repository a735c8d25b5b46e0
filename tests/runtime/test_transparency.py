"""Fusion transparency: an in-process call gives the caller exactly what the same call over
HTTP gives (status, body, content type, handler headers), for every kind of handler output
and for JSON and non-JSON request bodies, in both call styles.

References are real HTTP calls to the real processor: with ``requests`` for the session
style, and with the real ``nuclio_sdk.Platform.call_function`` for the platform style; the
callee is also served unfused (its own dir, handler ``main:handler``) as a second reference.
A reference request goes to path ``/``: the server routes ``/<task>`` and forwards the
rest of the path, so that is the path the callee sees on either transport.
"""

from __future__ import annotations

import base64
import http.client
import json
import textwrap
from typing import Any, Callable, Dict, Iterator, Optional

import nuclio_sdk
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CALLEE = {
    "main.py": """
        import base64, json
        import nuclio_sdk

        def build(spec, event):
            kind, value = spec["kind"], spec.get("value")
            if kind in ("str", "json"):
                return value
            if kind == "bytes":
                return base64.b64decode(value)
            if kind == "list":
                return [build(item, event) for item in value]
            if kind == "tuple":
                return (spec["status"], build(value, event))
            if kind == "response":
                return nuclio_sdk.Response(headers=spec["headers"], body=build(value, event),
                                           content_type=spec["content_type"], status_code=spec["status"])
            if kind == "none":
                return None
            if kind == "raise":
                raise ValueError(value)
            if kind == "echo":
                body = event.body
                return {"body": {"b64": base64.b64encode(body).decode()} if isinstance(body, bytes) else body,
                        "body_type": type(body).__name__, "content_type": event.content_type,
                        "method": event.method, "path": event.path, "fields": event.fields,
                        "headers": event.headers, "size": event.size}
            raise AssertionError(kind)

        def handler(context, event):
            return build(json.loads(base64.b64decode(event.headers["X-Spec"])), event)
    """,
}

# Written into the calling tasks as summary.py, and run by this module too (the same code
# makes the in-process call and the reference call, and summarises both answers).
SUMMARY = """
import base64

def request_kwargs(call):
    kwargs = {"headers": call["headers"]}
    if "json" in call:
        kwargs["json"] = call["json"]
    if "data_b64" in call:
        kwargs["data"] = base64.b64decode(call["data_b64"])
    if "data_str" in call:
        kwargs["data"] = call["data_str"]
    if "form" in call:
        kwargs["data"] = call["form"]
    if "params" in call:
        kwargs["params"] = call["params"]
    return kwargs

def encode(body):
    if isinstance(body, (bytes, bytearray)):
        return {"b64": base64.b64encode(bytes(body)).decode()}
    return {"value": body}

def summarise_requests(r):
    return {"status": r.status_code, "content_type": r.headers.get("Content-Type"),
            "headers": dict(r.headers), "body": encode(r.content), "reason": r.reason,
            "encoding": r.encoding}

def summarise_platform(r):
    return {"status": r.status_code, "content_type": r.content_type, "headers": r.headers,
            "body": encode(r.body)}
"""

VIA_SESSION = {
    "summary.py": SUMMARY,
    "main.py": """
        from summary import request_kwargs, summarise_requests

        def handler(context, event, requests_session):
            call = event.body
            addr = event.headers["Fusionizer-Server-Address"]
            url = f"http://{addr}:8000/callee{call['subpath']}"
            return summarise_requests(requests_session.request(call["method"], url, **request_kwargs(call)))
    """,
}

VIA_PLATFORM = {
    "summary.py": SUMMARY,
    "main.py": """
        import base64
        import nuclio_sdk
        from summary import summarise_platform

        def handler(context, event):
            call = event.body
            body = call.get("body")
            if "body_b64" in call:
                body = base64.b64decode(call["body_b64"])
            ev = nuclio_sdk.Event(body=body, content_type=call.get("content_type"),
                                  headers=call["headers"], method=call["method"])
            try:
                return summarise_platform(context.platform.call_function("callee", ev))
            except Exception as exc:
                return {"error": type(exc).__name__}
    """,
}

# Transport headers differ between any two HTTP responses (and in-process has none).
TRANSPORT = {"server", "date", "connection", "keep-alive"}


_SUMMARY: Dict[str, Any] = {}
exec(textwrap.dedent(SUMMARY), _SUMMARY)
_encode: Callable[[Any], Dict[str, Any]] = _SUMMARY["encode"]
_summary_requests: Callable[[requests.Response], Dict[str, Any]] = _SUMMARY["summarise_requests"]


def _differences(left: Any, right: Any, where: str = "") -> list:
    if isinstance(left, dict) and isinstance(right, dict):
        out = []
        for key in sorted(set(left) | set(right), key=str):
            if key not in left or key not in right:
                out.append(f"{where}/{key}: {left.get(key, '<missing>')!r} != {right.get(key, '<missing>')!r}")
            else:
                out.extend(_differences(left[key], right[key], f"{where}/{key}"))
        return out
    return [] if left == right else [f"{where}: {left!r} != {right!r}"]


def assert_same(in_process: Any, over_http: Any) -> None:
    differences = _differences(in_process, over_http)
    assert not differences, "in-process != over HTTP:\n" + "\n".join(differences)


def _without_transport(summary: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(summary)
    out["headers"] = {k.lower(): v for k, v in summary["headers"].items() if k.lower() not in TRANSPORT}
    return out


@pytest.fixture(scope="module")
def functions(rt: Any, module_processors: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Any]]:
    root = tmp_path_factory.mktemp("transparency")
    fused_dir = rt.build_fused(root / "fused", {"callee": CALLEE, "via-session": VIA_SESSION, "via-platform": VIA_PLATFORM})
    env = {"FUSIONIZER_SERVER_URL": "http://127.0.0.1:9"}  # nothing listens: local calls only
    yield {
        "fused": module_processors.start(fused_dir, env=env),
        "plain": module_processors.start(rt.build_plain(root / "plain", CALLEE)),
    }


def _spec_header(spec: Dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(spec).encode()).decode()


# -- strategies -----------------------------------------------------------------------------

texts = st.text(max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**9, 10**9)
    | st.floats(allow_nan=False, allow_infinity=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
header_text = st.text(alphabet="abcXYZ019 -_.,;=/éü", max_size=10)
header_names = st.sampled_from(["X-One", "x-two", "X-THREE", "Set-Thing"])
header_values = header_text | st.integers(0, 99) | st.booleans() | st.none()

scalar_specs = st.one_of(
    st.builds(lambda v: {"kind": "str", "value": v}, texts),
    st.builds(lambda v: {"kind": "bytes", "value": base64.b64encode(v).decode()}, st.binary(max_size=16)),
    st.builds(lambda v: {"kind": "json", "value": v}, json_values),
    st.builds(lambda v: {"kind": "json", "value": v}, st.dictionaries(st.text(max_size=5), json_values, max_size=3)),
    st.just({"kind": "none"}),
    st.builds(lambda v: {"kind": "raise", "value": v}, st.text(alphabet="abc xyz", max_size=10)),
)
output_specs = st.one_of(
    scalar_specs,
    st.builds(lambda s, v: {"kind": "tuple", "status": s, "value": v},
              st.sampled_from([200, 201, 202, 204, 400, 404, 418, 500]), scalar_specs.filter(lambda s: s["kind"] != "raise")),
    st.builds(lambda items: {"kind": "list", "value": items}, st.lists(scalar_specs.filter(lambda s: s["kind"] != "raise"), max_size=3)),
    st.builds(
        lambda h, body, ct, status: {"kind": "response", "headers": h, "value": body, "content_type": ct, "status": status},
        st.dictionaries(header_names, header_values, max_size=3),
        st.one_of(st.builds(lambda v: {"kind": "str", "value": v}, texts),
                  st.builds(lambda v: {"kind": "json", "value": v}, st.dictionaries(st.text(max_size=5), json_values, max_size=2)),
                  st.builds(lambda v: {"kind": "bytes", "value": base64.b64encode(v).decode()}, st.binary(max_size=8))),
        st.sampled_from(["text/plain", "text/html", "application/octet-stream", "application/xml", "text/csv; charset=utf-8"]),
        st.sampled_from([200, 201, 299, 302, 400, 409, 503]),
    ),
    st.just({"kind": "echo"}),
)

# How the caller sends its request (requests keyword arguments, JSON-able).
session_bodies = st.one_of(
    st.builds(lambda v: {"json": v}, json_values),
    st.builds(lambda b, ct: {"data_b64": base64.b64encode(b).decode(), "content_type": ct},
              st.binary(max_size=24), st.sampled_from([None, "text/plain", "application/octet-stream", "application/json"])),
    st.builds(lambda v: {"data_b64": base64.b64encode(json.dumps(v).encode()).decode(), "content_type": "application/json"}, json_values),
    st.builds(lambda f: {"form": f}, st.dictionaries(st.text(alphabet="abc", min_size=1, max_size=3), st.text(max_size=4), max_size=2)),
    st.builds(lambda v, ct: {"data_str": v, "content_type": ct},  # requests sends a str as urllib3 encodes it
              st.text(max_size=8), st.sampled_from([None, "text/plain; charset=utf-8"])),
    st.just({}),
)


def _session_call(spec: Dict[str, Any], body: Dict[str, Any], method: str, params: Optional[Dict[str, str]],
                  subpath: str) -> Dict[str, Any]:
    call: Dict[str, Any] = {"method": method, "subpath": subpath,
                            "headers": {"X-Spec": _spec_header(spec), "x-caller-header": "c"}}
    for key in ("json", "data_b64", "data_str", "form"):
        if key in body:
            call[key] = body[key]
    if body.get("content_type"):
        call["headers"]["Content-Type"] = body["content_type"]
    if params:
        call["params"] = params
    return call


def _reference_kwargs(call: Dict[str, Any]) -> Dict[str, Any]:
    kwargs: Dict[str, Any] = _SUMMARY["request_kwargs"](call)
    kwargs["headers"] = {**kwargs["headers"], "Task-Name": "callee"}
    return kwargs


def _normalise_echo(summary: Dict[str, Any], spec: Dict[str, Any]) -> Dict[str, Any]:
    """Echoed request headers that legitimately differ between the two transports."""
    if spec["kind"] != "echo" or summary["status"] != 200:
        return summary
    out = dict(summary)
    echoed = json.loads(base64.b64decode(summary["body"]["b64"]))
    echoed["headers"].pop("Host", None)  # the in-process call names the server, HTTP the processor
    out["body"] = echoed
    out["headers"] = {k: v for k, v in summary["headers"].items() if k != "content-length"}
    return out


# The generated arguments of each property (also run through the nuctl emulator's image).
SESSION_CALLS = {
    "spec": output_specs,
    "body": session_bodies,
    "method": st.sampled_from(["POST", "PUT", "PATCH", "DELETE"]),
    "params": st.none() | st.dictionaries(st.text(alphabet="pq", min_size=1, max_size=2), st.text(max_size=3),
                                          max_size=2),
    "subpath": st.sampled_from(["", "/sub", "/a/b%20c"]),
}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**SESSION_CALLS)
def test_session_call_in_process_equals_http(functions: Dict[str, Any], spec: Dict[str, Any], body: Dict[str, Any],
                                             method: str, params: Optional[Dict[str, str]], subpath: str) -> None:
    check_session_call(functions, spec, body, method, params, subpath)


def check_session_call(functions: Dict[str, Any], spec: Dict[str, Any], body: Dict[str, Any],
                       method: str, params: Optional[Dict[str, str]], subpath: str) -> None:
    fused, plain = functions["fused"], functions["plain"]
    call = _session_call(spec, body, method, params, subpath)
    path = subpath or "/"  # what the server forwards below /<task>
    in_process = fused.session.post(fused.url, headers={"Task-Name": "via-session"}, json=call).json()
    over_http = _summary_requests(fused.session.request(method, fused.url + path, **_reference_kwargs(call)))
    in_process, over_http = _without_transport(in_process), _without_transport(over_http)
    if spec["kind"] == "raise":  # tracebacks differ by their frames, not by their start
        for summary in (in_process, over_http):
            text = base64.b64decode(summary["body"]["b64"]).decode()
            assert text.startswith(f'Exception caught in handler - "{spec["value"]}": Traceback')
            summary["body"] = None
            summary["headers"].pop("content-length")
    assert_same(_normalise_echo(in_process, spec), _normalise_echo(over_http, spec))
    if spec["kind"] not in ("echo", "raise"):
        unfused = _without_transport(_summary_requests(plain.session.request(method, plain.url + path, **_reference_kwargs(call))))
        assert_same(unfused, over_http)


def _sdk_call(port: int, call: Dict[str, Any]) -> Dict[str, Any]:
    platform = nuclio_sdk.Platform(
        "local", connection_provider=lambda url, timeout=None: http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    )
    body = call.get("body")
    if "body_b64" in call:
        body = base64.b64decode(call["body_b64"])
    event = nuclio_sdk.Event(body=body, content_type=call.get("content_type"),
                             headers={**call["headers"], "Task-Name": "callee"}, method=call["method"], path="/")
    try:
        r = platform.call_function("callee", event)
    except Exception as exc:
        return {"error": type(exc).__name__}
    return {"status": r.status_code, "content_type": r.content_type, "headers": r.headers, "body": _encode(r.body)}


platform_bodies = st.one_of(
    st.builds(lambda v: {"body": v}, st.dictionaries(st.text(max_size=5), json_values, max_size=3)),
    st.builds(lambda b, ct: {"body_b64": base64.b64encode(b).decode(), "content_type": ct},
              st.binary(max_size=24), st.sampled_from([None, "text/plain", "application/json", "application/x-thing"])),
    st.builds(lambda v: {"body": v, "content_type": "text/plain"}, st.text(alphabet="abc é", max_size=8)),
    st.just({}),
)


PLATFORM_CALLS = {"spec": output_specs, "body": platform_bodies, "method": st.sampled_from(["POST", "PUT"])}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**PLATFORM_CALLS)
def test_call_function_in_process_equals_sdk_over_http(functions: Dict[str, Any], spec: Dict[str, Any],
                                                       body: Dict[str, Any], method: str) -> None:
    check_platform_call(functions, spec, body, method)


def check_platform_call(functions: Dict[str, Any], spec: Dict[str, Any], body: Dict[str, Any], method: str) -> None:
    fused = functions["fused"]
    call = {"method": method, "headers": {"X-Spec": _spec_header(spec), "x-caller-header": "c"}, **body}
    in_process = fused.session.post(fused.url, headers={"Task-Name": "via-platform"}, json=call).json()
    over_http = _sdk_call(fused.port, call)
    if "error" in over_http or "error" in in_process:
        assert_same(in_process, over_http)  # e.g. both raise on a JSON content type with a bad body
        return
    in_process, over_http = _without_transport(in_process), _without_transport(over_http)
    if spec["kind"] == "raise":
        for summary in (in_process, over_http):
            assert base64.b64decode(summary["body"]["b64"]).decode().startswith("Exception caught in handler")
            summary["body"] = None
            summary["headers"].pop("content-length")
    if spec["kind"] == "echo" and in_process["status"] == 200:
        for summary in (in_process, over_http):
            summary["body"]["value"]["headers"].pop("Host", None)  # http.client adds the processor's
            summary["headers"].pop("content-length")
    assert_same(in_process, over_http)
