"""The file cache: a digest is trusted only while the file's stat says nothing changed (an
edit that keeps the size and restores the mtime is still seen), a file changed moments
before it was read is not remembered, and values computed from content survive the process
but never leak between callers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, List

import pytest

from fusionizer import filecache
from fusionizer.plan import documents, schema
from fusionizer.plan.documents import load_text

LATER = 2**62  # ns: a clock far past any file's ctime (year 2116), so every read is remembered


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    filecache.forget()
    yield
    filecache.forget()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """The files whose bytes the digest reads."""
    seen: List[str] = []
    original = filecache._sha256

    def counting(path: str) -> bytes:
        seen.append(path)
        return original(path)

    monkeypatch.setattr(filecache, "_sha256", counting)
    return seen


def later() -> int:
    return LATER


def test_a_digest_is_read_once_then_known_by_the_files_stat(tmp_path: Path, reads: List[str]) -> None:
    f = tmp_path / "a.py"
    f.write_text("A = 1\n")
    first = filecache.digest(str(f), clock=later)
    assert filecache.digest(str(f), clock=later) == first
    assert reads == [str(f)]


def test_an_edit_that_keeps_size_and_mtime_is_seen(tmp_path: Path, reads: List[str]) -> None:
    f = tmp_path / "a.py"
    f.write_text("A = 1\n")
    before = os.stat(f)
    first = filecache.digest(str(f), clock=later)
    f.write_text("A = 2\n")  # same size
    os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the mtime it had
    assert os.stat(f).st_size == before.st_size and os.stat(f).st_mtime_ns == before.st_mtime_ns
    assert filecache.digest(str(f), clock=later) != first  # the ctime moved: read again
    assert len(reads) == 2


def test_a_file_replaced_by_one_of_the_same_size_and_mtime_is_seen(tmp_path: Path) -> None:
    f, other = tmp_path / "a.py", tmp_path / "b.py"
    f.write_text("A = 1\n")
    other.write_text("A = 2\n")
    st = os.stat(f)
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    first = filecache.digest(str(f), clock=later)
    os.replace(other, f)  # as an editor saves: a new inode under the old name
    assert filecache.digest(str(f), clock=later) != first


def test_a_file_changed_moments_before_it_was_read_is_read_again(tmp_path: Path, reads: List[str]) -> None:
    f = tmp_path / "a.py"
    f.write_text("A = 1\n")
    filecache.digest(str(f))  # the real clock: f changed within RACY_SECONDS
    filecache.digest(str(f))
    assert reads == [str(f), str(f)]
    assert filecache.table("digests").get(str(f)) is None


def test_digests_survive_the_process_and_a_damaged_cache_is_ignored(
        tmp_path: Path, fusionizer_home: Path, reads: List[str]) -> None:
    f = tmp_path / "a.py"
    f.write_text("A = 1\n")
    first = filecache.digest(str(f), clock=later)
    filecache.save()
    filecache.forget()  # as a new process
    assert filecache.digest(str(f), clock=later) == first
    assert reads == [str(f)]
    for cached in (fusionizer_home / "cache").iterdir():
        cached.write_bytes(b"not a cache")
    filecache.forget()
    assert filecache.digest(str(f), clock=later) == first
    assert reads == [str(f), str(f)]


def test_an_unwritable_cache_costs_only_time(tmp_path: Path, fusionizer_home: Path) -> None:
    (fusionizer_home / "cache").write_text("a file where the directory would be")
    f = tmp_path / "a.py"
    f.write_text("A = 1\n")
    first = filecache.digest(str(f), clock=later)
    filecache.save()  # does not raise
    filecache.forget()
    assert filecache.digest(str(f), clock=later) == first


def test_a_document_is_parsed_once_per_content_and_each_load_gets_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "spec:\n  env:\n    - name: A\n      value: '1'\n"
    first = load_text(text, "function.yaml")
    parses: List[str] = []
    real = documents.load_document
    monkeypatch.setattr(documents, "load_document", lambda text, file: parses.append(file) or real(text, file))
    second = load_text(text, "tasks/a/function.yaml")
    assert parses == [] and second.data == first.data and second.values == first.values
    assert second.file == "tasks/a/function.yaml" and second.where(("spec", "env", 0)) == (3, 7)
    second.data["spec"]["env"].append({"name": "B"})
    assert load_text(text, "x").data == first.data  # a caller changing its copy changes no other
    assert load_text(text.replace("'1'", "'2'"), "other").data["spec"]["env"][0]["value"] == "2"
    assert parses == ["other"]  # another text is parsed


def test_the_schema_verdict_is_kept_for_a_valid_plan_only(monkeypatch: pytest.MonkeyPatch) -> None:
    good = "apiVersion: fusionizer.io/v1\nkind: FusionPlan\nmetadata: {name: demo}\nspec: {tasks: []}\n"
    bad = "apiVersion: fusionizer.io/v1\nkind: FusionPlan\nmetadata: {name: demo}\nspec: {tasks: 3}\n"
    assert schema.check_schema(load_text(good, "good.yaml")) == []
    first = schema.check_schema(load_text(bad, "bad.yaml"))
    assert first
    validated: List[str] = []
    real = schema._validator
    monkeypatch.setattr(schema, "_validator", lambda name: validated.append(name) or real(name))
    assert schema.check_schema(load_text(good, "good.yaml")) == [] and validated == []
    assert schema.check_schema(load_text(bad, "bad.yaml")) == first and validated


def test_a_shelf_keeps_the_values_used_last(fusionizer_home: Path) -> None:
    shelf = filecache.Shelf("test-shelf", keep=2)
    for key in ("one", "two", "three"):
        shelf.put(key, {"value": key})
        os.utime(fusionizer_home / "cache" / "test-shelf" / f"{key}.pickle", ns=(0, len(key) * 10**9))
    shelf.put("four", ["4"])  # trims to the two used last: four, then three (the newest mtime)
    assert shelf.get("four") == ["4"] and shelf.get("three") == {"value": "three"}
    assert shelf.get("one") is None and shelf.get("two") is None
    kept = sorted(p.name for p in (fusionizer_home / "cache" / "test-shelf").iterdir())
    assert kept == ["four.pickle", "three.pickle"]
    assert all(p.stat().st_mode & 0o077 == 0 for p in (fusionizer_home / "cache" / "test-shelf").iterdir())


@pytest.mark.parametrize("size", [0, 5, 3 * 65536 + 7])
def test_a_copy_has_the_bytes_the_owners_mode_bits_and_with_times_the_times(tmp_path: Path, size: int) -> None:
    source = tmp_path / "run.sh"
    source.write_bytes(os.urandom(size))
    source.chmod(0o755)
    os.utime(source, ns=(1_000_000_000, 2_000_000_000))
    filecache.copy_new(str(source), str(tmp_path / "plain"))
    filecache.copy_new(str(source), str(tmp_path / "timed"), times=True)
    for name in ("plain", "timed"):
        copy = tmp_path / name
        assert copy.read_bytes() == source.read_bytes()
        assert copy.stat().st_mode & 0o777 == 0o700  # executable for its owner, nothing for others
    assert (tmp_path / "timed").stat().st_mtime_ns == 2_000_000_000
    assert (tmp_path / "plain").stat().st_mtime_ns != 2_000_000_000
    with pytest.raises(FileExistsError):  # never over a file that is there
        filecache.copy_new(str(source), str(tmp_path / "plain"))


def test_a_copy_falls_back_to_reads_where_the_kernel_cannot_copy(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> int:
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(os, "sendfile", refuse)
    source = tmp_path / "data"
    source.write_bytes(os.urandom(200_000))
    filecache.copy_new(str(source), str(tmp_path / "copy"))
    assert (tmp_path / "copy").read_bytes() == source.read_bytes()
