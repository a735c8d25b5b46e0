"""Benchmark: the gateway's cost over calling a function directly, side by side.

    python bench/bench_gateway.py [--seconds 3]

One run, on this machine, everything on 127.0.0.1:

- a trivial task ("ok") deployed on the local platform (its own processor process), and
  the namespace's gateway process in front of it;
- a bare uvicorn app (the same answer) as the reference HTTP server.

For each target it reports latency (p50, p99) with one keep-alive client and requests/s
with 1, 8 and 32 keep-alive clients (asyncio clients on uvloop in a separate process, so
the client's own cost is the same for all targets). Then, through the gateway:

- **redeploy**: 32 clients keep calling while the task is redeployed 3 times; every
  failed request (not a 200 with the expected body) is counted;
- **burst**: 200 connections opened at once, one request each, against the gateway in
  front of a bare uvicorn app (a function with a real backlog); all must be answered
  within 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from testing.plans import discovering_plan, write_task  # noqa: E402 - after the path is set

BARE_APP = '''
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})
'''



# -- the client (run in its own process: python bench_gateway.py --client JSON) -----------------


async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> bytes:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length)
    if not head.startswith(b"HTTP/1.1 200"):
        raise ValueError(head.split(b"\r\n", 1)[0].decode())
    return body


async def _client(port: int, request: bytes, until: float, latencies: List[float], outcomes: Dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while time.perf_counter() < until:
        began = time.perf_counter()
        try:
            body = await _one(reader, writer, request)
            key = "ok " + body.decode()
        except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
            key = f"failed {type(exc).__name__}: {exc}"
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        latencies.append(time.perf_counter() - began)
        outcomes[key] = outcomes.get(key, 0) + 1
    writer.close()


async def _load(port: int, request: bytes, clients: int, seconds: float) -> Dict[str, Any]:
    latencies: List[float] = []
    outcomes: Dict[str, int] = {}
    until = time.perf_counter() + seconds
    await asyncio.gather(*(_client(port, request, until, latencies, outcomes) for _ in range(clients)))
    latencies.sort()
    return {"requests": len(latencies), "rps": len(latencies) / seconds, "outcomes": outcomes,
            "p50": latencies[len(latencies) // 2], "p99": latencies[int(len(latencies) * 0.99)]}


async def _burst(port: int, request: bytes, connections: int) -> Dict[str, Any]:
    began = time.perf_counter()

    async def once() -> float:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            await _one(reader, writer, request)
        finally:
            writer.close()
        return time.perf_counter() - began

    results = await asyncio.gather(*(once() for _ in range(connections)), return_exceptions=True)
    times = [r for r in results if isinstance(r, float)]
    return {"answered": len(times), "failed": len(results) - len(times), "slowest": max(times) if times else None}


def client_main(spec: Dict[str, Any]) -> None:
    import uvloop

    request = spec["request"].encode("latin-1")
    if spec["mode"] == "burst":
        result = uvloop.run(_burst(spec["port"], request, spec["connections"]))
    else:
        uvloop.run(_load(spec["port"], request, 1, 0.3))  # warm-up: connections, caches
        result = uvloop.run(_load(spec["port"], request, spec["clients"], spec["seconds"]))
    print(json.dumps(result))


def run_client(**spec: Any) -> Dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--client", json.dumps(spec)], capture_output=True, text=True,
                         check=True)
    result: Dict[str, Any] = json.loads(out.stdout)
    return result


def start_client(**spec: Any) -> "subprocess.Popen[str]":
    return subprocess.Popen([sys.executable, __file__, "--client", json.dumps(spec)], stdout=subprocess.PIPE, text=True)


# -- the servers ------------------------------------------------------------------------------


def gateway_main(upstream: str, ready_file: str) -> None:
    """A gateway in front of ``upstream`` for task ``trivial`` (for the burst)."""
    from fusionizer.gateway import serving
    from fusionizer.gateway.app import Gateway
    from fusionizer.gateway.routes import RouteEntry, RoutingTable
    from fusionizer.gateway.upstream import Endpoint

    gateway = Gateway(RoutingTable([RouteEntry("trivial", "bench", "bench-bare", Endpoint.parse(upstream))]))
    sock = serving.listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    serving.server(gateway, gateway.settings.limits, on_ready=lambda: Path(ready_file).write_text(str(port)),
                   on_stop=gateway.close).run(sockets=[sock])


def wait_file(path: Path, proc: "subprocess.Popen[Any]") -> str:
    deadline = time.monotonic() + 30
    while not path.exists() or not path.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"server did not start ({proc.args})")
        time.sleep(0.01)
    return path.read_text()


def start_bare(tmp: Path) -> Tuple["subprocess.Popen[bytes]", int]:
    (tmp / "bare.py").write_text(BARE_APP)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--app-dir", str(tmp), "bare:app", "--port", str(port),
                             "--log-level", "warning", "--no-access-log"])
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("bare uvicorn did not start") from None
            time.sleep(0.01)


def deploy(plan: Path, version: str) -> None:
    from fusionizer.cli import main

    write_task(plan.parent, "trivial", f"def handler(context, event):\n    return {version!r}\n")
    with contextlib.redirect_stdout(sys.stderr):  # the report alone on stdout
        code = main(["apply", "-f", str(plan)])
    if code != 0:
        raise SystemExit("apply failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--gateway", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(json.loads(args.client))
        return
    if args.gateway:
        gateway_main(*args.gateway)
        return
    with tempfile.TemporaryDirectory(prefix="fz-bench-gw-") as raw:
        tmp = Path(raw)
        os.environ["FUSIONIZER_HOME"] = str(tmp / "home")
        try:
            bench(tmp, args.seconds)
        finally:
            from testing.local import stop_local_processes

            stop_local_processes(tmp / "home")


def bench(tmp: Path, seconds: float) -> None:
    from fusionizer.platforms.local import gateway_control
    from fusionizer.platforms.local.platform import LocalPlatform

    plan = tmp / "plan" / "fusionizer.yaml"
    plan.parent.mkdir(parents=True)
    plan.write_text(discovering_plan("bench"))
    (plan.parent / "tasks").mkdir()
    print("deploying the trivial task on the local platform ...", file=sys.stderr)
    deploy(plan, "ok")
    platform = LocalPlatform()
    function_port = next(r.http_port for r in platform.list() if r.name == "bench-trivial")
    gateway_port = int((gateway_control.gateway_url(platform.store) or "").rsplit(":", 1)[1])
    bare, bare_port = start_bare(tmp)
    ready = tmp / "gateway.ready"
    front = subprocess.Popen([sys.executable, __file__, "--gateway", f"http://127.0.0.1:{bare_port}", str(ready)])
    try:
        front_port = int(wait_file(ready, front))
        targets = {
            "function, direct": (function_port, "POST / HTTP/1.1\r\nHost: x\r\nTask-Name: trivial\r\nContent-Length: 0\r\n\r\n"),
            "function, through the gateway": (gateway_port, "POST /trivial HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
            "bare uvicorn app": (bare_port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
            "bare uvicorn app, through a gateway": (front_port, "POST /trivial HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
        }
        rows = {name: {n: run_client(mode="load", port=port, request=req, clients=n, seconds=seconds)
                       for n in (1, 8, 32)} for name, (port, req) in targets.items()}
        report(rows)
        redeploys(plan, gateway_port, targets["function, through the gateway"][1])
        burst = run_client(mode="burst", port=front_port, request=targets["bare uvicorn app, through a gateway"][1],
                           connections=200)
        print(f"\nburst: 200 connections at once through the gateway: {burst['answered']} answered, "
              f"{burst['failed']} failed, the slowest after {burst['slowest'] * 1000:.0f} ms")
    finally:
        for proc in (front, bare):
            proc.terminate()
            proc.wait(10)


def report(rows: Dict[str, Dict[int, Dict[str, Any]]]) -> None:
    print(f"\n{'target':38} {'p50 ms':>8} {'p99 ms':>8} {'req/s 1':>9} {'req/s 8':>9} {'req/s 32':>9}  failed")
    for name, by_clients in rows.items():
        one = by_clients[1]
        failed = sum(n for r in by_clients.values() for k, n in r["outcomes"].items() if not k.startswith("ok"))
        print(f"{name:38} {one['p50'] * 1000:8.3f} {one['p99'] * 1000:8.3f} "
              + " ".join(f"{by_clients[n]['rps']:9.0f}" for n in (1, 8, 32)) + f"  {failed}")
    direct, through = rows["function, direct"][1], rows["function, through the gateway"][1]
    bare, fronted = rows["bare uvicorn app"][1], rows["bare uvicorn app, through a gateway"][1]
    print(f"\ngateway overhead over the function, 1 client: p50 +{(through['p50'] - direct['p50']) * 1000:.3f} ms, "
          f"p99 +{(through['p99'] - direct['p99']) * 1000:.3f} ms")
    print(f"gateway overhead over a bare uvicorn app, 1 client: p50 +{(fronted['p50'] - bare['p50']) * 1000:.3f} ms, "
          f"p99 +{(fronted['p99'] - bare['p99']) * 1000:.3f} ms")
    print(f"medians of per-request latency are over {statistics.median([r[1]['requests'] for r in rows.values()]):.0f} "
          f"requests per target")


def redeploys(plan: Path, port: int, request: str) -> None:
    client = start_client(mode="load", port=port, request=request, clients=32, seconds=12.0)
    time.sleep(1.0)  # the clients are running before the first redeploy
    began = time.monotonic()
    for version in ("v1", "v2", "v3"):
        deploy(plan, version)
    took = time.monotonic() - began
    out, _ = client.communicate(timeout=60)
    result = json.loads(out)
    failed = {k: n for k, n in result["outcomes"].items() if not k.startswith("ok")}
    served = {k: n for k, n in result["outcomes"].items() if k.startswith("ok")}
    print(f"\nredeploy: 3 redeploys in {took:.1f}s under 32 clients: {result['requests']} requests, "
          f"failed: {sum(failed.values())} {failed or ''}; answers: {served}")


if __name__ == "__main__":
    main()
