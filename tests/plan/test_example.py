"""The example at the repository root: it validates cleanly, its setups are what the README
says, and its tasks actually work together.

The last tests run the example's handlers in a small in-process stand-in for a fused
deployment (each task imports its own ``util``; calls are routed by task name and recorded
as local or remote according to the setup), with responses encoded by the real
``nuclio_sdk.Response.from_entrypoint_output``. They check the EXAMPLE, not the runtime:
the runtime's own tests cover interception and fusion transparency.
"""

from __future__ import annotations

import ast
import importlib
import json
import logging
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, List, Optional, Tuple

import nuclio_sdk
import pytest

from fusionizer.plan.loader import check_plan, load_plan
from fusionizer.plan.model import Group, Plan
from fusionizer.plan.schedule import Setup, resolve_setup

REPO = Path(__file__).resolve().parents[2]
TODAY = datetime(2026, 6, 1, tzinfo=timezone.utc)
PIPELINE = ("checkout", "validate-order", "price", "inventory", "payment", "notify")


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_plan(REPO / "fusionizer.yaml", strict=True)


def test_the_example_validates_cleanly_even_when_strict():
    plan, diagnostics = check_plan(REPO / "fusionizer.yaml", strict=True)
    assert plan is not None and diagnostics == []


def test_tasks_and_runtimes(plan):
    assert list(plan.tasks) == sorted(PIPELINE + ("taska", "taskb"))
    assert plan.name == "demo" and plan.platform.kind == "local"
    assert {t.runtime for t in plan.tasks.values()} <= {"python:3.9", "python:3.11"}
    for task in plan.tasks.values():
        assert task.config["metadata"]["name"] == task.name


def test_default_setup_today_and_the_far_future_entry(plan):
    today = resolve_setup(plan, TODAY, TODAY)
    assert today.entry is None
    assert today.next_due == datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert today.groups == (
        Group(("checkout", "inventory", "price", "validate-order"), "storefront"),
        Group(("notify", "payment"), "billing"),
        Group(("taska", "taskb")),
    )
    later = resolve_setup(plan, TODAY, datetime(2030, 1, 1, tzinfo=timezone.utc))
    assert later.entry == 0 and later.next_due is None
    assert later.group_of("checkout") == later.group_of("notify") == Group(tuple(sorted(PIPELINE)), "shop")


def test_two_tasks_in_different_groups_have_their_own_main_and_util(plan):
    today = resolve_setup(plan, TODAY, TODAY)
    checkout, payment = plan.tasks["checkout"].path, plan.tasks["payment"].path
    assert today.group_of("checkout") != today.group_of("payment")
    for name in ("main.py", "util.py"):
        assert (checkout / name).read_text() != (payment / name).read_text()


def test_the_pipeline_uses_both_call_styles(plan):
    sources = "".join(_handler_file(plan, name).read_text() for name in plan.tasks)
    assert "requests_session.post(" in sources
    assert "context.platform.call_function(" in sources
    handlers = {name: _handler_arity(plan, name) for name in plan.tasks}
    assert handlers["checkout"] == 3 and handlers["validate-order"] == 2


def _handler_file(plan: Plan, name: str) -> Path:
    task = plan.tasks[name]
    return task.path / (task.handler.split(":")[0].replace(".", "/") + ".py")


def _handler_arity(plan: Plan, name: str) -> int:
    function = plan.tasks[name].handler.split(":")[1]
    tree = ast.parse(_handler_file(plan, name).read_text())
    (found,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function]
    return len(found.args.args)


# --- running the example ----------------------------------------------------------------


class Reply:
    """What requests' Response offers the example's tasks."""

    def __init__(self, status: int, content_type: str, body: str) -> None:
        self.status_code, self.headers, self.text = status, {"Content-Type": content_type}, body

    def json(self) -> Any:
        return json.loads(self.text)


class Fused:
    """Runs the example's tasks in-process, recording each call as local or remote."""

    SERVER = "127.0.0.1"

    def __init__(self, plan: Plan, setup: Setup) -> None:
        self.setup = setup
        self.handlers = {name: self._load(plan, name) for name in plan.tasks}
        self.calls: List[Tuple[str, str, bool]] = []  # (caller, callee, local?)
        self.stack: List[str] = []

    def _load(self, plan: Plan, name: str) -> Tuple[Any, Any]:
        """Import the task's handler module so that its `import util` finds its own util."""
        task = plan.tasks[name]
        own = {p.stem for p in task.path.glob("*.py")}
        for module in own:
            sys.modules.pop(module, None)
        sys.path.insert(0, str(task.path))
        bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # keep tasks/ clean
        try:
            loaded: ModuleType = importlib.import_module(task.handler.split(":")[0])
        finally:
            sys.dont_write_bytecode = bytecode
            sys.path.remove(str(task.path))
            for module in own:
                sys.modules.pop(module, None)
        context = nuclio_sdk.Context(logging.getLogger(f"task.{name}"), SimpleNamespace(call_function=self._call_function))
        context.logger.info_with = lambda *a, **k: None  # nuclio's logger API, silenced
        if hasattr(loaded, "init_context"):
            loaded.init_context(context)
        return getattr(loaded, task.handler.split(":")[1]), context

    def invoke(self, task: str, body: Any) -> Tuple[int, str, str]:
        caller = self.stack[-1] if self.stack else None
        if caller is not None:
            self.calls.append((caller, task, self.setup.group_of(caller) == self.setup.group_of(task)))
        handler, context = self.handlers[task]
        event = nuclio_sdk.Event(
            body=body, content_type="application/json", method="POST", path="/",
            headers={"Fusionizer-Server-Address": self.SERVER, "Fusionizer-Server-Url": f"http://{self.SERVER}:8000"},
        )
        self.stack.append(task)
        try:
            args = (context, event, self) if handler.__code__.co_argcount == 3 else (context, event)
            out = nuclio_sdk.Response.from_entrypoint_output(json.dumps, handler(*args))
        finally:
            self.stack.pop()
        return out["status_code"], out["content_type"], out["body"]

    # requests_session.post, as the tasks use it
    def post(self, url: str, json: Optional[Any] = None, **_: Any) -> Reply:
        assert url.startswith((f"http://{self.SERVER}:8000/",)), url
        return Reply(*self.invoke(url.rsplit("/", 1)[1], json))

    def _call_function(self, name: str, event: Any) -> Any:
        status, content_type, body = self.invoke(name, event.body)
        parsed = __import__("json").loads(body) if content_type == "application/json" else body
        return nuclio_sdk.Response(body=parsed, content_type=content_type, status_code=status)


ORDER = {
    "order_id": "o-1001",
    "customer": {"email": "ada@example.com"},
    "items": [{"sku": "book", "qty": 2}, {"sku": "pen", "qty": 10}],
    "card": "4242424242424242",
}


@pytest.fixture
def fused(plan: Plan) -> Fused:
    return Fused(plan, resolve_setup(plan, TODAY, TODAY))


def test_checkout_confirms_an_order_through_the_whole_pipeline(fused):
    status, content_type, body = fused.invoke("checkout", ORDER)
    assert (status, content_type) == (200, "application/json")
    result = json.loads(body)
    # 2 books at 12.50 + 10 pens at 1.99 with 10% off (17.91) = 42.91
    assert result["status"] == "confirmed" and result["total"] == "42.91 EUR"
    assert result["payment"]["status"] == "paid" and result["payment"]["card"].endswith("4242")
    assert result["payment"]["notified"] is True
    assert fused.calls == [
        ("checkout", "validate-order", True),
        ("checkout", "price", True),
        ("price", "inventory", True),  # context.platform.call_function
        ("checkout", "payment", False),  # crosses functions: through the server
        ("payment", "notify", True),
    ]


@pytest.mark.parametrize("change, status, words", [
    ({"items": []}, 422, "the order has no items"),
    ({"items": [{"sku": "poster", "qty": 1}]}, 409, "out of stock"),
    ({"items": [{"sku": "sofa", "qty": 1}]}, 404, "unknown items"),
    ({"card": "4242424242424241"}, 402, "invalid card number"),
])
def test_checkout_rejects_what_it_should(fused, change, status, words):
    code, _, body = fused.invoke("checkout", {**ORDER, **change})
    assert code == status
    assert words in body


def test_in_the_far_future_every_pipeline_call_is_local(plan):
    fused = Fused(plan, resolve_setup(plan, TODAY, datetime(2030, 6, 1, tzinfo=timezone.utc)))
    fused.invoke("checkout", ORDER)
    assert all(local for _, _, local in fused.calls)


def test_taska_calls_taskb_and_returns_its_text(fused):
    assert fused.invoke("taskb", {"value1": 5, "value2": 3}) == (200, "text/plain", "8")
    assert fused.invoke("taska", None) == (200, "text/plain", "8")
    assert fused.calls == [("taska", "taskb", True)]


def test_each_task_got_its_own_util(fused):
    checkout_util = fused.handlers["checkout"][0].__globals__["util"]
    payment_util = fused.handlers["payment"][0].__globals__["util"]
    price_util = fused.handlers["price"][0].__globals__["util"]
    assert hasattr(checkout_util, "format_money") and hasattr(payment_util, "luhn_ok")
    assert hasattr(price_util, "PRICE_CENTS") and checkout_util is not price_util
    # The stand-in leaves no task module in the process-wide module table.
    assert "util" not in sys.modules
