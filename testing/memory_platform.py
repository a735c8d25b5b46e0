"""An in-memory implementation of the platform protocol, for the reconciler alone.

It runs no code: deploys become records (after an optional simulated delay), and every call
is counted and logged in order, so a test or a benchmark can assert "exactly one list, zero
deploys", "every delete came after every deploy", or how many deploys ran at once. A test
can hold deploys at a ``gate`` and wait until a number of them are in flight.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime
from typing import Dict, FrozenSet, Iterator, List, Optional, Tuple

from fusionizer.errors import PlatformError
from fusionizer.platforms.base import (
    DEFAULT_NAMESPACE,
    FunctionRecord,
    FunctionSource,
    InvokeRequest,
    InvokeResponse,
    LogSink,
    spec_env,
)
from fusionizer.runtime.layout import ENV_SERVER_URL

GATE_TIMEOUT = 30.0  # a held deploy fails after this long instead of hanging the test run


class MemoryPlatform:
    kind = "local"  # it stands in for the platform a plan names by default: histories file it so

    def __init__(self, namespace: str = DEFAULT_NAMESPACE, deploy_seconds: float = 0.0, failing: FrozenSet[str] = frozenset(),
                 gate: Optional[threading.Event] = None, server: Optional[str] = None):
        self.namespace = namespace
        self.deploy_seconds = deploy_seconds
        self.failing = failing
        self.gate = gate  # when set, each deploy waits for it before it completes
        self.server = server  # given to each deploy in spec.env, as nuctl's -e does
        self.records: Dict[str, FunctionRecord] = {}
        self.log_lines: Dict[str, List[str]] = {}  # what logs() answers, by function
        self.calls: Counter[str] = Counter()
        self.events: List[Tuple[str, str]] = []  # (call, function) in the order they happened
        self.in_flight = 0
        self.max_in_flight = 0
        self._cond = threading.Condition()

    def list(self) -> List[FunctionRecord]:
        with self._cond:
            self._log("list")
            return list(self.records.values())

    def deploy(self, source: FunctionSource, log: Optional[LogSink] = None) -> FunctionRecord:
        with self._cond:
            self._log("deploy", source.name)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._cond.notify_all()
        try:
            return self._deploy(source)
        finally:
            with self._cond:
                self.in_flight -= 1
                self._cond.notify_all()

    def delete(self, name: str) -> None:
        with self._cond:
            self._log("delete", name)
            self.records.pop(name, None)

    def invoke(self, function: FunctionRecord, task: str, request: InvokeRequest) -> InvokeResponse:
        raise PlatformError("the memory platform runs no code")

    def server_url(self) -> Optional[str]:
        return self.server

    def routes_calls(self) -> bool:
        return self.server is not None

    def prepare(self) -> None:
        with self._cond:
            self._log("prepare")

    def logs(self, name: str, since: Optional[datetime] = None, follow: bool = False) -> Iterator[str]:
        return iter(self.log_lines.get(name, []))

    # -- for tests -------------------------------------------------------------------

    def wait_in_flight(self, count: int, timeout: float) -> bool:
        """Wait until exactly ``count`` deploys are in flight; False at the deadline."""
        with self._cond:
            return self._cond.wait_for(lambda: self.in_flight == count, timeout)

    def order(self, *calls: str) -> List[Tuple[str, str]]:
        """The logged events of these kinds, in order."""
        return [event for event in self.events if event[0] in calls]

    # -- internals -------------------------------------------------------------------

    def _deploy(self, source: FunctionSource) -> FunctionRecord:
        if self.deploy_seconds:
            time.sleep(self.deploy_seconds)  # the simulated platform's own deploy latency
        if self.gate is not None and not self.gate.wait(GATE_TIMEOUT):
            raise PlatformError(f"deploy of {source.name} was held at the gate for {GATE_TIMEOUT:g}s")
        if source.name in self.failing:
            raise PlatformError(f"deploy of {source.name} failed", "Error - simulated failure")
        meta = dict(source.config.get("metadata") or {})
        spec = dict(source.config.get("spec") or {})
        if self.server and spec_env(spec, ENV_SERVER_URL) is None:
            spec["env"] = [*(spec.get("env") or []), {"name": ENV_SERVER_URL, "value": self.server}]
        raw = {"metadata": {**meta, "namespace": self.namespace}, "spec": spec, "status": {"state": "ready"}}
        record = FunctionRecord.from_nuctl(raw)
        with self._cond:
            self.records[source.name] = record
            self._log("deployed", source.name)
        return record

    def _log(self, call: str, function: str = "") -> None:
        self.calls[call] += 1
        self.events.append((call, function))
