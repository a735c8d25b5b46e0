"""The example, end to end: traffic, ``suggest --write``, ``apply``, and the order chain
(checkout -> payment -> notify) now answers in one process."""

from __future__ import annotations

import json

from testing.example import ORDER, Cli


def test_traffic_suggest_write_apply_and_the_chain_runs_in_process(cli: Cli) -> None:
    cli.ok("apply")
    body = json.dumps(ORDER)
    for _ in range(12):
        assert cli.ok("invoke", "checkout", "--body", body).json()["status"] == "confirmed"
    before = {(e["caller"], e["callee"]): e for e in cli.ok("traces", "-o", "json").json()["edges"]}
    assert before["checkout", "payment"]["local"] == 0 and before["checkout", "payment"]["sync"] == 12

    suggestion = cli.ok("suggest", "--write")
    assert "fuse checkout -> payment: 12 of 12 calls synchronous" in suggestion.out
    assert "-        tasks: [checkout, validate-order, price, inventory]" in suggestion.out
    assert "+        tasks: [checkout, validate-order, price, inventory, payment, notify]" in suggestion.out
    assert "tasks: [checkout, validate-order, price, inventory, payment, notify]" in cli.plan.read_text()
    cli.ok("validate")

    applied = cli.ok("apply").out
    assert "demo-storefront updated" in applied and "demo-billing deleted" in applied
    assert sorted(cli.functions()) == ["demo-storefront", "demo-taska-taskb"]
    assert cli.ok("invoke", "checkout", "--body", body).json()["status"] == "confirmed"
    after = {(e["caller"], e["callee"]): e for e in cli.ok("traces", "-o", "json").json()["edges"]}
    chain = [after["checkout", "payment"], after["payment", "notify"]]
    assert all(e["count"] == e["local"] == e["sync"] == 1 for e in chain)
    assert "No changes" in cli.ok("suggest").out
