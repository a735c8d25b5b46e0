"""Run an ``async def`` handler's coroutine to completion from synchronous code.

Nuclio's wrapper awaits a handler's coroutine on its own event loop. A fused function
hands the top-level coroutine to that loop unchanged (the dispatcher returns it), but an
in-process call between tasks happens inside synchronous code (``requests_session.post``
or ``call_function`` in the caller's handler) and must produce the answer before
returning. That is what :func:`run_sync` does:

- no loop running in this thread: run it on a loop owned by this thread (kept until the
  thread ends, so creating a loop is paid once per thread, not per call);
- a loop is running in this thread (the caller itself runs inside Nuclio's loop, which
  it is blocking right now): run it on a fresh loop in a helper thread and wait. The
  callee then runs on a different loop than its ``init_context`` did; loop-bound objects
  made there cannot be used by such nested calls (documented limitation).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Coroutine, List, Optional

_local = threading.local()


class _ThreadLoop:
    """An event loop owned by one thread, closed when the thread ends (threads come and go:
    the local processor serves each connection on its own)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def __del__(self) -> None:  # the thread's local data is dropped when it ends
        self.loop.close()


def _thread_loop() -> asyncio.AbstractEventLoop:
    owned: Optional[_ThreadLoop] = getattr(_local, "owned", None)
    if owned is None or owned.loop.is_closed():
        owned = _local.owned = _ThreadLoop()
    return owned.loop


def _in_helper_thread(coro: Coroutine[Any, Any, Any]) -> Any:
    outcome: List[Any] = []
    failure: List[BaseException] = []

    def run() -> None:
        try:
            outcome.append(asyncio.run(coro))
        except BaseException as exc:  # handed back to the waiting caller below
            failure.append(exc)

    helper = threading.Thread(target=run, name="fusionizer-async-call", daemon=True)
    helper.start()
    helper.join()
    if failure:
        raise failure[0]
    return outcome[0]


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """The coroutine's result (or exception), from synchronous code."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _thread_loop().run_until_complete(coro)
    return _in_helper_thread(coro)
