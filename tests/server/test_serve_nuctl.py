"""`serve` on the nuctl platform (the emulator): functions reach each other through it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from testing.example import ORDER, copy_example
from tests.nuctl.conftest import nuctl_emulator  # noqa: F401 - the fixture, shared
from tests.server.conftest import Serve, wait_for

pytestmark = pytest.mark.e2e


def test_checkout_reaches_payment_in_another_function_through_serve(
    nuctl_emulator: Any, tmp_path: Path, start_serve: Callable[..., Serve]  # noqa: F811
) -> None:
    plan = copy_example(tmp_path / "example")
    doc = yaml.safe_load(plan.read_text())
    doc["spec"]["platform"] = {"kind": "nuctl", "namespace": "nuclio", "nuctlPlatform": "local"}  # no serverUrl
    plan.write_text(yaml.safe_dump(doc))
    serve = start_serve(plan)

    def all_ready() -> bool:
        functions = serve.status()["functions"]
        return len(functions) == 3 and all(f["state"] == "ready" for f in functions)

    wait_for(all_ready, "the example deployed through nuctl", 120)
    for call in (c for c in nuctl_emulator.args() if c[0] == "deploy"):
        # serverUrl defaults to this server, given at deploy time
        assert f"FUSIONIZER_SERVER_URL=http://127.0.0.1:{serve.port}" in call, call

    answer = serve.invoke("checkout", ORDER)
    assert answer.status == 200, answer.text
    confirmed = answer.json()
    assert confirmed["status"] == "confirmed"
    assert confirmed["payment"]["status"] == "paid"
    assert confirmed["payment"]["notified"] is True  # payment -> notify, in-process in billing
    assert serve.invoke("taska").text == "8"
    metrics = serve.request("GET", "/-/metrics").text
    # checkout's call to payment came through this server.
    assert 'fusionizer_gateway_requests_total{status="200",task="payment"} 1.0' in metrics
    assert json.loads(json.dumps(serve.status()))["plan"] == "demo"
