"""The local platform's gateway and the functions' spec: the gateway's URL is given to a
function when its process starts, never hashed into its spec. So a gateway that died comes
back on its port with nothing redeployed, and one that had to move (its port was taken)
re-points the running functions, again with nothing redeployed, and calls between
functions keep routing."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from typing import Any, Dict, Iterator, List

import pytest

from fusionizer.platforms.local.processes import ProcessRef, alive
from fusionizer.platforms.local.store import Store
from testing.example import ORDER, Cli



def kill_gateway(store: Store) -> int:
    """SIGKILL the namespace's gateway (no clean-up of its own); returns the port it had."""
    state = store.read("run", "gateway")
    assert state is not None
    os.kill(int(state["pid"]), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while alive(ProcessRef.from_json(state)):
        assert time.monotonic() < deadline, "the killed gateway did not go away"
        time.sleep(0.01)
    return int(state["port"])


def function_pids(store: Store) -> Dict[str, int]:
    return {p.stem: json.loads(p.read_text())["pid"] for p in (store.root / "procs").glob("*.json")}


def applied_statuses(cli: Cli) -> List[str]:
    run = cli.ok("apply", "-o", "json").json()
    return sorted({o["status"] for o in run["outcomes"]})


def checkout_is_paid(cli: Cli) -> bool:
    # checkout (demo-storefront) calls payment (demo-billing) through the gateway.
    confirmed: Dict[str, Any] = json.loads(cli.ok("invoke", "checkout", "--body", json.dumps(ORDER)).out)
    return bool(confirmed["payment"]["status"] == "paid")


@pytest.fixture
def taken_port() -> Iterator[socket.socket]:
    holder = socket.socket()
    yield holder
    holder.close()


def test_a_dead_gateway_comes_back_on_its_port_and_nothing_is_restarted(cli: Cli) -> None:
    cli.ok("apply")
    store = Store("nuclio")
    pids = function_pids(store)
    port = kill_gateway(store)
    assert cli.ok("plan", "-o", "json").json()["summary"]["noop"] == 3
    assert not alive(ProcessRef.from_json(store.read("run", "gateway") or {}))  # plan started nothing
    assert applied_statuses(cli) == ["unchanged"]
    assert int(store.read("run", "gateway")["port"]) == port  # type: ignore[index]
    assert function_pids(store) == pids
    assert checkout_is_paid(cli)


def test_a_gateway_that_had_to_move_redeploys_nothing_and_calls_still_route(
        cli: Cli, taken_port: socket.socket) -> None:
    cli.ok("apply")
    store = Store("nuclio")
    revisions = {n: f["revision"] for n, f in cli.functions().items()}
    pids = function_pids(store)
    port = kill_gateway(store)
    taken_port.bind(("127.0.0.1", port))  # another program took it meanwhile
    taken_port.listen()

    assert cli.ok("plan", "-o", "json").json()["summary"]["noop"] == 3
    assert applied_statuses(cli) == ["unchanged"]  # no create, update or delete
    moved = int(store.read("run", "gateway")["port"])  # type: ignore[index]
    assert moved != port
    assert {n: f["revision"] for n, f in cli.functions().items()} == revisions
    restarted = function_pids(store)
    assert set(restarted) == set(pids) and all(restarted[n] != pids[n] for n in pids)  # re-pointed
    assert checkout_is_paid(cli)
    assert applied_statuses(cli) == ["unchanged"]  # and the next apply has nothing to do either
    assert function_pids(store) == restarted
