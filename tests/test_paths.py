"""The plain-descriptor file helpers a deploy reads and writes its files with: whole files
whatever their size, new files only, private whatever the umask; and the process identity
a deploy records, read once per process (a forked child is another)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from fusionizer import paths
from fusionizer.platforms.local import processes


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    yield
    os.umask(previous)


@pytest.mark.parametrize("size", [0, 1, 65536, 3 * 65536 + 7])
def test_a_file_is_read_whole_whatever_its_size(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    (tmp_path / "f").write_bytes(data)
    assert paths.read_bytes(tmp_path / "f") == data


def test_a_new_file_is_private_and_never_written_over(open_umask: None, tmp_path: Path) -> None:
    paths.write_new(tmp_path / "record.json", b"{}")
    assert (tmp_path / "record.json").read_bytes() == b"{}"
    assert (tmp_path / "record.json").stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        paths.write_new(tmp_path / "record.json", b"other")
    assert (tmp_path / "record.json").read_bytes() == b"{}"


def test_an_atomic_write_makes_its_missing_directory(tmp_path: Path) -> None:
    paths.write_atomically(tmp_path / "a" / "b" / "c.json", "{}")
    assert (tmp_path / "a" / "b" / "c.json").read_text() == "{}"
    assert [p.name for p in (tmp_path / "a" / "b").iterdir()] == ["c.json"]  # no temporary file left


def test_this_process_is_identified_once_and_a_forked_child_as_itself() -> None:
    assert processes.me() == processes.identify(os.getpid()) and processes.me().start_time
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.write(write, str(processes.me().pid).encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        reported = os.read(read, 200).decode()
    finally:
        os.close(read)
        os.waitpid(child, 0)
    assert reported == str(child) != str(os.getpid())
