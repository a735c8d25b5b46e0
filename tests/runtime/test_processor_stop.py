"""The processor's listening socket: a burst of clients waits in its backlog (1024, not
socketserver's 5, whose overflow is dropped and retried seconds later), and a stop ends its
serving loop at once rather than at its next poll, so an update's old process goes quickly.
Ending without the interpreter's teardown keeps what a function relies on at exit: its
atexit handlers run and its own (non-daemon) threads finish."""

from __future__ import annotations

import select
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any, Iterator, cast

import pytest

from fusionizer.runtime.processor import ProcessorServer

BURST = 300
DEADLINE_S = 10.0


@pytest.fixture
def server() -> Iterator[ProcessorServer]:
    # The listening socket is all these tests use: no function behind it.
    made = ProcessorServer(("127.0.0.1", 0), cast(Any, None))
    yield made
    made.server_close()


def test_a_burst_of_connections_completes_before_any_is_accepted(server: ProcessorServer) -> None:
    clients = []
    try:
        for _ in range(BURST):
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(server.server_address[:2])
            clients.append(client)
        pending = set(clients)
        deadline = time.monotonic() + DEADLINE_S
        while pending and time.monotonic() < deadline:
            _, connected, _ = select.select([], list(pending), [], 0.1)
            for client in connected:
                assert client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
                pending.discard(client)
        assert not pending, f"{len(pending)} of {BURST} connections were not let in"
    finally:
        for client in clients:
            client.close()


def test_stop_ends_serving_from_another_thread_and_after_requests(server: ProcessorServer) -> None:
    serving = threading.Thread(target=server.serve_until_stopped)
    serving.start()
    with socket.create_connection(server.server_address[:2], timeout=DEADLINE_S):
        pass  # a connection that never sends a request: its handler thread ends on its own
    server.stop()
    serving.join(DEADLINE_S)
    assert not serving.is_alive()


def test_a_stop_before_serving_is_not_lost(server: ProcessorServer) -> None:
    server.stop()  # e.g. SIGTERM while the function was still loading
    server.stop()  # and again
    serving = threading.Thread(target=server.serve_until_stopped)
    serving.start()
    serving.join(DEADLINE_S)
    assert not serving.is_alive()


AT_EXIT = {
    "main.py": """
        import atexit, os, threading

        def init_context(context):
            marks = os.environ["MARKS"]
            atexit.register(lambda: open(os.path.join(marks, "atexit"), "w").write("ran"))
            terminating = threading.Event()
            context.platform.set_termination_callback(terminating.set)
            def late():  # busy until the processor stops, then a last write
                terminating.wait()
                open(os.path.join(marks, "thread"), "w").write("finished")
            threading.Thread(target=late, daemon=False).start()

        def handler(context, event):
            return "ok"
    """,
}


def test_at_sigterm_the_functions_atexit_handlers_run_and_its_threads_finish(
        rt: Any, processors: Any, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    running = processors.start(rt.build_plain(tmp_path / "fn", AT_EXIT), env={"MARKS": str(marks)})
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(DEADLINE_S) == 0
    assert (marks / "atexit").read_text() == "ran" and (marks / "thread").read_text() == "finished"
    assert "Processor stopped" in running.logs()[0]
