"""The pieces that bound the local platform's logs: a rotating, line-capped log file shared
by several writers, its limits from the environment, the bounded tail of a failed deploy,
and the capture that runs a process with its output in such a file."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from fusionizer.errors import PlatformError
from fusionizer.platforms.local import logfile
from fusionizer.platforms.local.logsize import ENV_BACKUPS, ENV_LINE_BYTES, ENV_MAX_BYTES, LogLimits, RotatingLog
from tests.faults.test_log_bounds import KIB, MIB, log_files


def test_writers_rotate_one_log_together_within_its_cap(tmp_path: Path) -> None:
    log = tmp_path / "f.log"
    limits = LogLimits(max_bytes=64 * KIB, backups=2, line_bytes=4 * KIB)
    writers = [RotatingLog(log, limits) for _ in range(3)]
    line = b"x" * 1000 + b"\n"
    for i in range(3000):  # 3 MB through three writers that each see the others rotate
        writers[i % 3].write(line)
    writers[0].write(b"the last line\n")
    assert [p.name for p in log_files(log)] == ["f.log", "f.log.1", "f.log.2"]
    assert all(p.stat().st_size <= limits.max_bytes for p in log_files(log))
    assert log.read_bytes().endswith(b"the last line\n")
    assert list(logfile.read_log(log))[-1] == "the last line"


def test_a_long_line_is_cut_with_a_note_and_the_next_line_is_whole(tmp_path: Path) -> None:
    log = tmp_path / "f.log"
    writer = RotatingLog(log, LogLimits(max_bytes=MIB, backups=1, line_bytes=100))
    for _ in range(1000):  # one line of 1 MB arriving in pieces, as through a pipe
        writer.write(b"y" * 1000)
    writer.write(b"\nnext\n")
    assert log.read_text().splitlines() == ["y" * 100 + " [... 999900 more bytes of this line not logged]", "next"]


@pytest.mark.parametrize("value", ["ten", "-1", "0", "5X"])
def test_a_bad_limit_is_a_clear_error(value: str) -> None:
    with pytest.raises(PlatformError, match=f"{ENV_MAX_BYTES}='{value}' is not valid: expected a size"):
        LogLimits.from_env({ENV_MAX_BYTES: value})
    assert LogLimits.from_env({ENV_MAX_BYTES: "10M", ENV_BACKUPS: "0", ENV_LINE_BYTES: "4k"}) == LogLimits(10 * MIB, 0, 4096)


def test_tail_reads_the_end_only_and_across_one_rotation(tmp_path: Path) -> None:
    log = tmp_path / "f.log"
    log.write_bytes(b"old\n" * 10)
    since = logfile.mark(log)
    with open(log, "ab") as out:
        out.truncate(256 * MIB)  # a sparse hole: a log far larger than anything read from it
        out.seek(0, 2)
        out.write(b"\nfirst\nsecond\n")
    tracemalloc.start()
    try:
        assert logfile.tail(log, since, 2) == "first\nsecond"
        assert tracemalloc.get_traced_memory()[1] < 4 * logfile.TAIL_BYTES  # not the 256 MB
    finally:
        tracemalloc.stop()
    log.rename(tmp_path / "f.log.1")  # rotated after the mark: the tail spans both files
    log.write_bytes(b"third\n")
    assert logfile.tail(log, since, 3) == "first\nsecond\nthird"


def test_capture_runs_the_module_as_python_m_would(tmp_path: Path) -> None:
    (tmp_path / "shout.py").write_text("import sys\nprint('out', sys.argv[1:])\nraise SystemExit(7)\n")
    log = tmp_path / "shout.log"
    done = subprocess.run([sys.executable, "-m", "fusionizer.platforms.local.capture", "--log", str(log),
                           "shout", "--flag", "x"], cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)}, timeout=60)
    assert done.returncode == 7
    assert log.read_text() == "out ['--flag', 'x']\n"


def test_follow_goes_on_in_the_new_file_after_a_rotation(tmp_path: Path) -> None:
    log = tmp_path / "f.log"
    writer = RotatingLog(log, LogLimits(max_bytes=10, backups=1, line_bytes=100))
    writer.write(b"one\n")
    lines = logfile.read_log(log, follow=True)
    assert next(lines) == "one"
    writer.write(b"two\nthree\n")  # "three" does not fit: the file rotates under the follower
    assert (tmp_path / "f.log.1").read_text() == "one\ntwo\n"
    assert next(lines) == "two"
    assert next(lines) == "three"
