"""Benchmark: task-to-task calls in-process (fused) vs over loopback HTTP.

    python bench/bench_calls.py [--rounds 5] [--quick]

Builds a fused function with a chain of tasks t1 -> t2 -> t3 -> t4 and serves it with the
local processor (``python -m fusionizer.runtime.processor``). A driver task, inside the
function process, runs the chain many times per call style and reports the time per
task-to-task call:

- plain Python call: the same chain as ordinary function calls (the floor);
- in-process, ``requests_session.post("http://{addr}:8000/<task>", json=...)``;
- in-process, ``context.platform.call_function("<task>", event)``;
- ``requests.Session.post`` through a canned adapter (no network): what ``requests``
  costs before anything is sent, i.e. what interception avoids;
- loopback HTTP: each task posts to the processor's own URL (not intercepted), so every
  hop is a real HTTP request through the local processor.

Prints one table from one run: microseconds per call (best round), speed-up over HTTP and
overhead over a plain Python call. Total runtime stays well under a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Dict, List, Tuple

import requests

import fusionizer.runtime
from fusionizer.runtime import layout

CHAIN = ["t1", "t2", "t3", "t4"]
HOPS = len(CHAIN)  # driver->t1, t1->t2, t2->t3, t3->t4

HOP_TASK = """
import nuclio_sdk

NEXT = {next!r}

def handler(context, event, requests_session):
    body = event.body
    if NEXT is None:
        return {{"leaf": True, "seen": body["seen"] + 1}}
    forward = {{"mode": body["mode"], "url": body["url"], "seen": body["seen"] + 1}}
    mode = body["mode"]
    if mode == "session":
        addr = event.headers["Fusionizer-Server-Address"]
        return requests_session.post(f"http://{{addr}}:8000/{{NEXT}}", json=forward).json()
    if mode == "platform":
        event_out = nuclio_sdk.Event(body=forward, method="POST")
        return context.platform.call_function(NEXT, event_out).body
    # "http": a real HTTP request to this same function, not intercepted
    return requests_session.post(body["url"], json=forward, headers={{"Task-Name": NEXT}}).json()
"""

DRIVER_TASK = """
import time
import nuclio_sdk
import requests
import requests.adapters

def _plain_leaf(body):
    return {"leaf": True, "seen": body["seen"] + 1}

def _plain_hop(body, rest):
    forward = {"mode": body["mode"], "url": body["url"], "seen": body["seen"] + 1}
    if not rest:
        return _plain_leaf(body)
    return rest[0](forward, rest[1:])

PLAIN_CHAIN = [_plain_hop, _plain_hop, _plain_hop, _plain_hop]


class CannedAdapter(requests.adapters.BaseAdapter):
    # Answers without a network: measures requests' own preparation and dispatch.
    def send(self, request, **kwargs):
        response = requests.Response()
        response.status_code = 200
        response._content = b'{"leaf": true}'
        response.headers["Content-Type"] = "application/json"
        response.request = request
        response.url = request.url
        return response

    def close(self):
        pass


def handler(context, event, requests_session):
    body = event.body
    mode, n = body["mode"], body["n"]
    start_body = {"mode": mode, "url": body["url"], "seen": 0}
    addr = event.headers["Fusionizer-Server-Address"]
    if mode == "plain":
        begin = time.perf_counter()
        for _ in range(n):
            result = PLAIN_CHAIN[0](start_body, PLAIN_CHAIN[1:])
        elapsed = time.perf_counter() - begin
        return {"elapsed": elapsed, "calls": n * 4, "last": result}
    if mode == "requests":
        session = requests.Session()
        session.mount("http://", CannedAdapter())
        begin = time.perf_counter()
        for _ in range(n):
            result = session.post("http://canned.invalid/t1", json=start_body).json()
        elapsed = time.perf_counter() - begin
        return {"elapsed": elapsed, "calls": n, "last": result}
    begin = time.perf_counter()
    for _ in range(n):
        if mode == "platform":
            result = context.platform.call_function("t1", nuclio_sdk.Event(body=start_body, method="POST")).body
        elif mode == "session":
            result = requests_session.post(f"http://{addr}:8000/t1", json=start_body).json()
        else:
            result = requests_session.post(body["url"], json=start_body, headers={"Task-Name": "t1"}).json()
    elapsed = time.perf_counter() - begin
    return {"elapsed": elapsed, "calls": n * 4, "last": result}
"""


def build(root: Path) -> Path:
    """The fused function dir, laid out as the builder writes it."""
    root.mkdir(parents=True)
    shutil.copytree(Path(fusionizer.runtime.__file__).parent, root / layout.RUNTIME_PACKAGE,
                    ignore=shutil.ignore_patterns("__pycache__"))
    (root / f"{layout.ENTRY_MODULE}.py").write_text(layout.ENTRY_SOURCE)
    tasks: Dict[str, str] = {"driver": textwrap.dedent(DRIVER_TASK)}
    for index, name in enumerate(CHAIN):
        following = CHAIN[index + 1] if index + 1 < len(CHAIN) else None
        tasks[name] = HOP_TASK.format(next=following)
    manifest = {"plan": "bench", "function": "bench-calls",
                "tasks": {name: {"dir": f"tasks/{name}", "handler": "main:handler"} for name in tasks}}
    (root / layout.MANIFEST).write_text(json.dumps(manifest))
    (root / "function.yaml").write_text(json.dumps({"spec": {"handler": layout.ENTRY_HANDLER}}))
    for name, source in tasks.items():
        (root / "tasks" / name).mkdir(parents=True)
        (root / "tasks" / name / "main.py").write_text(source)
    return root


def start(directory: Path, work: Path) -> Tuple["subprocess.Popen[bytes]", str]:
    ready = work / "ready.json"
    env = dict(os.environ, FUSIONIZER_SERVER_URL="http://127.0.0.1:9")  # nothing listens there
    with open(work / "processor.log", "wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "fusionizer.runtime.processor", str(directory), "--port", "0",
             "--ready-file", str(ready)], stdout=log, stderr=subprocess.STDOUT, cwd=str(work), env=env,
        )
    deadline = time.monotonic() + 30
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise SystemExit(f"processor did not start:\n{(work / 'processor.log').read_text()}")
        time.sleep(0.01)  # polling for the ready file, with a deadline
    info = json.loads(ready.read_text())
    return process, f"http://127.0.0.1:{info['port']}"


def stop(process: "subprocess.Popen[bytes]") -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait(10)


def measure(session: requests.Session, url: str, mode: str, n: int, rounds: int) -> float:
    """Best-of-rounds microseconds per task-to-task call."""
    body = {"mode": mode, "n": n, "url": url}
    run = lambda count: session.post(url, json={**body, "n": count}, headers={"Task-Name": "driver"}, timeout=120)
    warm = run(max(1, n // 10))
    if warm.status_code != 200:
        raise SystemExit(f"{mode}: {warm.status_code} {warm.text[:2000]}")
    best = float("inf")
    for _ in range(rounds):
        out = run(n).json()
        expected = {"leaf": True} if mode == "requests" else {"leaf": True, "seen": HOPS}
        if out["last"] != expected:
            raise SystemExit(f"{mode}: wrong chain result {out['last']}")
        best = min(best, out["elapsed"] / out["calls"] * 1e6)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    plan = [
        ("plain Python call (floor)", "plain", 20000 // scale),
        ("in-process: requests_session.post", "session", 2000 // scale),
        ("in-process: platform.call_function", "platform", 2000 // scale),
        ("requests.Session.post, canned adapter", "requests", 2000 // scale),
        ("loopback HTTP via local processor", "http", 300 // scale),
    ]
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-calls-") as tmp:
        work = Path(tmp)
        process, url = start(build(work / "fn"), work)
        try:
            with requests.Session() as session:
                results = {mode: measure(session, url, mode, n, args.rounds) for _, mode, n in plan}
        finally:
            stop(process)
    print_table(plan, results)
    print(f"\n{HOPS} task-to-task calls per chain; best of {args.rounds} rounds; "
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; total {time.monotonic() - began:.1f} s")
    return 0


def print_table(plan: List[Tuple[str, str, int]], results: Dict[str, float]) -> None:
    http, plain = results["http"], results["plain"]
    rows = [("call style", "us/call", "x faster than HTTP", "overhead vs plain call")]
    for label, mode, _ in plan:
        value = results[mode]
        speedup = "1.0x" if mode == "http" else f"{http / value:,.1f}x"
        overhead = "-" if mode == "plain" else f"+{value - plain:,.1f} us"
        rows.append((label, f"{value:,.2f}", speedup, overhead))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)))
        if index == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    sys.exit(main())
