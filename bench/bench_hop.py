"""Benchmark: one hop between two functions on the local platform, old call path vs new.

    python bench/bench_hop.py [--calls 400] [--rounds 5]

Deploys a plan of two functions on the embedded local platform (a fresh FUSIONIZER_HOME):
``caller`` and ``callee`` in different functions, so every call goes caller -> the
namespace's gateway -> callee and back. The caller task times its own calls from inside
its function process, for each way of calling, in one run:

- new ``requests_session.post("http://{addr}:8000/callee", json=...)``: the runtime's
  routed call (the process-wide keep-alive pool, no per-call environment scan);
- new ``context.platform.call_function("callee", event)``: the same pool;
- old ``requests_session``: what the runtime did before, a plain ``requests.Session`` post
  to the server URL with the Fusionizer headers (requests' own pool and per-call
  environment scan);
- old ``call_function``: a new ``http.client`` connection per call to the server, as before;
- direct: the callee's own port over a kept-alive ``http.client`` connection, no gateway
  (the floor for an HTTP hop).

Prints microseconds per call (the best round's mean: the least disturbed by other work on
the machine; rounds interleave the modes) and old/new ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Dict, List, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import requests  # noqa: E402
import yaml  # noqa: E402

from fusionizer.plan.loader import load_plan  # noqa: E402
from fusionizer.platforms.local.platform import LocalPlatform  # noqa: E402
from fusionizer.reconciler.reconcile import apply, owned  # noqa: E402
from testing.local import stop_local_processes  # noqa: E402

CALLEE = """
def handler(context, event):
    return {"n": event.body["n"] + 1}
"""

CALLER = """
import http.client
import json
import time

import nuclio_sdk
import requests

PLAIN = requests.Session()  # the old path: requests' own pool, environment read per call
DIRECT = {}


def old_call_function(url, body, headers):
    # What call_function did before: a new connection per call to the server.
    host = url.split("//", 1)[1]
    connection = http.client.HTTPConnection(host)
    try:
        connection.request("POST", "/callee", body=json.dumps(body),
                           headers={**headers, "Content-Type": "application/json", "Task-Name": "callee",
                                    "X-Nuclio-Target": "callee"})
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


def direct(port, body):
    connection = DIRECT.get(port) or http.client.HTTPConnection("127.0.0.1", port)
    DIRECT[port] = connection
    connection.request("POST", "/", body=json.dumps(body),
                       headers={"Content-Type": "application/json", "Task-Name": "callee"})
    return json.loads(connection.getresponse().read())


def handler(context, event, requests_session):
    mode, n = event.body["mode"], event.body["n"]
    addr = event.headers["Fusionizer-Server-Address"]
    url = event.headers["Fusionizer-Server-Url"]
    fz = {"Fusionizer-Server-Address": addr, "Fusionizer-Server-Url": url, "Fusionizer-Plan": "hop"}
    body = {"n": 1}
    begin = time.perf_counter()
    for _ in range(n):
        if mode == "new-session":
            out = requests_session.post(f"http://{addr}:8000/callee", json=body).json()
        elif mode == "new-platform":
            out = context.platform.call_function("callee", nuclio_sdk.Event(body=body, method="POST")).body
        elif mode == "old-session":
            out = PLAIN.post(f"{url}/callee", json=body, headers=fz).json()
        elif mode == "old-platform":
            out = old_call_function(url, body, fz)
        else:
            out = direct(event.body["port"], body)
        assert out == {"n": 2}, out
    return {"us": (time.perf_counter() - begin) / n * 1e6}
"""

MODES: List[Tuple[str, str]] = [
    ("direct: callee's port, kept-alive http.client (no gateway)", "direct"),
    ("old requests_session (requests, env scan per call)", "old-session"),
    ("new requests_session (shared keep-alive pool)", "new-session"),
    ("old call_function (new connection per call)", "old-platform"),
    ("new call_function (shared keep-alive pool)", "new-platform"),
]


def write_plan(root: Path) -> Path:
    for name, source in (("caller", CALLER), ("callee", CALLEE)):
        task = root / "tasks" / name
        task.mkdir(parents=True)
        (task / "main.py").write_text(textwrap.dedent(source))
        spec = {"runtime": "python:3.11", "handler": "main:handler"}
        (task / "function.yaml").write_text(yaml.safe_dump({"metadata": {"name": name}, "spec": spec}))
    plan = {"apiVersion": "fusionizer.io/v1", "kind": "FusionPlan", "metadata": {"name": "hop"},
            "spec": {"platform": {"kind": "local", "namespace": "bench-hop"}, "taskDirs": ["tasks"],
                     "fusion": {"groups": [["caller"], ["callee"]]}}}
    (root / "fusionizer.yaml").write_text(yaml.safe_dump(plan))
    return root / "fusionizer.yaml"


def measure(home: Path, calls: int, rounds: int) -> Dict[str, float]:
    plan = load_plan(write_plan(home / "plan"))  # goes with the benchmark's home
    platform = LocalPlatform("bench-hop")
    result = apply(plan, platform, "bench")
    assert result.ok, [o.detail for o in result.failures]
    records = owned(platform.list(), plan.name)
    caller = next(r for r in records.values() if "caller" in r.tasks())
    callee = next(r for r in records.values() if "callee" in r.tasks())
    url = f"http://127.0.0.1:{caller.http_port}/"
    samples: Dict[str, List[float]] = {mode: [] for _, mode in MODES}
    with requests.Session() as session:
        def run(mode: str, n: int) -> float:
            answer = session.post(url, json={"mode": mode, "n": n, "port": callee.http_port},
                                  headers={"Task-Name": "caller"}, timeout=300)
            assert answer.status_code == 200, answer.text
            return float(answer.json()["us"])

        for _, mode in MODES:
            run(mode, max(10, calls // 10))  # warm-up: imports, connections, gateway routes
        for _ in range(rounds):  # interleaved, so load on the machine hits every mode alike
            for _, mode in MODES:
                samples[mode].append(run(mode, calls))
    return {mode: min(values) for mode, values in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=400, help="calls per round and mode")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-hop-home-") as home:
        os.environ["FUSIONIZER_HOME"] = home
        try:
            results = measure(Path(home), args.calls, args.rounds)
        finally:
            stop_local_processes(Path(home))
    width = max(len(label) for label, _ in MODES)
    print(f"{'one hop between two functions (caller -> gateway -> callee)':<{width}}  us/call")
    print(f"{'-' * width}  -------")
    for label, mode in MODES:
        print(f"{label:<{width}}  {results[mode]:7.1f}")
    print(f"\nold/new: requests_session {results['old-session'] / results['new-session']:.2f}x, "
          f"call_function {results['old-platform'] / results['new-platform']:.2f}x")
    print(f"{args.calls} calls x {args.rounds} rounds per mode (best round); python "
          f"{sys.version.split()[0]}, {os.cpu_count()} CPUs; total {time.monotonic() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
