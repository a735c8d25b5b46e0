"""``fusionizer serve``'s HTTP side: the original Fusionizer API, operations, the gateway.

=================================  ===================================================
``PUT /{task}`` (``zip_file``)     deploy or redeploy a task from a zip; answers once it
                                   serves (or why not: 4xx, nothing changed)
``DELETE /{task}``                 remove a task (found through ``taskDirs``)
``GET /{task}``                    JSON: its function, the tasks fused with it, state, revision
``POST /{task}[/path]``, any other invoke the task (the gateway); ``GET /{task}/path`` too
``/-/healthz``, ``/-/status``      liveness; plan, revision, functions, last runs (and with
                                   ``--auto-optimize``, the live setup and the last periods)
``/-/traces``                      JSON: the plan's calls between tasks, aggregated per edge
``/-/metrics``                     Prometheus
``/-/webhook``                     GitHub / GitLab push deliveries trigger a reconcile
=================================  ===================================================

Calls between tasks (they carry ``Fusionizer-Hops``, set by the runtime) always go to the
gateway whatever their method: a task's ``DELETE`` to another task invokes it. With a
token configured, mutations, invocations from outside, ``/-/status`` and ``/-/traces`` need
``Authorization: Bearer TOKEN``; the namespace's functions prove themselves with the
caller token instead. On a git source, PUT and DELETE answer 409: git decides.

Starlette serves the API and ``/-/`` paths; invocations go straight to the gateway's
ASGI code, which is the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Optional

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from fusionizer.errors import PlanError
from fusionizer.gateway.app import Gateway, Message, Receive, Scope, Send
from fusionizer.loop.reconciling import RunReport
from fusionizer.optimize.collect import collect
from fusionizer.optimize.traces import stats_json
from fusionizer.plan.loader import load_plan
from fusionizer.platforms.base import ANNOTATION_APPLIED_AT, ANNOTATION_REVISION, FunctionRecord
from fusionizer.reconciler.state import RunResult
from fusionizer.runtime import trust
from fusionizer.server import uploads, webhooks
from fusionizer.server.control import Controller
from fusionizer.server.metrics import Metrics
from fusionizer.server.optimizing import AutoOptimizer
from fusionizer.sources.directory import DirectorySource

_HOPS = trust.HEADER_HOPS.lower().encode()
_API_METHODS = frozenset({"GET", "PUT", "DELETE"})


@dataclass(frozen=True)
class ServeSettings:
    token: Optional[str] = None
    webhook_secret: Optional[bytes] = None
    deploy_timeout: float = 900.0  # seconds a PUT/DELETE waits for its reconcile


class _TooLarge(Exception):
    pass


class _Answer(Exception):
    """Ends a request with an answer (raised from the blocking helpers)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Server:
    def __init__(self, controller: Controller, gateway: Gateway, metrics: Metrics, settings: ServeSettings,
                 optimizer: Optional[AutoOptimizer] = None) -> None:
        self.controller = controller
        self.gateway = gateway
        self.metrics = metrics
        self.settings = settings
        self.optimizer = optimizer
        self._mutations: Optional[asyncio.Lock] = None
        self.api = Starlette(routes=[Route("/{task}", self._task, methods=list(_API_METHODS))])
        self.ops = Starlette(routes=[
            Route("/-/healthz", self._healthz, methods=["GET"]),
            Route("/-/status", self._status, methods=["GET"]),
            Route("/-/traces", self._traces, methods=["GET"]),
            Route("/-/metrics", self._metrics, methods=["GET"]),
            Route("/-/webhook", self._webhook, methods=["POST"]),
        ])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.startswith("/-/"):
            app = self.gateway.operate if path == trust.PROOF_PATH else self.ops
            await app(scope, receive, send)
            return
        task, _, rest = path[1:].partition("/")
        if not rest and scope["method"] in _API_METHODS and not self._from_a_task(scope):
            await self.api(scope, _capped(receive, uploads.MAX_UPLOAD), send)
            return
        await self.gateway.forward(scope, receive, send, task, "/" + rest)

    def _from_a_task(self, scope: Scope) -> bool:
        return any(name == _HOPS for name, _ in scope["headers"]) or self.gateway.is_function(scope)

    # -- auth --------------------------------------------------------------------------------

    def _allowed(self, request: Request) -> bool:
        token = self.settings.token
        if token is None:
            return True
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())

    @staticmethod
    def _unauthorized() -> Response:
        return PlainTextResponse("this needs the bearer token (Authorization: Bearer ...)\n", 401,
                                 headers={"WWW-Authenticate": "Bearer"})

    # -- the original API ---------------------------------------------------------------------

    async def _task(self, request: Request) -> Response:
        task = request.path_params["task"]
        if not self._allowed(request):
            return self._unauthorized()
        try:
            uploads.check_task_name(task)
            if request.method == "GET":
                return self._info_response(task)
            if not isinstance(self.controller.source, DirectorySource):
                raise _Answer(409, f"the plan comes from git ({self.controller.source.describe()}): "
                                   f"git decides; push the change instead")
            if self._mutations is None:
                self._mutations = asyncio.Lock()
            async with self._mutations:
                if request.method == "PUT":
                    return await self._put(request, task)
                return await asyncio.to_thread(self._delete, task)
        except (_Answer, uploads.UploadError) as answer:
            return PlainTextResponse(f"{answer}\n", answer.status)

    async def _put(self, request: Request, task: str) -> Response:
        archive = await self._zip_field(request)
        try:
            return await asyncio.to_thread(self._deploy, task, archive)
        finally:
            archive.close()

    async def _zip_field(self, request: Request) -> IO[bytes]:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > uploads.MAX_UPLOAD:
            raise _Answer(413, f"upload over the limit of {uploads.MAX_UPLOAD} bytes")
        try:
            form = await request.form(max_files=1, max_fields=16)
        except _TooLarge:
            raise _Answer(413, f"upload over the limit of {uploads.MAX_UPLOAD} bytes") from None
        except Exception as exc:  # noqa: BLE001 - Starlette raises several kinds for bad multipart
            raise _Answer(400, f"bad multipart body: {exc}") from None
        field = form.get("zip_file")
        if not isinstance(field, UploadFile):
            await form.close()
            raise _Answer(400, "send the task as multipart form field 'zip_file' (a zip of its directory)")
        return field.file

    def _deploy(self, task: str, archive: IO[bytes]) -> Response:
        good = self._good()
        current = good.plan.tasks.get(task)
        placement = uploads.place(good.snapshot.plan_file, task, current.path if current else None)
        with _scratch() as scratch:
            staged = scratch / "new"
            uploads.unpack(archive, staged)
            self._apply(uploads.Swap(placement.directory, staged, scratch), f"PUT /{task}")
        return self._info_response(task)

    def _delete(self, task: str) -> Response:
        good = self._good()
        current = good.plan.tasks.get(task)
        if current is None:
            raise _Answer(404, f"task '{task}' is not in plan {good.plan.name}")
        placement = uploads.place(good.snapshot.plan_file, task, current.path)
        if placement.explicit:
            raise _Answer(409, f"task '{task}' is named in spec.tasks of {good.snapshot.plan_file.name}: "
                               f"remove it there")
        with _scratch() as scratch:
            self._apply(uploads.Swap(placement.directory, None, scratch), f"DELETE /{task}")
        return JSONResponse({"task": task, "deleted": True, "plan": good.plan.name})

    def _apply(self, swap: uploads.Swap, reason: str) -> None:
        """Put the change in the plan's tree, validate, reconcile; undone unless it serves."""
        swap.apply()
        try:
            load_plan(_plan_file(self.controller))
        except PlanError as e:
            swap.undo()
            errors = [d.render() for d in e.diagnostics if d.severity == "error"]
            raise _Answer(422, "the plan refuses this change; nothing changed:\n" + "\n".join(errors)) from None
        report = self.controller.reconcile(reason, self.settings.deploy_timeout)
        if report is not None and _serves(report):
            swap.commit()
            return
        swap.undo()
        self.controller.loop.trigger("manual", f"undo {reason}")
        if report is None:
            raise _Answer(504, f"the reconcile did not finish within {self.settings.deploy_timeout:g}s; undone")
        raise _Answer(422 if report.result == "invalid" else 502,
                      f"the change did not deploy ({report.result}); undone:\n{report.error}")

    def _good(self) -> Any:
        self.controller.first_run.wait(self.settings.deploy_timeout)
        good = self.controller.runner.good
        if good is None:
            raise _Answer(503, "no valid plan yet: the server is starting or the plan is invalid (see /-/status)")
        return good

    def _info_response(self, task: str) -> Response:
        info = self._info(task)
        if info is None:
            return PlainTextResponse(f"no task '{task}' in the plan or on the platform\n", 404)
        return JSONResponse(info)

    def _info(self, task: str) -> Optional[Dict[str, Any]]:
        good = self.controller.runner.good
        holders = [r for r in self.controller.plan_records() if task in r.tasks()]
        if not holders:
            if good is None or task not in good.plan.tasks:
                return None
            return {"task": task, "plan": good.plan.name, "function": None, "fusedWith": [], "tasks": [task],
                    "state": "not deployed", "revision": None}
        record = _newest(holders)
        return {
            "task": task, "plan": record.plan(), "function": record.name,
            "fusedWith": [t for t in record.tasks() if t != task], "tasks": list(record.tasks()),
            "state": record.state, "revision": record.annotations.get(ANNOTATION_REVISION),
        }

    # -- operations -----------------------------------------------------------------------------

    async def _healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def _status(self, request: Request) -> Response:
        if not self._allowed(request):
            return self._unauthorized()
        good = self.controller.runner.good
        return JSONResponse({
            "source": self.controller.source.describe(),
            "plan": good.plan.name if good else None,
            "revision": good.snapshot.revision if good else None,
            "platform": good.platform.namespace if good else None,
            "functions": [_function_json(r) for r in self.controller.plan_records()],
            "runs": [_run_json(r) for r in reversed(self.controller.runs)],
            **({"autoOptimize": self.optimizer.to_json()} if self.optimizer is not None else {}),
        })

    async def _traces(self, request: Request) -> Response:
        if not self._allowed(request):
            return self._unauthorized()
        good = self.controller.runner.good
        if good is None:
            return PlainTextResponse("no valid plan yet: the server is starting or the plan is invalid "
                                     "(see /-/status)\n", 503)
        records = [r for r in self.controller.plan_records() if r.serving]
        stats = await asyncio.to_thread(collect, good.platform, records)
        return JSONResponse({"plan": good.plan.name, **stats_json(stats)})

    async def _metrics(self, request: Request) -> Response:
        body, content_type = self.metrics.render()
        return Response(body, media_type=content_type)

    async def _webhook(self, request: Request) -> Response:
        secret = self.settings.webhook_secret
        if secret is None:
            return PlainTextResponse("webhooks are off: start serve with a webhook secret\n", 403)
        length = request.headers.get("content-length")
        if length is None or not length.isdigit():
            return PlainTextResponse("a webhook delivery needs a Content-Length\n", 411)
        if int(length) > webhooks.MAX_BODY:
            return PlainTextResponse(f"delivery over {webhooks.MAX_BODY} bytes\n", 413)
        body = await request.body()
        sender = webhooks.verify(secret, request.headers, body[: webhooks.MAX_BODY])
        if sender is None or len(body) > webhooks.MAX_BODY:
            return PlainTextResponse("signature missing or wrong\n", 401)
        self.controller.poke(sender)
        return PlainTextResponse("accepted\n", 202)



def _capped(receive: Receive, cap: int) -> Receive:
    """``receive`` that raises once more than ``cap`` body bytes arrived."""
    seen = [0]

    async def wrapped() -> Message:
        message = await receive()
        seen[0] += len(message.get("body", b""))
        if seen[0] > cap:
            raise _TooLarge()
        return message

    return wrapped


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    """A private directory for a swap's new and old task directories, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="fusionizer-upload-", ignore_cleanup_errors=True) as scratch:
        yield Path(scratch)


def _plan_file(controller: Controller) -> Path:
    source = controller.source
    assert isinstance(source, DirectorySource)  # mutations are refused on git sources
    return source.plan_file


def _serves(report: RunReport) -> bool:
    """The run applied the revision that holds the change, and it serves."""
    return report.result in (RunResult.OK, RunResult.IN_SYNC) and bool(report.revision) and report.serving == report.revision


def _newest(records: List[FunctionRecord]) -> FunctionRecord:
    serving = [r for r in records if r.serving] or records
    return max(serving, key=lambda r: (r.annotations.get(ANNOTATION_APPLIED_AT, ""), r.name))


def _function_json(record: FunctionRecord) -> Dict[str, Any]:
    return {"name": record.name, "tasks": list(record.tasks()), "state": record.state,
            "revision": record.annotations.get(ANNOTATION_REVISION), "message": record.message}


def _run_json(report: RunReport) -> Dict[str, Any]:
    return {"triggers": [str(t) for t in report.triggers], "result": report.result, "revision": report.revision,
            "serving": report.serving, "done": dict(report.done), "error": report.error,
            "seconds": round(report.seconds, 3)}

