"""Call traces from functions on (emulated) Nuclio: asked at their invocation URLs, answered
by the dispatcher under Nuclio's own Python wrapper, no server involved."""

from __future__ import annotations

import json
from typing import Any

from testing.example import Cli


def test_traces_are_collected_from_every_function_through_nuctl(cli: Cli, nuctl_emulator: Any) -> None:
    cli.ok("apply")
    assert cli.ok("invoke", "taska").out.strip() == "8"
    for _ in range(3):
        cli.ok("invoke", "price", "--body", '{"items": [{"sku": "book", "qty": 2}]}')
    traces = cli.ok("traces", "-o", "json").json()
    assert traces["functions"] == ["demo-billing", "demo-storefront", "demo-taska-taskb"]
    assert traces["unreachable"] == []
    edges = {(e["caller"], e["callee"]): (e["count"], e["local"], e["sync"]) for e in traces["edges"]}
    assert edges == {("price", "inventory"): (3, 3, 3), ("taska", "taskb"): (1, 1, 1)}
    assert {s["task"]: s["count"] for s in traces["served"]} == {"price": 3, "taska": 1}
    suggestion = json.loads(cli.ok("suggest", "-o", "json").out)
    assert suggestion["error"] is None and suggestion["changes"] == []  # 3 calls: below minCalls
