"""Waiting in tests and benchmarks: poll a condition with a deadline, never sleep for a result."""

from __future__ import annotations

import time
from typing import Callable


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
