"""`fusionizer serve` through its HTTP API, as the original Fusionizer's users drive it."""

from __future__ import annotations

import hashlib
import hmac
import io
import socket
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Callable

import pytest

from fusionizer.gateway.app import Limits
from fusionizer.server import uploads
from testing.waiting import wait_for

from tests.server.conftest import (
    PLAN,
    REPO,
    Serve,
    tree_digest,
    zip_dir,
    zip_entries,
)

TASKS = REPO / "tasks"
# serve's gateway and the local platform's each count a hop: 14 + 2 reaches the limit (16).
NEARLY_LOOPING = {"Fusionizer-Hops": str(Limits().max_hops - 2)}
SCHEDULED = PLAN + """\
  fusion:
    schedule:
      - after: {after}
        groups: [[taska, taskb]]
"""


@pytest.mark.e2e
def test_the_original_fusionizer_scenario(plan_dir: Path, start_serve: Callable[..., Serve]) -> None:
    (plan_dir / "fusionizer.yaml").write_text(SCHEDULED.format(after="20s"))
    serve = start_serve(plan_dir / "fusionizer.yaml")

    deployed = serve.put_zip("taska", zip_dir(TASKS / "taska"))
    assert deployed.status == 200, deployed.text
    assert deployed.json()["function"] == "orig-taska"
    assert serve.put_zip("taskb", zip_dir(TASKS / "taskb")).status == 200
    assert (plan_dir / "tasks" / "taskb" / "main.py").read_bytes() == (TASKS / "taskb" / "main.py").read_bytes()

    # taska calls taskb in another function, through the server.
    answer = serve.invoke("taska")
    assert (answer.status, answer.text) == (200, "8")
    assert serve.request("GET", "/taska").json()["fusedWith"] == []
    # Arriving with hops to spare for exactly the hops up to taska, its call to taskb is one
    # hop too many: it went out, through a gateway.
    assert "loop detected" in serve.invoke("taska", headers=NEARLY_LOOPING).text

    # The schedule fuses them.
    wait_for(lambda: serve.request("GET", "/taska").json()["fusedWith"] == ["taskb"], "the schedule's fusion", 90)
    info = serve.request("GET", "/taska").json()
    assert (info["function"], info["state"]) == ("orig-taska-taskb", "ready")
    # In-process now: the same request's call to taskb no longer counts as a hop.
    answer = serve.invoke("taska", headers=NEARLY_LOOPING)
    assert (answer.status, answer.text) == (200, "8")

    # DELETE taska: taskb is redeployed alone.
    assert serve.request("DELETE", "/taska").status == 200
    assert not (plan_dir / "tasks" / "taska").exists()
    assert serve.request("GET", "/taska").status == 404
    info = serve.request("GET", "/taskb").json()
    assert (info["function"], info["fusedWith"]) == ("orig-taskb", [])
    answer = serve.invoke("taskb", {"value1": 4, "value2": 8})
    assert (answer.status, answer.text) == (200, "12")

    assert serve.request("DELETE", "/taskb").status == 200
    assert serve.request("GET", "/taskb").status == 404
    assert serve.status()["functions"] == []
    assert serve.stop() == 0


def _bad_uploads() -> dict:  # type: ignore[type-arg]
    good = zip_dir(TASKS / "taskb")
    return {
        "zip-slip": ("taskc", zip_entries([("function.yaml", b"metadata: {name: x}\n"), ("../../evil.py", b"x")]), 400),
        "absolute path": ("taskc", zip_entries([("function.yaml", b""), ("/tmp/evil.py", b"x")]), 400),
        "symlink": ("taskc", zip_entries([("function.yaml", b""), ("main.py", b"/etc/passwd")], ("main.py",)), 400),
        "corrupt": ("taskc", b"PK\x03\x04" + b"\x00garbage" * 50, 400),
        "an entry twice": ("taskc", zip_entries([("function.yaml", b""), ("function.yaml", b"")]), 400),
        "a file where a directory goes": ("taskc", zip_entries([("function.yaml", b""), ("a", b""), ("a/b", b"")]), 400),
        "truncated": ("taskc", good[: len(good) // 2], 400),
        "no function.yaml": ("taskc", zip_entries([("main.py", b"def handler(c, e):\n    return 1\n")]), 422),
        "bad task name": ("Bad_Name", good, 400),
        "dot-dot task": ("..", good, 400),
        "handler missing": ("taskc", zip_entries([("function.yaml", b"spec:\n  handler: main:handler\n"),
                                                  ("other.py", b"x = 1\n")]), 422),
        "replacing taskb with a broken one": ("taskb", zip_entries([("function.yaml", b"spec: [1\n")]), 422),
    }


@pytest.mark.e2e
def test_bad_uploads_get_4xx_and_change_nothing(plan_dir: Path, start_serve: Callable[..., Serve]) -> None:
    serve = start_serve(plan_dir / "fusionizer.yaml")
    assert serve.put_zip("taskb", zip_dir(TASKS / "taskb")).status == 200
    before_tree, before_functions = tree_digest(plan_dir), serve.status()["functions"]
    for case, (task, data, status) in _bad_uploads().items():
        answer = serve.put_zip(task, data)
        assert answer.status == status, f"{case}: {answer.status} {answer.text}"
        assert tree_digest(plan_dir) == before_tree, case
    answer = serve.request("PUT", "/taskc", b"x", {"Content-Type": "multipart/form-data; boundary=z",
                                                    "Content-Length": str(uploads.MAX_UPLOAD + 1)})
    assert answer.status == 413
    answer = serve.request("PUT", "/taskc", b"--z--\r\n", {"Content-Type": "multipart/form-data; boundary=z"})
    assert answer.status == 400 and "zip_file" in answer.text
    assert serve.request("DELETE", "/nothing").status == 404
    assert tree_digest(plan_dir) == before_tree
    assert serve.status()["functions"] == before_functions
    answer = serve.invoke("taskb", {"value1": 1, "value2": 2})
    assert (answer.status, answer.text) == (200, "3")


def test_unpacking_counts_the_real_size_and_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploads, "MAX_UNPACKED", 1000)
    bomb = zip_entries([("function.yaml", b""), ("zeros", b"\0" * 5000)])
    with pytest.raises(uploads.UploadError) as info:
        uploads.unpack(io.BytesIO(bomb), tmp_path / "a")
    assert info.value.status == 413
    monkeypatch.setattr(uploads, "MAX_FILES", 3)
    many = zip_entries([("function.yaml", b"")] + [(f"f{i}", b"") for i in range(5)])
    with pytest.raises(uploads.UploadError):
        uploads.unpack(io.BytesIO(many), tmp_path / "b")
    # A zip of the directory itself (zip -r taska.zip taska/) is taken as the task.
    uploads.unpack(io.BytesIO(zip_dir(TASKS / "taska", prefix="taska/")), tmp_path / "c")
    assert (tmp_path / "c" / "function.yaml").is_file()


def test_git_decides_on_a_git_source(tmp_path: Path, start_serve: Callable[..., Serve]) -> None:
    repo = tmp_path / "repo"
    (repo / "tasks").mkdir(parents=True)
    (repo / "fusionizer.yaml").write_text(SCHEDULED.format(after="1h"))
    for cmd in (["init", "-q", "-b", "main"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t.invalid",
                                                            "commit", "-qm", "plan"]):
        subprocess.run(["git", *cmd], cwd=repo, check=True, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    serve = start_serve(repo)
    for method in ("PUT", "DELETE"):
        answer = serve.request(method, "/taska", b"")
        assert answer.status == 409 and "git decides" in answer.text


@pytest.mark.e2e
def test_a_token_guards_mutations_invocations_and_status(plan_dir: Path, start_serve: Callable[..., Serve]) -> None:
    serve = start_serve(plan_dir / "fusionizer.yaml", env={"FUSIONIZER_TOKEN": "t0k3n"})
    auth = {"Authorization": "Bearer t0k3n"}
    serve.auth = auth
    assert serve.put_zip("taskb", zip_dir(TASKS / "taskb")).status == 401
    assert not (plan_dir / "tasks" / "taskb").exists()
    assert serve.put_zip("taskb", zip_dir(TASKS / "taskb"), {"Authorization": "Bearer nope"}).status == 401
    assert serve.put_zip("taskb", zip_dir(TASKS / "taskb"), auth).status == 200
    assert serve.invoke("taskb", {"value1": 1, "value2": 1}).status == 401
    assert serve.invoke("taskb", {"value1": 1, "value2": 1}, auth).text == "2"
    assert serve.request("GET", "/-/status").status == 401
    assert serve.request("GET", "/taskb").status == 401
    assert serve.request("DELETE", "/taskb").status == 401
    assert serve.request("GET", "/-/healthz").status == 200
    assert serve.status()["plan"] == "orig"


def _github(secret: bytes, body: bytes) -> dict:  # type: ignore[type-arg]
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest(),
            "X-GitHub-Event": "push"}


def test_webhooks_need_their_signature(plan_dir: Path, start_serve: Callable[..., Serve]) -> None:
    secret = b"hook-secret"
    serve = start_serve(plan_dir / "fusionizer.yaml", env={"FUSIONIZER_WEBHOOK_SECRET": secret.decode()})
    wait_for(lambda: len(serve.status()["runs"]) >= 1, "the first run")
    body = b'{"ref": "refs/heads/main"}'
    refused = [
        serve.request("POST", "/-/webhook", body, {}),
        serve.request("POST", "/-/webhook", body, {"X-Hub-Signature-256": "sha256=" + "0" * 64}),
        serve.request("POST", "/-/webhook", body, _github(b"wrong", body)),
        serve.request("POST", "/-/webhook", body, {"X-Gitlab-Token": "wrong"}),
        serve.request("POST", "/-/webhook", b"x" * 2_000_000, _github(secret, b"x" * 2_000_000)),
    ]
    assert [a.status for a in refused] == [401, 401, 401, 401, 413]
    accepted = [serve.request("POST", "/-/webhook", body, _github(secret, body)) for _ in range(5)]
    accepted.append(serve.request("POST", "/-/webhook", body, {"X-Gitlab-Token": secret.decode()}))
    assert [a.status for a in accepted] == [202] * 6

    def webhook_runs() -> list:  # type: ignore[type-arg]
        return [r for r in serve.status()["runs"] if any(t.startswith("webhook") for t in r["triggers"])]

    wait_for(lambda: webhook_runs() != [], "the webhook's run")
    runs = webhook_runs()
    assert len(runs) == 1, runs  # the burst was one run
    assert sorted(runs[0]["triggers"]) == ["webhook github", "webhook gitlab"]


def test_webhooks_are_off_without_a_secret(plan_dir: Path, start_serve: Callable[..., Serve]) -> None:
    serve = start_serve(plan_dir / "fusionizer.yaml")
    assert serve.request("POST", "/-/webhook", b"{}", _github(b"", b"{}")).status == 403


@pytest.mark.e2e
def test_metrics_count_runs_deploys_and_requests(plan_dir: Path, start_serve: Callable[..., Serve]) -> None:
    serve = start_serve(plan_dir / "fusionizer.yaml")
    assert serve.put_zip("taskb", zip_dir(TASKS / "taskb")).status == 200
    assert serve.invoke("taskb", {"value1": 1, "value2": 2}).text == "3"
    assert serve.invoke("no-such-task").status == 404
    # A call between tasks (it carries the hop header) invokes whatever its method.
    answer = serve.request("PUT", "/taskb", b'{"value1": 2, "value2": 2}',
                           {"Content-Type": "application/json", "Fusionizer-Hops": "1"})
    assert (answer.status, answer.text) == (200, "4")
    text = serve.request("GET", "/-/metrics").text
    assert 'fusionizer_gateway_requests_total{status="200",task="taskb"} 2.0' in text
    assert 'fusionizer_gateway_requests_total{status="404",task="-"} 1.0' in text
    assert 'fusionizer_deploys_total{action="create"} 1.0' in text
    assert 'fusionizer_reconcile_runs_total{result="ok"}' in text
    assert "fusionizer_gateway_request_duration_seconds_bucket" in text


def test_serve_exits_cleanly_on_sigterm(plan_dir: Path, start_serve: Callable[..., Serve]) -> None:
    serve = start_serve(plan_dir / "fusionizer.yaml")
    assert serve.stop() == 0
    assert "Traceback" not in serve.log.read_text()


def test_serve_is_not_imported_by_help() -> None:
    code = ("import sys; from fusionizer.cli import main; main(['--help']);"
            "heavy = [m for m in ('uvicorn', 'starlette', 'prometheus_client', 'fusionizer.server') if m in sys.modules];"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


@pytest.mark.e2e
def test_a_redeploy_through_serve_drops_no_request(plan_dir: Path, start_serve: Callable[..., Serve]) -> None:
    serve = start_serve(plan_dir / "fusionizer.yaml")
    assert serve.put_zip("taskb", zip_dir(TASKS / "taskb")).status == 200
    outcomes: Counter[str] = Counter()
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            try:
                answer = serve.invoke("taskb", {"value1": 1, "value2": 2}, timeout=60)
                outcomes[f"{answer.status} {answer.text}"] += 1
            except OSError as exc:
                outcomes[f"error {exc}"] += 1

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    try:
        for version in ("10", "20"):
            source = (TASKS / "taskb" / "main.py").read_text().replace('event.body["value2"]',
                                                                       f'event.body["value2"] + {version}')
            answer = serve.put_zip("taskb", zip_entries([("function.yaml", (TASKS / "taskb" / "function.yaml")
                                                           .read_bytes()), ("main.py", source.encode())]))
            assert answer.status == 200, answer.text
            wait_for(lambda want=f"200 {3 + int(version)}": outcomes[want] > 0, f"version +{version} serving")
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert {k for k in outcomes} <= {"200 3", "200 13", "200 23"}, outcomes


def test_a_busy_port_is_a_clear_error(plan_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "fusionizer", "serve", "-f", str(plan_dir / "fusionizer.yaml"),
                               "--port", str(port)], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr
