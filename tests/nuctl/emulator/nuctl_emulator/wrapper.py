"""Nuclio 1.14.1's Python runtime, emulated inside a function's image virtualenv: the Go
processor's HTTP trigger and the Python wrapper (``_nuclio_wrapper.py``) in one process.

The emulator copies this file next to the function's code as ``_nuclio_wrapper.py`` and runs
``python -u CODE/_nuclio_wrapper.py --handler H ...`` with the image's interpreter,
``PYTHONPATH=CODE`` and another working directory, as Nuclio's image does
(reference/nuclio.md §6). It imports only the standard library, ``msgpack`` and
``nuclio_sdk``: what the image holds. Facts it reproduces:

- the event: the Go side's record (``content_type``, ``trigger{kind,name}``, ``fields``,
  ``headers`` with canonical names and string values, ``id``, ``method``, ``path``,
  ``size``, ``timestamp``, ``url``, ``shard_id``, ``num_shards``, ``type``,
  ``type_version``, ``version``, ``body`` as bytes) packed with msgpack, then read back the
  wrapper's way: ``msgpack.Unpacker(raw=not decode_event_strings)`` and
  ``nuclio_sdk.Event.deserialize(kind=msgpack|msgpack_raw)``. Without
  ``--decode-event-strings`` every string of the event is ``bytes``, keys too;
- the handler runs on the worker's event loop, one event at a time (a plain handler runs
  inside the running loop, a coroutine is awaited), with the same Context every time:
  ``Context(logger, Platform(kind, namespace), worker_id, TriggerInfo(kind, name))``;
  ``init_context`` of the handler's module runs once before the function is ready;
- the output: ``Response.from_entrypoint_output(Encoder().encode, output)``, a top-level
  list as a batch (the first answers a single HTTP event; an empty one is a 500 worded as
  the fusionizer's runtime words it, Nuclio's own answer being undefined), an exception as 500
  ``Exception caught in handler - "<exc>": <traceback>``;
- the HTTP answer as the Go trigger writes it: status 0 means 200, an empty content type
  becomes ``text/plain; charset=utf-8``, only string header values are set, a base64 body
  is sent decoded, 1xx/204/304 carry no body;
- logs are JSON lines on stdout (the function's log); SIGTERM calls the platform's
  termination callback, then the process exits.

Differences, on purpose: numWorkers workers share this one process and loop (Nuclio runs a
wrapper process per worker); HTTP keep-alive with TCP_NODELAY; the ready signal is a file
(``--ready-file``, JSON ``{"pid", "port", "host"}``) instead of a socket message.
"""

import argparse
import asyncio
import base64
import http.server
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

import msgpack
import nuclio_sdk
import nuclio_sdk.json_encoder
import nuclio_sdk.logger

HANDLER = re.compile(r"^([\w|-]+(\.[\w|-]+)*):(\w+)$")
DEFAULT_CONTENT_TYPE = "text/plain; charset=utf-8"  # fasthttp's, when none is set
# Nuclio's Go side indexes the first result of a batch: an empty one has none (undefined
# there). The answer the fusionizer documents for it, so both sides of a comparison agree.
EMPTY_BATCH = (
    "Handler returned an empty list: Nuclio treats a top-level list as a batch of "
    "responses and answers a single HTTP event with the first one, but there is none. "
    "Return (200, []) to send an empty JSON array."
)
_TRANSPORT = frozenset({"content-type", "content-length", "transfer-encoding", "connection", "keep-alive"})


def canonical(name):
    """Go's textproto.CanonicalMIMEHeaderKey, which fasthttp applies to header names."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def load_entrypoint(handler):
    match = HANDLER.match(handler)
    if not match:
        raise ValueError("Malformed handler - {!r}".format(handler))
    module_name, attribute = match.group(1), match.group(3)
    module = __import__(module_name)
    for part in module_name.split(".")[1:]:
        module = getattr(module, part)
    return getattr(module, attribute)


class Worker:
    """The wrapper: one event loop thread, one Context, one event at a time."""

    def __init__(self, args, logger):
        self.decode = args.decode_event_strings
        self.encoder = nuclio_sdk.json_encoder.Encoder()
        self.entrypoint = load_entrypoint(args.handler)
        platform = nuclio_sdk.Platform(args.platform_kind, namespace=args.namespace)
        trigger = nuclio_sdk.TriggerInfo(args.trigger_kind, args.trigger_name)
        self.context = nuclio_sdk.Context(logger, platform, args.worker_id, trigger)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="worker", daemon=True)
        self.thread.start()
        self.turn = self.run(self._make_lock())

    async def _make_lock(self):
        return asyncio.Lock()

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def initialize(self):
        module = sys.modules[self.entrypoint.__module__]
        init_context = getattr(module, "init_context", None)
        if init_context is not None:
            self.run(self._init(init_context))

    async def _init(self, init_context):
        result = init_context(self.context)
        if asyncio.iscoroutinefunction(init_context):
            await result

    def handle(self, packed):
        """A packed event record in, the response record (a dict) out."""
        return self.run(self._handle(packed))

    async def _handle(self, packed):
        async with self.turn:
            unpacker = msgpack.Unpacker(raw=not self.decode, max_buffer_size=1024 * 1024 * 1024)
            unpacker.feed(packed)
            kind = nuclio_sdk.event.EventDeserializerKinds
            try:
                event = nuclio_sdk.Event.deserialize(next(unpacker), kind=kind.msgpack if self.decode else kind.msgpack_raw)
            except Exception as exc:
                return self._error("Exception caught while serving", exc)
            try:
                output = self.entrypoint(self.context, event)
                if asyncio.iscoroutine(output):
                    output = await output
                return self._encode(output)
            except Exception as exc:
                return self._error("Exception caught in handler", exc)

    def _encode(self, output):
        if isinstance(output, list):
            records = [nuclio_sdk.Response.from_entrypoint_output(self.encoder.encode, item) for item in output]
            if not records:
                return {"body": EMPTY_BATCH, "body_encoding": "text", "content_type": "text/plain",
                        "status_code": 500, "headers": {}}
            return json.loads(self.encoder.encode(records[0]))
        return json.loads(self.encoder.encode(nuclio_sdk.Response.from_entrypoint_output(self.encoder.encode, output)))

    def _error(self, prefix, exc):
        text = '{0} - "{1}": {2}'.format(prefix, exc, traceback.format_exc())
        self.context.logger.error_with(prefix, exc=str(exc), traceback=traceback.format_exc())
        return {"body": text, "body_encoding": "text", "content_type": "text/plain", "status_code": 500, "headers": {}}

    def terminate(self):
        self.run(self._terminate())

    async def _terminate(self):
        result = self.context.platform._on_signal(callback_type="termination")
        if asyncio.iscoroutine(result):
            await result


class Trigger(http.server.BaseHTTPRequestHandler):
    """The Go processor's HTTP trigger: request -> event record, response record -> HTTP."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    worker = None  # set on the subclass made in main()
    trigger_name = ""

    def do_GET(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        self._answer(self.worker.handle(msgpack.packb(self._record(body), use_bin_type=True)))

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format, *args):
        pass

    def _record(self, body):
        url = urllib.parse.urlsplit(self.path)
        headers = {}
        for name, value in self.headers.items():
            headers[canonical(name)] = value
        fields = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        return {
            "body": body, "content_type": headers.get("Content-Type", ""),
            "trigger": {"kind": "http", "name": self.trigger_name}, "fields": fields, "headers": headers,
            "id": str(uuid.uuid4()), "method": self.command, "path": urllib.parse.unquote(url.path) or "/",
            "size": len(body), "timestamp": int(time.time()), "url": "", "shard_id": 0, "num_shards": 0,
            "type": "", "type_version": "", "version": 0,
        }

    def _answer(self, record):
        status = record.get("status_code") or 200
        if record.get("body_encoding") == "base64":
            body = base64.b64decode(record.get("body") or "")
        else:
            body = (record.get("body") or "").encode("utf-8", "replace")
        self.send_response(status)
        self.send_header("Content-Type", record.get("content_type") or DEFAULT_CONTENT_TYPE)
        for name, value in (record.get("headers") or {}).items():
            if isinstance(value, str) and name.lower() not in _TRANSPORT and "\n" not in value:
                # Go writes the string's UTF-8 bytes; http.server writes Latin-1.
                self.send_header(canonical(name), value.encode("utf-8").decode("latin-1"))
        bodiless = status < 200 or status in (204, 304)
        if not bodiless:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not bodiless and self.command != "HEAD":
            self.wfile.write(body)


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Nuclio's Python runtime, emulated")
    parser.add_argument("--handler", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--platform-kind", default="local")
    parser.add_argument("--namespace", default="nuclio")
    parser.add_argument("--worker-id", default="0")
    parser.add_argument("--trigger-kind", default="http")
    parser.add_argument("--trigger-name", default="default-http")
    parser.add_argument("--decode-event-strings", action="store_true")
    return parser.parse_args(argv)


def write_ready(path, payload):
    tmp = "{0}.{1}.tmp".format(path, os.getpid())
    with open(tmp, "w") as handle:
        json.dump(payload, handle)
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(argv)
    logger = nuclio_sdk.Logger(logging.DEBUG)
    logger.set_handler("default", sys.stdout, nuclio_sdk.logger.JSONFormatter())
    logger.bind(worker_id=args.worker_id)
    try:
        worker = Worker(args, logger)
        worker.initialize()
    except BaseException as exc:
        logger.error_with("Caught unhandled exception while initializing", err=str(exc), traceback=traceback.format_exc())
        sys.stdout.flush()
        return 1
    trigger = type("HttpTrigger", (Trigger,), {"worker": worker, "trigger_name": args.trigger_name})
    server = http.server.ThreadingHTTPServer((args.host, args.port), trigger)
    server.daemon_threads = True

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logger.info_with("Processor started", handler=args.handler, port=server.server_address[1])
    write_ready(args.ready_file, {"pid": os.getpid(), "port": server.server_address[1], "host": args.host})
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        worker.terminate()
        server.server_close()
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
