"""Races a fused function meets when requests arrive together, in-process: lazy imports of
same-named task modules, and the first requests of a host that never called init_context."""

from __future__ import annotations

import json
import logging
import sys
import textwrap
import threading
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List

import nuclio_sdk
import pytest

from fusionizer.runtime.dispatcher import Dispatcher, Manifest
from fusionizer.runtime.isolation import ModuleIsolation, TaskDir

# Long enough that a thread is surely blocked on the import; it is set far sooner.
WAIT_S = 10.0


@pytest.fixture
def gate() -> Iterator[Dict[str, threading.Event]]:
    """Events task code waits on while it is being imported or initialised (reached via sys)."""
    events = {"entered": threading.Event(), "release": threading.Event()}
    setattr(sys, "_fz_test_gate", events)
    yield events
    events["release"].set()
    delattr(sys, "_fz_test_gate")


@pytest.fixture
def two_tasks(tmp_path: Path) -> Iterator[Dict[str, Any]]:
    """Tasks t1 and t2 that both define ``slow_<id>`` (imported lazily, slowly) and a
    ``main_<id>`` whose ``get()`` imports it; the isolation is undone afterwards."""
    suffix = uuid.uuid4().hex[:8]
    slow, main = f"slow_{suffix}", f"main_{suffix}"
    for task in ("t1", "t2"):
        (tmp_path / task).mkdir()
        (tmp_path / task / f"{slow}.py").write_text(textwrap.dedent(f"""
            import sys
            gate = sys._fz_test_gate
            gate["entered"].set()
            gate["release"].wait({WAIT_S})
            VALUE = "{task}"
        """))
        (tmp_path / task / f"{main}.py").write_text(f"def get():\n    import {slow}\n    return {slow}.VALUE\n")
    isolation = ModuleIsolation([TaskDir(t, str(tmp_path / t)) for t in ("t1", "t2")])
    modules = {task: isolation.load(task, main) for task in ("t1", "t2")}
    isolation.install()
    yield modules
    isolation.uninstall()
    for name in (slow, main):
        sys.modules.pop(name, None)


def _run(get: Any, into: List[Any]) -> threading.Thread:
    def target() -> None:
        try:
            into.append(get())
        except Exception as exc:  # reported through the list, asserted below
            into.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_a_module_being_imported_lazily_is_not_handed_out_half_made(
    two_tasks: Dict[str, Any], gate: Dict[str, threading.Event]
) -> None:
    first: List[Any] = []
    second: List[Any] = []
    loading = _run(two_tasks["t1"].get, first)
    assert gate["entered"].wait(WAIT_S)  # t1's module code is running now
    waiting = _run(two_tasks["t1"].get, second)
    waiting.join(0.2)
    assert waiting.is_alive()  # it waits for the import instead of using the half-made module
    gate["release"].set()
    loading.join(WAIT_S)
    waiting.join(WAIT_S)
    assert first == second == ["t1"]


def test_each_task_gets_its_own_module_of_a_shared_name(
    two_tasks: Dict[str, Any], gate: Dict[str, threading.Event]
) -> None:
    gate["release"].set()
    results: Dict[str, List[Any]] = {"t1": [], "t2": []}
    threads = [_run(two_tasks[task].get, results[task]) for task in ("t1", "t2", "t1", "t2")]
    for thread in threads:
        thread.join(WAIT_S)
    assert results == {"t1": ["t1", "t1"], "t2": ["t2", "t2"]}


def test_first_requests_together_run_init_context_once(tmp_path: Path, gate: Dict[str, threading.Event]) -> None:
    main = f"main_{uuid.uuid4().hex[:8]}"
    (tmp_path / "tasks" / "a").mkdir(parents=True)
    (tmp_path / "tasks" / "a" / f"{main}.py").write_text(textwrap.dedent(f"""
        import sys
        INITS = []
        async def init_context(context):
            INITS.append(1)
            sys._fz_test_gate["entered"].set()
            sys._fz_test_gate["release"].wait({WAIT_S})
        def handler(context, event):
            return len(INITS)
    """))
    manifest = {"tasks": {"a": {"dir": "tasks/a", "handler": f"{main}:handler"}}}
    (tmp_path / "fusion.json").write_text(json.dumps(manifest))
    dispatcher = Dispatcher(Manifest.read(str(tmp_path)), environ={})
    context = nuclio_sdk.Context(nuclio_sdk.Logger(logging.ERROR), nuclio_sdk.Platform("local"), 0)
    try:
        def serve() -> Any:  # a host that never called init_context: the first request does
            return dispatcher.handler(context, nuclio_sdk.Event(headers={"Task-Name": "a"}))

        first: List[Any] = []
        second: List[Any] = []
        initialising = _run(serve, first)
        assert gate["entered"].wait(WAIT_S)
        waiting = _run(serve, second)
        waiting.join(0.2)
        gate["release"].set()
        initialising.join(WAIT_S)
        waiting.join(WAIT_S)
        assert first == second == [1]
    finally:
        dispatcher._isolation.uninstall()
        sys.modules.pop(main, None)
