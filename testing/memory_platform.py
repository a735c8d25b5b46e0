"""An in-memory implementation of the platform protocol, for measuring the reconciler alone.

It runs no code: deploys become records (after an optional simulated delay), and every
call is counted, so a benchmark can assert "exactly one list, zero deploys".
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Dict, FrozenSet, List, Optional

from fusionizer.errors import PlatformError
from fusionizer.platforms.base import (
    DEFAULT_NAMESPACE,
    FunctionRecord,
    FunctionSource,
    InvokeRequest,
    InvokeResponse,
    LogSink,
)


class MemoryPlatform:
    def __init__(self, namespace: str = DEFAULT_NAMESPACE, deploy_seconds: float = 0.0, failing: FrozenSet[str] = frozenset()):
        self.namespace = namespace
        self.deploy_seconds = deploy_seconds
        self.failing = failing
        self.records: Dict[str, FunctionRecord] = {}
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def list(self) -> List[FunctionRecord]:
        with self._lock:
            self.calls["list"] += 1
            return list(self.records.values())

    def deploy(self, source: FunctionSource, log: Optional[LogSink] = None) -> FunctionRecord:
        with self._lock:
            self.calls["deploy"] += 1
        if self.deploy_seconds:
            time.sleep(self.deploy_seconds)  # the simulated platform's own deploy latency
        if source.name in self.failing:
            raise PlatformError(f"deploy of {source.name} failed", "Error - simulated failure")
        meta = source.config.get("metadata") or {}
        record = FunctionRecord(source.name, self.namespace, dict(meta.get("labels") or {}),
                                dict(meta.get("annotations") or {}), "ready")
        with self._lock:
            self.records[source.name] = record
        return record

    def delete(self, name: str) -> None:
        with self._lock:
            self.calls["delete"] += 1
            self.records.pop(name, None)

    def invoke(self, function: FunctionRecord, task: str, request: InvokeRequest) -> InvokeResponse:
        raise PlatformError("the memory platform runs no code")

    def server_url(self) -> Optional[str]:
        return None
