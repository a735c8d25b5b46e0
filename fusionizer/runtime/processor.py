"""A local stand-in for Nuclio's processor + Python wrapper: serve a function dir over HTTP.

    python -m fusionizer.runtime.processor DIR --host 127.0.0.1 --port 0 \\
        --ready-file PATH [--name NAME] [--namespace NS] [--handler MODULE:FUNCTION]

It serves a Nuclio Python function directory the way Nuclio's Python runtime does, for
plain (unfused) functions and fused ones (handler ``_fusionizer_entry:handler``) alike:

- reads ``DIR/function.yaml`` (JSON if it parses, else YAML) for ``spec.handler``
  (default ``main:handler``; ``--handler`` overrides), puts DIR first on ``sys.path``,
  makes DIR the working directory, imports the handler module;
- builds a Context as the wrapper does (logger, ``nuclio_sdk.Platform("local", NS)``,
  worker id 0, trigger ``http``/``default-http``) and calls ``init_context`` from the
  module named by ``handler.__module__`` (awaited if it is ``async``);
- per request: builds the Event (``events.build_event``; with ``bytes`` metadata when
  ``NUCLIO_PYTHON_DECODE_EVENT_STRINGS`` is ``no``/``false``/``disable``/``disabled``, as
  Nuclio's wrapper then reads events raw), calls the handler (a coroutine
  result is awaited on the function's event loop thread), converts the output
  (``conversion``), and sends status, Content-Type, handler headers and body;
- ``context.logger`` writes human-readable lines to stdout (``HumanReadableFormatter``).

Only when init succeeded and the socket listens, it writes ``--ready-file`` atomically
(temp file + rename) as JSON ``{"pid", "port", "host"}``. If init fails it prints the
traceback to stderr and exits 1. SIGTERM (or SIGINT) shuts it down cleanly, calling the
platform's termination callback first, as Nuclio does before stopping a worker.

Differences from Nuclio, on purpose: requests are served concurrently on threads (a
Nuclio worker takes one event at a time; concurrency there comes from ``numWorkers``), and
TCP_NODELAY is set with HTTP/1.1 keep-alive (otherwise Nagle + delayed ACK add ~40 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import io
import json
import logging
import os
import re
import signal
import sys
import threading
import traceback
import urllib.parse
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import nuclio_sdk
import nuclio_sdk.logger

from .conversion import HttpResult, has_body, result_from_call
from .events import TRIGGER_KIND, TRIGGER_NAME, build_event, decodes_event_strings
from .headers import canonical_key
from .layout import DEFAULT_HANDLER, FUNCTION_CONFIG, HANDLER_REGEX

_HANDLER = re.compile(HANDLER_REGEX)
_MAX_BODY = 64 * 1024 * 1024


# -- configuration ------------------------------------------------------------------------


def _minimal_yaml_handler(text: str) -> Optional[str]:
    """``spec.handler`` from block-style YAML, for hosts without PyYAML."""
    in_spec = False
    spec_indent = -1
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        key, _, value = line.strip().partition(":")
        if indent == 0:
            in_spec = key == "spec"
            spec_indent = -1
            continue
        if in_spec:
            if spec_indent < 0:
                spec_indent = indent
            if indent == spec_indent and key == "handler":
                return value.strip().strip("'\"") or None
    return None


def read_handler(function_dir: str) -> str:
    """The handler named by ``DIR/function.yaml`` (``spec.handler``), else the default."""
    path = os.path.join(function_dir, FUNCTION_CONFIG)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return DEFAULT_HANDLER
    config: Any
    try:
        config = json.loads(text)  # Nuclio tries JSON first, then YAML
    except ValueError:
        try:
            import yaml  # optional: present where the fusionizer is installed
        except ImportError:
            return _minimal_yaml_handler(text) or DEFAULT_HANDLER
        config = yaml.safe_load(text)
    spec = config.get("spec") if isinstance(config, dict) else None
    handler = spec.get("handler") if isinstance(spec, dict) else None
    return handler if isinstance(handler, str) and handler else DEFAULT_HANDLER


# -- the function ---------------------------------------------------------------------------


class EventLoopThread:
    """The function's event loop, on its own thread, started on first use: async
    handlers and ``async init_context`` all run on this one loop, as in the wrapper."""

    def __init__(self) -> None:
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._lock = threading.Lock()

    def _get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="function-loop", daemon=True).start()
                self._loop = loop
            return self._loop

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._get()).result()

    def stop(self) -> None:
        with self._lock:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)


def make_logger(name: str = "nuclio_sdk") -> Any:
    logger = nuclio_sdk.Logger(logging.DEBUG, name)
    logger.set_handler("default", sys.stdout, nuclio_sdk.logger.HumanReadableFormatter())
    return logger


def load_entrypoint(handler: str) -> Callable[..., Any]:
    """Import ``module.sub:function`` exactly as the wrapper does."""
    match = _HANDLER.match(handler)
    if not match:
        raise ValueError("Malformed handler - {!r}".format(handler))
    module_name, attribute = match.group(1), match.group(3)
    module = __import__(module_name)
    for part in module_name.split(".")[1:]:
        module = getattr(module, part)
    entrypoint: Callable[..., Any] = getattr(module, attribute)
    return entrypoint


class Function:
    """A loaded handler with its Context: turns one Event into one :class:`HttpResult`."""

    def __init__(self, entrypoint: Callable[..., Any], context: Any, loop: EventLoopThread) -> None:
        self.entrypoint = entrypoint
        self.context = context
        self._loop = loop

    @classmethod
    def load(cls, handler: str, namespace: str, logger: Any, loop: EventLoopThread) -> "Function":
        entrypoint = load_entrypoint(handler)
        platform = nuclio_sdk.Platform("local", namespace=namespace)
        context = nuclio_sdk.Context(logger, platform, 0, nuclio_sdk.TriggerInfo(TRIGGER_KIND, TRIGGER_NAME))
        function = cls(entrypoint, context, loop)
        function.init()
        return function

    def init(self) -> None:
        # The wrapper looks init_context up in the module the handler function belongs to.
        module = sys.modules.get(getattr(self.entrypoint, "__module__", "") or "")
        init_context = getattr(module, "init_context", None)
        if init_context is None:
            return
        result = init_context(self.context)
        if asyncio.iscoroutinefunction(init_context):
            self._loop.run(result)

    def handle(self, event: Any) -> HttpResult:
        return result_from_call(self._call, event, self.context.logger)

    def _call(self, event: Any) -> Any:
        output = self.entrypoint(self.context, event)
        if asyncio.iscoroutine(output):
            output = self._loop.run(output)  # on the function's loop, as the wrapper awaits it
        return output

    def terminate(self) -> None:
        platform = getattr(self.context, "platform", None)
        if platform is not None and hasattr(platform, "_on_signal"):
            platform._on_signal(callback_type="termination")


# -- HTTP -----------------------------------------------------------------------------------


class _BadRequest(Exception):
    pass


class RequestHandler(http.server.BaseHTTPRequestHandler):
    """One HTTP request -> one Event -> one response, on a keep-alive connection."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # Nagle + delayed ACK: +40 ms per keep-alive request
    server: "ProcessorServer"

    def version_string(self) -> str:
        return "nuclio-fusionizer-processor"

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one stderr line per request is noise; handler logs go to stdout

    def _read_chunked(self) -> bytes:
        parts: List[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(65537)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size < 0:
                raise _BadRequest("bad chunk size")  # read(-1) would wait for the peer to close
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > _MAX_BODY:
                raise _BadRequest("request body too large")
            parts.append(self.rfile.read(size))
            self.rfile.readline(65537)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length_text = self.headers.get("Content-Length")
        if not length_text:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            raise _BadRequest("bad Content-Length") from None
        if length < 0 or length > _MAX_BODY:
            raise _BadRequest("bad Content-Length")
        return self.rfile.read(length)

    def _event(self, body: bytes) -> Any:
        url = urllib.parse.urlsplit(self.path)
        fields: Dict[str, str] = {}
        if url.query:
            fields = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        headers = {canonical_key(key): value for key, value in self.headers.items()}
        return build_event(
            self.command,
            urllib.parse.unquote(url.path) or "/",
            fields,
            headers,
            body,
            headers.get("Content-Type", ""),
            headers_are_canonical=True,
            raw=self.server.raw_events,
        )

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except (_BadRequest, ValueError) as exc:
            self._send(HttpResult(400, "text/plain", (), f"{exc}\n".encode()))
            self.close_connection = True
            return
        try:
            event = self._event(body)
        except Exception as exc:  # the wrapper's "while serving" error
            text = 'Exception caught while serving - "{0}": {1}'.format(exc, traceback.format_exc())
            self._send(HttpResult(500, "text/plain", (), text.encode("utf-8", "replace")))
            return
        self._send(self.server.function.handle(event))

    def _send(self, result: HttpResult) -> None:
        self.send_response(result.status)
        self.send_header("Content-Type", result.content_type)
        for key, value in result.headers:
            self.send_header(key, value)
        if has_body(result.status):
            self.send_header("Content-Length", str(len(result.body)))
        self.end_headers()
        if self.command != "HEAD" and result.body:
            self.wfile.write(result.body)


class ProcessorServer(http.server.ThreadingHTTPServer):
    daemon_threads = True  # a hung handler must not keep the process alive on shutdown
    block_on_close = False

    def __init__(self, address: Tuple[str, int], function: Function) -> None:
        self.function = function
        self.raw_events = not decodes_event_strings(os.environ)
        super().__init__(address, RequestHandler)


# -- process --------------------------------------------------------------------------------


def write_ready_file(path: str, payload: Dict[str, Any]) -> None:
    """Atomically: a reader sees no file or the whole JSON, never a partial one."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(payload, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m fusionizer.runtime.processor",
        description="Serve a Nuclio Python function directory over HTTP.",
    )
    parser.add_argument("directory", help="function directory (holds function.yaml)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--ready-file", required=True, help="written as JSON once serving")
    parser.add_argument("--name", default="", help="function name, for the logs")
    parser.add_argument("--namespace", default="nuclio")
    parser.add_argument("--handler", default=None, help="override spec.handler")
    return parser.parse_args(argv)


def _enter(directory: str) -> None:
    # As in Nuclio, the function root is first on sys.path and nothing from the
    # launcher's working directory shadows the function's modules.
    launch_dir = os.getcwd()
    if sys.path and sys.path[0] in ("", launch_dir) and launch_dir != directory:
        del sys.path[0]
    sys.path.insert(0, directory)
    os.chdir(directory)


def _install_signals(server: ProcessorServer) -> None:
    def stop(signum: int, frame: Any) -> None:
        # shutdown() waits for serve_forever() to return: call it off the main thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # logs must reach a pipe promptly (-u)
    directory = os.path.abspath(args.directory)
    logger = make_logger()
    loop = EventLoopThread()
    try:
        _enter(directory)
        handler = args.handler or read_handler(directory)
        function = Function.load(handler, args.namespace, logger, loop)
        server = ProcessorServer((args.host, args.port), function)
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        return 1
    _install_signals(server)
    host, port = server.server_address[0], server.server_address[1]
    logger.info_with("Processor started", name=args.name or os.path.basename(directory), handler=handler, host=host, port=port)
    write_ready_file(args.ready_file, {"pid": os.getpid(), "port": port, "host": host})
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        try:
            function.terminate()
        except Exception:
            traceback.print_exc()
        server.server_close()
        loop.stop()
        logger.info("Processor stopped")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
