"""A deploy's attempt record is one file whose later states are lines appended to it: readers
see the latest complete state, a writer killed mid-line leaves the state before, and an
attempt never writes into a record that another attempt has put at its path."""

from __future__ import annotations

import os
from pathlib import Path

from fusionizer.platforms.local import attempts
from fusionizer.platforms.local.attempts import Attempt
from fusionizer.platforms.local.processes import ProcessRef
from fusionizer.platforms.local.store import Store, read_json, write_json


def test_an_attempt_keeps_one_file_whose_last_line_is_its_state(tmp_path: Path) -> None:
    store = Store("ns", tmp_path / "store")
    attempt = Attempt(store, "pending", "f", tmp_path / "f.ready", code="/code/f")
    path = store.root / "pending" / "f.json"
    inode = path.stat().st_ino
    attempt.running(ProcessRef(123, "9"))
    attempt.switching({"metadata": {"name": "f"}}, None)
    assert path.stat().st_ino == inode  # no new file per state
    assert len(path.read_bytes().splitlines()) == 3
    found = attempts.recorded(store, "pending", "f")
    assert found is not None and found.process == ProcessRef(123, "9") and found.record == {"metadata": {"name": "f"}}
    assert found.code == "/code/f"
    attempt.end()
    assert not path.exists()


def test_a_line_cut_short_leaves_the_state_before(tmp_path: Path) -> None:
    store = Store("ns", tmp_path / "store")
    attempt = Attempt(store, "pending", "f", tmp_path / "f.ready")
    attempt.running(ProcessRef(123, "9"))
    path = store.root / "pending" / "f.json"
    with open(path, "ab") as out:  # a writer killed in the middle of its next line
        out.write(b'{"deployer": {"pid": 1, "startTime": "1"}, "mark')
    found = attempts.recorded(store, "pending", "f")
    assert found is not None and found.process == ProcessRef(123, "9")
    attempt.end()


def test_an_attempt_never_writes_into_the_record_that_replaced_its_own(tmp_path: Path) -> None:
    store = Store("ns", tmp_path / "store")
    first = Attempt(store, "pending", "f", tmp_path / "first.ready")
    second = Attempt(store, "pending", "f", tmp_path / "second.ready")  # replaced it at its path
    first.running(ProcessRef(1, "1"))
    found = attempts.recorded(store, "pending", "f")
    assert found is not None and found.marker == str(tmp_path / "second.ready") and found.process is None
    first.end()  # forgets its own record only: the second's stays
    assert attempts.recorded(store, "pending", "f") is not None
    second.end()
    assert attempts.recorded(store, "pending", "f") is None


def test_records_written_whole_read_as_before(tmp_path: Path) -> None:
    pretty = tmp_path / "pretty.json"
    pretty.write_text('{\n\t"pid": 7,\n\t"port": 80\n}\n')  # as an earlier version wrote them
    assert read_json(pretty) == {"pid": 7, "port": 80}
    write_json(tmp_path / "one.json", {"pid": 7})
    assert read_json(tmp_path / "one.json") == {"pid": 7}
    (tmp_path / "damaged.json").write_bytes(b'{"pid": 7')
    assert read_json(tmp_path / "damaged.json") is None
    assert read_json(tmp_path / "missing.json") is None
    assert not any(name.startswith(".") for name in os.listdir(tmp_path))
