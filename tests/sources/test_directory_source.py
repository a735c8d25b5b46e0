"""DirectorySource: the directory as it is, identified by a digest of its relevant content."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from fusionizer.sources import DirectorySource, SourceError, open_source, short_revision, tree_digest
from fusionizer.sources.scope import Scope


PLAN = "apiVersion: fusionizer.io/v1\nspec:\n  taskDirs: [tasks]\n"


@pytest.fixture
def plan_dir(tmp_path: Path) -> Path:
    d = tmp_path / "plan"
    (d / "tasks/a").mkdir(parents=True)
    (d / "fusionizer.yaml").write_text(PLAN)
    (d / "tasks/a/main.py").write_text("def handler(context, event):\n    return 'a'\n")
    (d / "tasks/a/function.yaml").write_text("spec: {}\n")
    return d


def digest(d: Path) -> str:
    return DirectorySource(d / "fusionizer.yaml").resolve()


def write(root: Path, rel: str, content: str = "noise") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


def test_snapshot_fields(plan_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(plan_dir.parent)
    src = DirectorySource(Path("plan/fusionizer.yaml"))
    snap = src.snapshot()
    assert snap.root == plan_dir and snap.root.is_absolute()
    assert snap.plan_file == plan_dir / "fusionizer.yaml"
    assert snap.revision.startswith("dir:") and len(snap.revision) == 4 + 64
    assert snap.revision == tree_digest(plan_dir / "fusionizer.yaml") == src.resolve()
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
    (plan_dir / "tasks/a/ab").write_text("c")
    d1 = digest(plan_dir)
    (plan_dir / "tasks/a/ab").unlink()
    (plan_dir / "tasks/a/a").write_text("bc")
    assert digest(plan_dir) != d1


@pytest.mark.parametrize(
    "rel",
    [
        ".git/index",
        "tasks/a/.git/objects/ab/cdef",
        "tasks/a/__pycache__/main.cpython-311.pyc",
        "tasks/a/main.pyc",
        "tasks/a/.venv/lib/site.py",
        "tasks/a/.fusionizer/state.json",
        "tasks/a/.main.py.swp",
        "tasks/a/.main.py.swo",
        "tasks/a/main.py~",
        "tasks/a/.#main.py",
        "tasks/a/#main.py#",
        "tasks/a/4913",
        "tasks/a/.hypothesis/examples/1a/2b",
        "tasks/a/.mypy_cache/3.11/main.data.json",
        "tasks/a/.pytest_cache/v/cache/lastfailed",
        "tasks/a/.coverage",
        "tasks/a/sedOyOdoS",  # what `sed -i` writes before renaming it over the file
        ".hypothesis/examples/1a/2b",
        ".mypy_cache/3.11/x.json",
    ],
)
def test_ignored_files_change_neither_the_digest_nor_wake_watch(plan_dir: Path, rel: str) -> None:
    base = digest(plan_dir)
    write(plan_dir, rel)
    assert digest(plan_dir) == base
    assert DirectorySource(plan_dir).ignored(rel) is not None


@pytest.mark.parametrize(
    "rel",
    [
        "watch.log", "nohup.out", "notes/todo.md", ".coverage", "tasks/README.md", "tasks/notask/x.py",
        "tasks/.hidden/function.yaml", "other/fusionizer.yaml",
    ],
)
def test_files_beside_what_the_plan_builds_from_change_nothing(plan_dir: Path, rel: str) -> None:
    base = digest(plan_dir)
    write(plan_dir, rel)
    assert digest(plan_dir) == base
    shown = DirectorySource(plan_dir).ignored(rel)
    assert shown is not None and rel.startswith(shown.rstrip("/"))


def test_the_ignored_part_is_shown_as_its_outermost_directory(plan_dir: Path) -> None:
    src = DirectorySource(plan_dir)
    assert src.ignored("notes/2024/todo.md") == "notes/"
    assert src.ignored("tasks/notask/x.py") == "tasks/notask/"
    assert src.ignored("tasks/a/.mypy_cache/3.11/x.json") == "tasks/a/.mypy_cache/"
    assert src.ignored("tasks/a/.main.py.swo") == "tasks/a/.main.py.swo"
    assert src.ignored("build", is_dir=True) == "build/"


@pytest.mark.parametrize(
    "rel",
    [
        "fusionizer.yaml", "tasks/a/main.py", "tasks/a/gitlike.git.py", "tasks/a/venv/x.py", "tasks/a/4913.py",
        "tasks/a/a.swpx", "tasks/a/sed_util.py", "tasks/a/sedimentary", ".gitignore", ".fusionizerignore",
        "tasks/.gitignore", "tasks/a/.fusionizerignore", "tasks/a/data/.gitignore", "tasks/b/function.yaml",
    ],
)
def test_what_the_plan_builds_from_changes_the_digest_and_wakes_watch(plan_dir: Path, rel: str) -> None:
    assert DirectorySource(plan_dir).ignored(rel) is None
    base = digest(plan_dir)
    write(plan_dir, rel, "# changed\n")
    assert digest(plan_dir) != base


def test_a_task_directory_appearing_or_going_wakes_watch(plan_dir: Path) -> None:
    src = DirectorySource(plan_dir)
    assert src.ignored("tasks/b", is_dir=True) is None  # created, or moved in whole: it may be a task
    assert src.ignored("tasks/a", is_dir=True) is None  # removed whole
    assert src.ignored("tasks", is_dir=True) is None
    write(plan_dir, "tasks/b/function.yaml", "spec: {}\n")  # a new task, not in the cached scope yet
    assert src.ignored("tasks/b/main.py") is None


def test_user_ignore_files_decide_with_git_precedence(plan_dir: Path) -> None:
    base = digest(plan_dir)
    write(plan_dir, ".gitignore", "*.csv\n/tasks/a/scratch/\n")
    ruled = digest(plan_dir)
    assert ruled != base  # the rules themselves count
    write(plan_dir, "tasks/a/data.csv")
    write(plan_dir, "tasks/a/scratch/x.py")
    assert digest(plan_dir) == ruled
    src = DirectorySource(plan_dir)
    assert src.ignored("tasks/a/data.csv") == "tasks/a/data.csv"
    assert src.ignored("tasks/a/scratch/x.py") == "tasks/a/scratch/"
    # .fusionizerignore comes after .gitignore in the same directory, a deeper one after both
    write(plan_dir, ".fusionizerignore", "!keep.csv\n")
    write(plan_dir, "tasks/a/keep.csv")
    write(plan_dir, "tasks/a/.fusionizerignore", "!data.csv\nmain.py\n")
    assert src.ignored("tasks/a/keep.csv") is None and src.ignored("tasks/a/data.csv") is None
    assert src.ignored("tasks/a/main.py") == "tasks/a/main.py"
    # nothing below an excluded directory comes back, as in git
    write(plan_dir, "tasks/a/.gitignore", "!scratch/x.py\n")
    assert src.ignored("tasks/a/scratch/x.py") == "tasks/a/scratch/"
    # a default can be re-included; a lone "!" (which git skips) is skipped
    write(plan_dir, "tasks/a/.fusionizerignore", "!\n!*.swo\n")
    assert src.ignored("tasks/a/.main.py.swo") is None


def test_an_ignore_file_edited_keeping_size_and_mtime_is_read_again(plan_dir: Path) -> None:
    # As the digests' cache (fusionizer.filecache), the parsed rules must see such an edit
    # (an rsync or cp -p of a same-sized file): its ctime moves.
    src = DirectorySource(plan_dir)
    rules = plan_dir / "tasks/a/.fusionizerignore"
    rules.write_text("x.txt\n")
    assert src.ignored("tasks/a/x.txt") == "tasks/a/x.txt" and src.ignored("tasks/a/y.txt") is None
    before = os.stat(rules)
    rules.write_text("y.txt\n")
    deadline = time.monotonic() + 5
    while True:  # utime moves ctime to now: on a coarse file clock, until the next tick
        os.utime(rules, ns=(before.st_atime_ns, before.st_mtime_ns))
        if os.stat(rules).st_ctime_ns != before.st_ctime_ns or time.monotonic() > deadline:
            break
    after = os.stat(rules)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    assert src.ignored("tasks/a/x.txt") is None and src.ignored("tasks/a/y.txt") == "tasks/a/y.txt"


def test_explicit_tasks_and_the_optimizer_module_count_but_nothing_outside_the_directory(plan_dir: Path) -> None:
    write(plan_dir.parent, "shared/t/main.py", "X = 1\n")
    write(plan_dir, "fusionizer.yaml", PLAN + "  tasks:\n    - {name: t, path: ../shared/t}\n"
          "    - {name: later, path: later}\n  optimizer: {class: 'myopt.greedy:Greedy'}\n")
    src = DirectorySource(plan_dir)
    seen = [digest(plan_dir)]
    for rel in ("myopt/greedy.py", "myopt.py", "later/main.py"):
        assert src.ignored(rel) is None, rel
        write(plan_dir, rel, "X = 2\n")
        seen.append(digest(plan_dir))
        assert seen[-1] != seen[-2], rel
    write(plan_dir, "myopt/.mypy_cache/x.json")
    # A task outside the plan's directory is refused by the plan; the source reads nothing of it.
    write(plan_dir.parent, "shared/t/main.py", "X = 2\n")
    assert digest(plan_dir) == seen[-1]
    assert not [d for d in Scope.of(plan_dir / "fusionizer.yaml").directories if d == ".." or d.startswith("../")]


def test_an_unreadable_plan_has_only_itself_in_scope(plan_dir: Path) -> None:
    write(plan_dir, "fusionizer.yaml", "spec: [unclosed\n")
    base = digest(plan_dir)
    write(plan_dir, "tasks/a/main.py", "changed = True\n")
    assert digest(plan_dir) == base
    assert DirectorySource(plan_dir).ignored("fusionizer.yaml") is None


def test_symlinks(plan_dir: Path) -> None:
    shared = plan_dir.parent / "shared"
    shared.mkdir()
    (shared / "lib.py").write_text("V = 1\n")
    os.symlink(shared, plan_dir / "tasks/a/shared")  # a symlinked dir is followed
    os.symlink(plan_dir, plan_dir / "tasks/a/loop")  # a cycle is walked once, not forever
    os.symlink(plan_dir / "nowhere", plan_dir / "tasks/a/dangling")  # nothing to build from: no content
    base = digest(plan_dir)
    (shared / "lib.py").write_text("V = 2\n")
    assert digest(plan_dir) != base
    before = digest(plan_dir)
    (plan_dir / "tasks/a/dangling").unlink()
    os.symlink(plan_dir / "elsewhere", plan_dir / "tasks/a/dangling")
    assert digest(plan_dir) == before
    (plan_dir / "elsewhere").write_text("now a file\n")  # the link resolves: it is content now
    assert digest(plan_dir) != before


def test_short_revision() -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert short_revision(sha) == "0123456789ab"
    assert short_revision("dir:" + "f" * 64) == "dir:" + "f" * 12
    assert short_revision("") == ""
