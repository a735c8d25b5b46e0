"""DirectorySource: the directory as it is, identified by a digest of its relevant content."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from fusionizer.sources import DirectorySource, SourceError, is_ignored, open_source, short_revision, tree_digest


@pytest.fixture
def plan_dir(tmp_path: Path) -> Path:
    d = tmp_path / "plan"
    (d / "tasks/a").mkdir(parents=True)
    (d / "fusionizer.yaml").write_text("apiVersion: fusionizer.io/v1\n")
    (d / "tasks/a/main.py").write_text("def handler(context, event):\n    return 'a'\n")
    (d / "tasks/a/function.yaml").write_text("spec: {}\n")
    return d


def digest(d: Path) -> str:
    return DirectorySource(d / "fusionizer.yaml").resolve()


def test_snapshot_fields(plan_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(plan_dir.parent)
    src = DirectorySource(Path("plan/fusionizer.yaml"))
    snap = src.snapshot()
    assert snap.root == plan_dir and snap.root.is_absolute()
    assert snap.plan_file == plan_dir / "fusionizer.yaml"
    assert snap.revision.startswith("dir:") and len(snap.revision) == 4 + 64
    assert snap.revision == tree_digest(plan_dir) == src.resolve()
    assert snap.description == str(plan_dir) == src.describe()
    assert snap.ref is None and not snap.is_git
    assert snap.short_revision == snap.revision[:16]


def test_a_directory_means_its_fusionizer_yaml(plan_dir: Path) -> None:
    assert DirectorySource(plan_dir).plan_file == plan_dir / "fusionizer.yaml"
    src = open_source(None, None)
    assert isinstance(src, DirectorySource) and src.plan_file == Path.cwd() / "fusionizer.yaml"
    assert open_source(plan_dir / "fusionizer.yaml").snapshot().revision == digest(plan_dir)


def test_missing_plan_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"plan file .*nope.yaml not found; use -f PATH"):
        DirectorySource(tmp_path / "nope.yaml").snapshot()
    with pytest.raises(SourceError, match="plan directory .* does not exist"):
        DirectorySource(tmp_path / "missing" / "fusionizer.yaml").snapshot()


def test_digest_is_stable_and_changes_exactly_when_content_changes(plan_dir: Path) -> None:
    base = digest(plan_dir)
    assert digest(plan_dir) == base
    seen = [base]

    def changed() -> str:
        d = digest(plan_dir)
        assert d != seen[-1], "expected a new digest"
        seen.append(d)
        return d

    main = plan_dir / "tasks/a/main.py"
    main.write_text(main.read_text() + "# edit\n")
    edited = changed()
    (plan_dir / "tasks/a/util.py").write_text("")  # a new, empty file counts
    changed()
    (plan_dir / "tasks/a/util.py").rename(plan_dir / "tasks/a/helpers.py")  # a rename counts
    changed()
    (plan_dir / "tasks/a/helpers.py").chmod(0o755)  # so does the executable bit
    changed()
    (plan_dir / "tasks/a/helpers.py").unlink()
    after_delete = changed()
    assert after_delete == edited  # same content, same digest: it depends on nothing else
    assert len(set(seen)) == len(seen) - 1
    (plan_dir / "tasks/empty").mkdir()  # an empty directory is no content
    assert digest(plan_dir) == after_delete
    # moving content between a path and its content must not collide
    (plan_dir / "ab").write_text("c")
    d1 = digest(plan_dir)
    (plan_dir / "ab").unlink()
    (plan_dir / "a").write_text("bc")
    assert digest(plan_dir) != d1


@pytest.mark.parametrize(
    "rel",
    [
        ".git/index",
        ".git/objects/ab/cdef",
        "__pycache__/main.cpython-311.pyc",
        "tasks/a/__pycache__/x.pyc",
        "tasks/a/main.pyc",
        ".venv/lib/site.py",
        ".fusionizer/state.json",
        "tasks/a/.main.py.swp",
        "tasks/a/.main.py.swo",
        "tasks/a/main.py~",
        "tasks/a/.#main.py",
        "tasks/a/4913",
    ],
)
def test_ignored_files_do_not_change_the_digest(plan_dir: Path, rel: str) -> None:
    base = digest(plan_dir)
    assert is_ignored(rel)
    p = plan_dir / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("noise")
    assert digest(plan_dir) == base


@pytest.mark.parametrize(
    "rel",
    ["fusionizer.yaml", "tasks/a/main.py", "tasks/gitlike.git.py", "venv/x.py", "4913.py", "a.swpx", ".gitignore"],
)
def test_relevant_paths_are_not_ignored(rel: str) -> None:
    assert not is_ignored(rel)
    assert not is_ignored(Path(rel))


def test_is_ignored_on_absolute_paths_for_the_watch_loop(plan_dir: Path, tmp_path: Path) -> None:
    src = DirectorySource(plan_dir / "fusionizer.yaml")
    assert src.is_ignored(plan_dir / ".git" / "HEAD")
    assert src.is_ignored(str(plan_dir / "tasks/a/.main.py.swp"))
    assert not src.is_ignored(plan_dir / "tasks/a/main.py")
    assert not src.is_ignored("tasks/a/main.py")
    assert src.is_ignored(tmp_path / "elsewhere.py")  # outside the plan dir: cannot matter
    assert not is_ignored("")


def test_symlinks(plan_dir: Path) -> None:
    shared = plan_dir.parent / "shared"
    shared.mkdir()
    (shared / "lib.py").write_text("V = 1\n")
    os.symlink(shared, plan_dir / "tasks/a/shared")  # a symlinked dir is followed
    os.symlink(plan_dir, plan_dir / "tasks/loop")  # a cycle is walked once, not forever
    os.symlink(plan_dir / "nowhere", plan_dir / "dangling")  # a dangling link is hashed as its target
    base = digest(plan_dir)
    (shared / "lib.py").write_text("V = 2\n")
    assert digest(plan_dir) != base
    before = digest(plan_dir)
    (plan_dir / "dangling").unlink()
    os.symlink(plan_dir / "elsewhere", plan_dir / "dangling")
    assert digest(plan_dir) != before


def test_digest_of_1000_small_files_is_fast(tmp_path: Path) -> None:
    d = tmp_path / "big"
    for i in range(50):
        sub = d / f"tasks/t{i:02d}"
        sub.mkdir(parents=True)
        for j in range(20):
            (sub / f"f{j}.py").write_text(f"# task {i} file {j}\n" * 20)
    (d / "fusionizer.yaml").write_text("x: 1\n")
    src = DirectorySource(d / "fusionizer.yaml")
    timings = []
    for _ in range(3):
        t = time.perf_counter()
        rev = src.resolve()
        timings.append(time.perf_counter() - t)
    assert rev.startswith("dir:")
    assert min(timings) < 0.1, f"1,001 files took {min(timings) * 1000:.1f} ms"


def test_short_revision() -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert short_revision(sha) == "0123456789ab"
    assert short_revision("dir:" + "f" * 64) == "dir:" + "f" * 12
    assert short_revision("") == ""
