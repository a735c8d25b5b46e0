"""Prometheus metrics of ``serve`` (``GET /-/metrics``), on a registry of its own.

Reconcile runs by result and their duration, changes carried out by action, gateway
requests by task and status, and their latency by task. Task labels are bounded: a path
naming no task the table knows is counted as ``-`` (a scanner cannot grow the series).
"""

from __future__ import annotations

from typing import Callable, Tuple

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from fusionizer.loop.reconciling import RunReport

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
UNKNOWN_TASK = "-"


class Metrics:
    def __init__(self, known_task: Callable[[str], bool]) -> None:
        self.registry = CollectorRegistry()
        self._known = known_task
        self.runs = Counter("fusionizer_reconcile_runs", "Reconcile runs by result.", ["result"],
                            registry=self.registry)
        self.run_seconds = Histogram("fusionizer_reconcile_duration_seconds", "Duration of reconcile runs.",
                                     registry=self.registry)
        self.changes = Counter("fusionizer_deploys", "Function changes carried out, by action.", ["action"],
                               registry=self.registry)
        self.requests = Counter("fusionizer_gateway_requests", "Requests forwarded by the gateway.",
                                ["task", "status"], registry=self.registry)
        self.latency = Histogram("fusionizer_gateway_request_duration_seconds",
                                 "Time from request to the end of the answer, through the gateway.", ["task"],
                                 buckets=_LATENCY_BUCKETS, registry=self.registry)

    def observe_run(self, report: RunReport) -> None:
        self.runs.labels(report.result).inc()
        self.run_seconds.observe(report.seconds)
        for action, count in report.done.items():
            self.changes.labels(action).inc(count)

    def observe_request(self, task: str, status: int, seconds: float) -> None:
        label = task if self._known(task) else UNKNOWN_TASK
        self.requests.labels(label, str(status)).inc()
        self.latency.labels(label).observe(seconds)

    def render(self) -> Tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
