"""`serve` on the nuctl platform (the emulator): functions reach each other through it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from fusionizer.platforms.nuctl.runner import Completed
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
    serve = start_serve(plan, env={"FUSIONIZER_TOKEN": "t0k3n", "FUSIONIZER_SERVER_SECRET": "s3cret"})
    serve.auth = {"Authorization": "Bearer t0k3n"}

    def all_ready() -> bool:
        functions = serve.status()["functions"]
        return len(functions) == 3 and all(f["state"] == "ready" for f in functions)

    wait_for(all_ready, "the example deployed through nuctl", 120)
    for call in (c for c in nuctl_emulator.args() if c[0] == "deploy"):
        # serverUrl defaults to this server, given at deploy time with the server's secret
        assert f"FUSIONIZER_SERVER_URL=http://127.0.0.1:{serve.port}" in call, call
        assert "FUSIONIZER_SERVER_SECRET=s3cret" in call, call

    assert serve.invoke("checkout", ORDER).status == 401
    # checkout's call to payment needs no token: it proves it comes from one of the functions.
    answer = serve.invoke("checkout", ORDER, serve.auth)
    assert answer.status == 200, answer.text
    confirmed = answer.json()
    assert confirmed["status"] == "confirmed"
    assert confirmed["payment"]["status"] == "paid"
    assert confirmed["payment"]["notified"] is True  # payment -> notify, in-process in billing
    assert serve.invoke("taska", headers=serve.auth).text == "8"
    metrics = serve.request("GET", "/-/metrics").text
    # checkout's call to payment came through this server.
    assert 'fusionizer_gateway_requests_total{status="200",task="payment"} 1.0' in metrics
    assert serve.status()["plan"] == "demo"


def test_the_servers_secret_never_shows_in_nuctl_output() -> None:
    failed = Completed(("nuctl", "deploy", "f", "-e", "FUSIONIZER_SERVER_SECRET=s3cret", "-e", "A=b"), 1, "", "boom")
    assert "s3cret" not in failed.render()
    assert "FUSIONIZER_SERVER_SECRET=***" in failed.command() and "A=b" in failed.command()
