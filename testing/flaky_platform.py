"""A platform that fails or times out at random, for fault injection into the reconciler.

It wraps any platform (the in-memory one, the local one). Each ``list``, ``deploy`` and
``delete`` fails with probability ``rate``, in one of two ways, both drawn from the caller's
seeded generator:

- refused: it raises before the platform does anything;
- timed out: the platform does it, then it raises as a client that gave up waiting does
  (the change happened; the caller is told it failed).

It keeps every deploy and delete it was asked for and every fault it injected, so a test can
check what was touched and that each fault was reported. Draws are made under a lock, in
call order: with one deploy at a time (``parallel=1``) a seed replays the same faults.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterator, List, Optional, Tuple, TypeVar

from fusionizer.errors import PlatformError
from fusionizer.platforms.base import FunctionRecord, FunctionSource, InvokeRequest, InvokeResponse, LogSink, Platform

T = TypeVar("T")
REFUSED, TIMED_OUT = "refused", "timed out"


@dataclass(frozen=True)
class Fault:
    call: str  # list, deploy or delete
    function: str  # "" for a list
    kind: str  # REFUSED or TIMED_OUT

    @property
    def message(self) -> str:
        target = f" of {self.function}" if self.function else ""
        return f"simulated fault: {self.call}{target} {self.kind}"


class FlakyPlatform:
    def __init__(self, inner: Platform, rng: random.Random, rate: float) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.namespace = inner.namespace
        self.rng = rng
        self.rate = rate
        self.faults: List[Fault] = []
        self.touched: List[Tuple[str, str]] = []  # (deploy|delete, function), as asked
        self._lock = threading.Lock()

    def list(self) -> List[FunctionRecord]:
        return self._call("list", "", self.inner.list)

    def deploy(self, source: FunctionSource, log: Optional[LogSink] = None) -> FunctionRecord:
        return self._call("deploy", source.name, lambda: self.inner.deploy(source, log))

    def delete(self, name: str) -> None:
        self._call("delete", name, lambda: self.inner.delete(name))

    def invoke(self, function: FunctionRecord, task: str, request: InvokeRequest) -> InvokeResponse:
        return self.inner.invoke(function, task, request)

    def server_url(self) -> Optional[str]:
        return self.inner.server_url()

    def routes_calls(self) -> bool:
        return self.inner.routes_calls()

    def prepare(self) -> None:
        self.inner.prepare()

    def logs(self, name: str, since: Optional[datetime] = None, follow: bool = False) -> Iterator[str]:
        return self.inner.logs(name, since, follow)

    def _call(self, call: str, function: str, operation: Callable[[], T]) -> T:
        with self._lock:
            if function:
                self.touched.append((call, function))
            fault = Fault(call, function, self.rng.choice((REFUSED, TIMED_OUT))) \
                if self.rng.random() < self.rate else None
        if fault is None:
            return operation()
        if fault.kind == TIMED_OUT:
            operation()
        with self._lock:
            self.faults.append(fault)
        raise PlatformError(fault.message)
