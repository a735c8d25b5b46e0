"""Pure pieces of the runtime, in-process: header names, events, output conversion, routing."""

from __future__ import annotations

import base64
import datetime
import json
import uuid
from pathlib import Path

import nuclio_sdk
import nuclio_sdk.json_encoder
import pytest

from fusionizer.runtime.conversion import (
    DEFAULT_CONTENT_TYPE,
    EMPTY_BATCH_BODY,
    HttpResult,
    result_from_call,
    result_from_exception,
    result_from_output,
)
from fusionizer.runtime.events import build_event
from fusionizer.runtime.headers import canonical_key, get_header
from fusionizer.runtime.routing import Router, server_address


@pytest.mark.parametrize(
    "raw, canonical",
    [
        ("fusionizer-server-address", "Fusionizer-Server-Address"),
        ("FUSIONIZER-SERVER-URL", "Fusionizer-Server-Url"),
        ("task-name", "Task-Name"),
        ("content-type", "Content-Type"),
        ("x_custom-header", "X_custom-Header"),
        ("Already-Canonical", "Already-Canonical"),
        ("has space", "has space"),  # not a token: Go leaves it alone
        ("", ""),
    ],
)
def test_header_names_are_canonicalised_the_go_way(raw: str, canonical: str) -> None:
    assert canonical_key(raw) == canonical


def test_get_header_is_case_insensitive() -> None:
    assert get_header({"task-name": "a"}, "Task-Name") == "a"
    assert get_header({"Task-Name": "b"}, "Task-Name") == "b"
    assert get_header({}, "Task-Name") is None


def test_event_like_nucliosdk_wrapper_builds_it() -> None:
    event = build_event(
        "POST", "/x", {"q": "1"}, {"content-type": "application/json", "x-a": "v"}, b'{"k": [1]}',
        "application/json",
    )
    assert isinstance(event, nuclio_sdk.Event)
    assert event.body == {"k": [1]}
    assert event.headers == {"Content-Type": "application/json", "X-A": "v"}
    assert event.content_type == "application/json"
    assert (event.trigger.kind, event.trigger.name) == ("http", "default-http")
    assert event.fields == {"q": "1"}
    assert uuid.UUID(event.id).version == 4
    assert isinstance(event.timestamp, datetime.datetime) and event.timestamp.microsecond == 0
    assert (event.method, event.path, event.url, event.size) == ("POST", "/x", "", 10)
    assert event.get_header("x-a") == "v"


def test_event_body_stays_bytes_unless_exactly_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert build_event("POST", "/", {}, {}, b'{"a": 1}', "text/plain").body == b'{"a": 1}'
    assert build_event("POST", "/", {}, {}, b'{"a": 1}', "application/json; charset=utf-8").body == b'{"a": 1}'
    bad = build_event("POST", "/", {}, {}, b"{nope", "application/json")
    assert bad.body == b"{nope"
    assert "Failed deserializing json body" in capsys.readouterr().err


def test_event_headers_are_a_copy() -> None:
    headers = {"a": "1"}
    event = build_event("GET", "/", {}, headers, b"", "")
    event.headers["B"] = "2"
    assert headers == {"a": "1"} and event.headers == {"A": "1", "B": "2"}


def _record(output: object) -> dict:  # what the 1.14.1 wrapper would hand the processor
    return nuclio_sdk.Response.from_entrypoint_output(nuclio_sdk.json_encoder.Encoder().encode, output)


@pytest.mark.parametrize(
    "output, status, content_type, body",
    [
        ("hello", 200, "text/plain", b"hello"),
        (b"\x00\xffbin", 200, "text/plain", b"\x00\xffbin"),
        ({"a": 1}, 200, "application/json", b'{"a": 1}'),
        ((201, "made"), 201, "text/plain", b"made"),
        ((202, {"a": [1, 2]}), 202, "application/json", b'{"a": [1, 2]}'),
        ((200, [1, 2]), 200, "application/json", b"[1, 2]"),
        (None, 200, "text/plain", b"None"),
        (42, 200, "text/plain", b"42"),
        ([{"first": 1}, "second"], 200, "application/json", b'{"first": 1}'),  # batch: first
        (["a", "b"], 200, "text/plain", b"a"),
        ([[1, 2]], 200, "application/json", b"[1, 2]"),
        ((0, "zero"), 200, "text/plain", b"zero"),
    ],
)
def test_output_conversion_matches_nuclio(output: object, status: int, content_type: str, body: bytes) -> None:
    result = result_from_output(output)
    assert (result.status, result.content_type, result.body) == (status, content_type, body)
    if not isinstance(output, list):
        record = _record(output)
        assert record["content_type"] == result.content_type
        raw = base64.b64decode(record["body"]) if record["body_encoding"] == "base64" else record["body"].encode()
        assert raw == result.body


def test_response_object_fields_and_header_rules() -> None:
    class Custom:
        def __repr__(self) -> str:
            return "custom-repr"

    response = nuclio_sdk.Response(
        headers={"x-str": "v", "x-int": 5, "x-bool": True, "x-none": None, "x-obj": Custom(),
                 "content-type": "ignored/x", "x-newline": "a\r\nb", "x-lead": "  spaced"},
        body={"k": "v"}, content_type="text/html", status_code=418,
    )
    result = result_from_output(response)
    assert result.status == 418
    assert result.content_type == "application/json"  # a dict body is JSON, whatever was set
    assert json.loads(result.body) == {"k": "v"}
    assert dict(result.headers) == {"X-Str": "v", "X-Obj": "custom-repr", "X-Lead": "spaced"}


def test_response_with_empty_content_type_gets_fasthttp_default() -> None:
    response = nuclio_sdk.Response(body="x")
    response.content_type = None
    assert result_from_output(response).content_type == DEFAULT_CONTENT_TYPE


def test_non_ascii_header_values_read_back_as_latin1_of_utf8() -> None:
    result = result_from_output(nuclio_sdk.Response(headers={"X-Name": "café"}, body=""))
    assert dict(result.headers)["X-Name"] == "café".encode().decode("latin-1")


def test_empty_batch_is_a_clear_500() -> None:
    result = result_from_output([])
    assert result == HttpResult(500, "text/plain", (), EMPTY_BATCH_BODY.encode())


def test_bad_status_and_unencodable_outputs_become_500() -> None:
    assert result_from_call(lambda event: ("201", "x"), None, None).status == 500
    unencodable = nuclio_sdk.Response(body={"k": object()})  # json.dumps fails
    bad = result_from_call(lambda event: unencodable, None, None)
    assert bad.status == 500 and bad.body.startswith(b'Exception caught in handler - "Object of type')


def test_handler_exception_is_a_logged_500() -> None:
    logged = []

    class Logger:
        def error_with(self, message: str, **kwargs: str) -> None:
            logged.append((message, kwargs["exc"], kwargs["traceback"]))

    def handler(event: object) -> object:
        raise KeyError(event)

    result = result_from_call(handler, "boom", Logger())
    assert result.status == 500 and result.body.startswith(b'Exception caught in handler - "\'boom\'": Traceback')
    ((message, exc, trace),) = logged
    assert (message, exc) == ("Exception caught in handler", "'boom'") and "KeyError: 'boom'" in trace


def test_exception_body_is_the_wrappers() -> None:
    try:
        raise KeyError("boom")
    except KeyError as exc:
        result = result_from_exception(exc)
    assert result.status == 500 and result.content_type == "text/plain"
    text = result.body.decode()
    assert text.startswith("Exception caught in handler - \"'boom'\": Traceback (most recent call last):")
    assert "KeyError: 'boom'" in text


def test_router_recognises_the_server_in_both_forms() -> None:
    server = server_address("http://127.0.0.1:9123/")
    assert server is not None and server.url == "http://127.0.0.1:9123" and server.host == "127.0.0.1"
    router = Router(frozenset({"b"}), server)
    contract = router.route("http://127.0.0.1:8000/b?x=1")
    assert contract is not None and contract.local and contract.task == "b"
    assert contract.remote_url == "http://127.0.0.1:9123/b?x=1" and contract.query == "x=1"
    direct = router.route("http://127.0.0.1:9123/elsewhere")
    assert direct is not None and not direct.local and direct.task == "elsewhere"
    assert direct.remote_url == "http://127.0.0.1:9123/elsewhere"
    other = router.route("http://127.0.0.1:9123/-/status")
    assert other is not None and other.task == "" and not other.local
    below = router.route("http://127.0.0.1:8000/b/x/y?q=1")
    assert below is not None and below.local and (below.task, below.path, below.query) == ("b", "/x/y", "q=1")
    assert below.remote_url == "http://127.0.0.1:9123/b/x/y?q=1"
    assert contract.path == "/" and contract.host == "127.0.0.1:9123"
    assert router.route("http://127.0.0.1:8001/b") is None
    assert router.route("http://example.com:8000/b") is None
    assert router.route("ftp://127.0.0.1:8000/b") is None


def test_router_learns_servers_named_by_requests() -> None:
    router = Router(frozenset({"b"}), None)
    assert router.route("http://10.0.0.5:8000/b") is None
    learned = server_address("http://10.0.0.5:7000")
    assert learned is not None
    router.learn(learned)
    route = router.route("http://10.0.0.5:8000/b")
    assert route is not None and route.local and route.remote_url == "http://10.0.0.5:7000/b"
    assert route.host == "10.0.0.5:7000"  # the Host header the rewritten request carries
    assert router.server() == learned


def test_a_learned_server_does_not_take_the_configured_servers_host() -> None:
    configured = server_address("http://127.0.0.1:9123")
    other = server_address("http://127.0.0.1:7000")
    assert configured is not None and other is not None
    router = Router(frozenset({"b"}), configured)
    router.learn(other)
    contract = router.route("http://127.0.0.1:8000/b")
    assert contract is not None and contract.server == configured
    direct = router.route("http://127.0.0.1:7000/b")  # the other one is still recognised by URL
    assert direct is not None and direct.local and direct.server == other


def test_server_url_with_path_prefix() -> None:
    router = Router(frozenset({"b"}), server_address("http://gw.local:80/fusionizer"))
    route = router.route("http://gw.local/fusionizer/b")
    assert route is not None and route.local and route.task == "b" and route.path == "/"
    assert route.host == "gw.local"  # http.client leaves the default port out of Host
    assert router.route("http://gw.local/other/b") is None


from hypothesis import given, settings
from hypothesis import strategies as st

from fusionizer.runtime.conversion import nuclio_json, strict_json_encoder

_json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=4) | st.integers(-5, 5) | st.booleans(), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(_json_like)
def test_fast_json_writes_what_the_sdk_encoder_writes(value: object) -> None:
    assert nuclio_json(value) == nuclio_sdk.json_encoder.Encoder().encode(value)


@settings(max_examples=300, deadline=None)
@given(_json_like)
def test_strict_encoder_matches_json_dumps_allow_nan_false(value: object) -> None:
    encode = strict_json_encoder(json.JSONEncoder().default)
    try:
        expected = json.dumps(value, allow_nan=False)
    except ValueError:
        with pytest.raises(ValueError):
            encode(value)
        return
    assert encode(value) == expected


def test_fast_json_circular_and_unserialisable() -> None:
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        nuclio_json(loop)
    assert nuclio_json({"ok": [1]}) == '{"ok": [1]}'  # the encoder recovered
    assert nuclio_json({"o": object}) == nuclio_sdk.json_encoder.Encoder().encode({"o": object})


@pytest.mark.parametrize("output", ["text", "", "é\u2028", {"a": [1, 2.5]}, {}, {"n": float("nan")}])
def test_fast_paths_equal_the_sdk_record(output: object) -> None:
    result = result_from_output(output)
    record = _record(output)
    assert (result.status, result.content_type, result.headers) == (record["status_code"], record["content_type"], ())
    assert result.body == record["body"].encode()


from fusionizer.runtime.processor import _minimal_yaml_handler, read_handler


def test_read_handler_from_function_yaml(tmp_path: Path) -> None:
    assert read_handler(str(tmp_path)) == "main:handler"  # no function.yaml
    (tmp_path / "function.yaml").write_text('{"spec": {"handler": "_fusionizer_entry:handler"}}')
    assert read_handler(str(tmp_path)) == "_fusionizer_entry:handler"
    (tmp_path / "function.yaml").write_text("metadata:\n  name: x\nspec:\n  runtime: python\n  handler: app.mod:entry\n")
    assert read_handler(str(tmp_path)) == "app.mod:entry"
    (tmp_path / "function.yaml").write_text("metadata:\n  name: x\nspec:\n  runtime: python\n")
    assert read_handler(str(tmp_path)) == "main:handler"


def test_minimal_yaml_reader_without_pyyaml() -> None:
    text = (
        "# comment\nmetadata:\n  name: x\n  handler: not-this\nspec:\n  build:\n    handler: nor-this\n"
        "  handler: 'pkg.main:handler'  # the one\n"
    )
    assert _minimal_yaml_handler(text) == "pkg.main:handler"
    assert _minimal_yaml_handler("spec:\n  runtime: python\n") is None
