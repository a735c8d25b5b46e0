"""GitSource against real local repositories (bare and non-bare, path and file:// URLs)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, List

import pytest

from fusionizer.errors import FusionizerError
from fusionizer.sources import GitSource, Snapshot, SourceError, default_cache_dir, open_source
from fusionizer.sources import gitsource as gitsource_mod


def checkouts(cache: Path) -> List[str]:
    d = cache / "checkouts"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


# ---------------------------------------------------------------- refs


def test_default_ref_is_the_remotes_head_branch(make_origin: Callable[..., Any], cache: Path) -> None:
    o = make_origin(branch="trunk")
    o.branch("other")
    o.checkout("other")
    other_sha = o.commit({"fusionizer.yaml": "# other\n"})
    o.checkout("trunk")
    trunk_sha = o.sha("trunk")
    assert other_sha != trunk_sha

    src = GitSource(str(o.path), cache_dir=cache)
    snap = src.snapshot()
    assert snap.revision == trunk_sha
    assert snap.ref == "trunk"
    assert snap.description == f"git {o.path}@trunk ({trunk_sha[:7]})"
    assert src.resolve() == trunk_sha
    assert src.describe() == f"git {o.path}@HEAD"


def test_branch(origin: Any, cache: Path) -> None:
    origin.branch("dev")
    origin.checkout("dev")
    dev_sha = origin.commit({"fusionizer.yaml": "# dev\n"})
    snap = GitSource(str(origin.path), ref="dev", cache_dir=cache).snapshot()
    assert snap.revision == dev_sha
    assert snap.plan_file.read_text() == "# dev\n"
    assert snap.root == cache / "checkouts" / dev_sha
    assert snap.plan_file == snap.root / "fusionizer.yaml"
    assert snap.ref == "dev"


@pytest.mark.parametrize("annotated", [False, True], ids=["lightweight", "annotated"])
def test_tag_resolves_to_its_commit(origin: Any, cache: Path, annotated: bool) -> None:
    tagged = origin.sha()
    origin.tag("v1.0", annotated=annotated)
    origin.commit({"fusionizer.yaml": "# later\n"})
    origin.push()
    src = GitSource(str(origin.path), ref="v1.0", cache_dir=cache)
    assert src.resolve() == tagged  # annotated tags are peeled to the commit
    snap = src.snapshot()
    assert snap.revision == tagged
    assert "# v1" in snap.plan_file.read_text()
    assert GitSource(str(origin.path), ref="refs/tags/v1.0", cache_dir=cache).snapshot().revision == tagged


def test_branch_wins_over_tag_of_the_same_name_and_full_refs_disambiguate(origin: Any, cache: Path) -> None:
    first = origin.sha()
    origin.tag("same")
    origin.branch("same")
    origin.checkout("same")
    second = origin.commit({"fusionizer.yaml": "# branch\n"})
    url = str(origin.path)
    assert GitSource(url, ref="same", cache_dir=cache).resolve() == second
    assert GitSource(url, ref="refs/tags/same", cache_dir=cache).snapshot().revision == first
    assert GitSource(url, ref="refs/heads/same", cache_dir=cache).snapshot().revision == second


def test_full_sha_needs_no_network_once_checked_out(origin: Any, cache: Path) -> None:
    first = origin.sha()
    origin.commit({"fusionizer.yaml": "# second\n"})
    src = GitSource(str(origin.path), ref=first, cache_dir=cache)
    assert src.resolve() == first  # no git at all
    snap = src.snapshot()
    assert snap.revision == first and snap.ref == first
    assert snap.description == f"git {origin.path}@{first[:12]}"
    shutil.rmtree(origin.path)  # the remote is gone: a pinned commit still works from the cache
    again = GitSource(str(origin.path), ref=first.upper(), cache_dir=cache).snapshot()
    assert again == snap


def test_abbreviated_sha_of_a_tip_and_of_an_older_commit(origin: Any, cache: Path) -> None:
    first = origin.sha()
    second = origin.commit({"fusionizer.yaml": "# second\n"})
    origin.commit({"fusionizer.yaml": "# third\n"})
    url = str(origin.path)
    tip = origin.sha()
    assert GitSource(url, ref=tip[:7], cache_dir=cache).snapshot().revision == tip
    src = GitSource(url, ref=first[:8], cache_dir=cache)
    assert src.resolve() == first
    assert src.snapshot().revision == first
    abbrev = GitSource(url, ref=second[:10].upper(), cache_dir=cache)
    snap = abbrev.snapshot()
    assert snap.revision == second and snap.ref == second[:10]
    assert snap.plan_file.read_text() == "# second\n"
    assert abbrev.snapshot() == snap  # remembered: the same answer without asking again
    assert abbrev.resolve() == second


def test_sha_fetch_refused_falls_back_to_a_full_fetch(
    origin: Any, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Protocol v0 upload-pack refuses unadvertised objects ("Server does not allow request for
    # unadvertised object"), like servers without allowReachableSHA1InWant.
    first = origin.sha()
    origin.commit({"fusionizer.yaml": "# second\n"})
    GitSource(str(origin.path), cache_dir=cache).snapshot()  # a shallow cache exists already
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "protocol.version")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "0")
    snap = GitSource(str(origin.path), ref=first, cache_dir=cache).snapshot()
    assert snap.revision == first
    assert "# v1" in snap.plan_file.read_text()


def test_commit_not_in_the_remote(origin: Any, cache: Path) -> None:
    with pytest.raises(SourceError) as e:
        GitSource(str(origin.path), ref="0123456789abcdef0123456789abcdef01234567", cache_dir=cache).snapshot()
    assert "'0123456789abcdef0123456789abcdef01234567' not found in" in str(e.value)
    assert "available: main" in str(e.value)


# ---------------------------------------------------------------- moving refs


def test_new_commit_gives_a_new_checkout_and_keeps_the_old_one(origin: Any, cache: Path) -> None:
    src = GitSource(str(origin.path), ref="main", cache_dir=cache)
    old = src.snapshot()
    assert src.resolve() == old.revision
    new_sha = origin.commit({"fusionizer.yaml": "# v2\n", "tasks/a/main.py": None})
    assert src.resolve() == new_sha
    new = src.snapshot()
    assert new.revision == new_sha != old.revision
    assert new.root != old.root
    assert new.plan_file.read_text() == "# v2\n"
    assert not (new.root / "tasks/a/main.py").exists()
    # the old snapshot is untouched: a reconcile reading it never sees a half-updated tree
    assert "# v1" in old.plan_file.read_text()
    assert (old.root / "tasks/a/main.py").read_text() == "X = 1\n"
    assert checkouts(cache) == sorted([old.revision, new.revision])
    # no change: same snapshot, same directory
    assert src.snapshot() == new


def test_force_push_rewritten_branch_is_followed(origin: Any, cache: Path, run_git: Callable[..., str]) -> None:
    base = origin.sha()
    doomed = origin.commit({"fusionizer.yaml": "# doomed\n"})
    src = GitSource(str(origin.path), ref="main", cache_dir=cache)
    assert src.snapshot().revision == doomed
    run_git(origin.work, "reset", "-q", "--hard", base)
    rewritten = origin.commit({"fusionizer.yaml": "# rewritten\n"}, push=False)
    origin.push("main", force=True)
    assert rewritten != doomed
    assert src.resolve() == rewritten
    snap = src.snapshot()
    assert snap.revision == rewritten
    assert snap.plan_file.read_text() == "# rewritten\n"


def test_moved_tag_is_followed(origin: Any, cache: Path, run_git: Callable[..., str]) -> None:
    origin.tag("stable")
    origin.push("refs/tags/stable")
    src = GitSource(str(origin.path), ref="stable", cache_dir=cache)
    first = src.snapshot().revision
    second = origin.commit({"fusionizer.yaml": "# moved\n"})
    run_git(origin.work, "tag", "-f", "stable")
    origin.push("refs/tags/stable", force=True)
    assert src.snapshot().revision == second != first


# ---------------------------------------------------------------- URL kinds


@pytest.mark.parametrize("bare", [True, False], ids=["bare", "non-bare"])
@pytest.mark.parametrize("style", ["path", "file-url", "relative-path"])
def test_bare_and_non_bare_repos_by_path_and_file_url(
    make_origin: Callable[..., Any], cache: Path, bare: bool, style: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    o = make_origin(bare=bare)
    if style == "path":
        url = str(o.path)
    elif style == "file-url":
        url = o.path.as_uri()
    else:
        monkeypatch.chdir(o.path.parent)
        url = os.path.join(".", o.path.name)
    src = GitSource(url, cache_dir=cache)
    snap = src.snapshot()
    assert snap.revision == o.sha()
    assert snap.description.startswith(f"git {url}@main (")
    assert (snap.root / "tasks/a/main.py").read_text() == "X = 1\n"
    assert not (snap.root / ".git").exists()
    assert src.resolve() == snap.revision


def test_non_bare_origin_gives_committed_content_only(make_origin: Callable[..., Any], cache: Path) -> None:
    o = make_origin(bare=False)
    (o.work / "fusionizer.yaml").write_text("# uncommitted edit\n")
    (o.work / "untracked.txt").write_text("x")
    snap = GitSource(str(o.work), cache_dir=cache).snapshot()
    assert "# v1" in snap.plan_file.read_text()
    assert not (snap.root / "untracked.txt").exists()


def test_default_cache_dir_is_per_url_under_fusionizer_home(origin: Any, fusionizer_home: Path) -> None:
    url = str(origin.path)
    expected = default_cache_dir(url)
    assert expected.parent == fusionizer_home / "git"
    assert len(expected.name) == 16
    assert default_cache_dir(url) != default_cache_dir(origin.path.as_uri())
    snap = GitSource(url).snapshot()
    assert snap.root == expected / "checkouts" / snap.revision
    assert (expected / "repo.git" / "HEAD").is_file()
    # relative and absolute spellings of the same local path share one cache
    assert default_cache_dir(os.path.relpath(url)) == expected


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("style", ["path", "file-url"])
def test_unreachable_remote_names_the_url_and_gits_words(tmp_path: Path, cache: Path, style: str) -> None:
    missing = tmp_path / "no-such-repo"
    url = str(missing) if style == "path" else missing.as_uri()
    src = GitSource(url, cache_dir=cache)
    for call in (src.snapshot, src.resolve):
        with pytest.raises(SourceError) as e:
            call()
        msg = str(e.value)
        assert msg.startswith(f"cannot reach git repository {url}: ")
        assert "does not appear to be a git repository" in msg
        assert "\n" not in msg
    assert isinstance(e.value, FusionizerError)
    assert not cache.exists()  # a typo'd URL leaves no cache behind


def test_unknown_ref_lists_available_branches_and_tags(origin: Any, cache: Path) -> None:
    origin.branch("dev")
    origin.tag("v1")
    origin.push()
    src = GitSource(str(origin.path), ref="nope", cache_dir=cache)
    with pytest.raises(SourceError) as e:
        src.snapshot()
    assert str(e.value) == f"branch or tag 'nope' not found in {origin.path}; available: dev, main, v1"
    with pytest.raises(SourceError, match="branch or tag 'nope' not found"):
        src.resolve()
    # hex-looking but neither a ref nor a commit
    with pytest.raises(SourceError, match=r"branch, tag or commit 'abcdef1' not found in .*available: dev, main, v1"):
        GitSource(str(origin.path), ref="abcdef1", cache_dir=cache).snapshot()


def test_plan_file_missing_at_that_commit(origin: Any, cache: Path) -> None:
    sha = origin.sha()
    with pytest.raises(SourceError) as e:
        GitSource(str(origin.path), plan_path="deploy/fusionizer.yaml", cache_dir=cache).snapshot()
    assert str(e.value) == f"deploy/fusionizer.yaml not found at {sha[:12]} of {origin.path}; use --plan-path"
    assert checkouts(cache) == []  # nothing materialised for a revision without a plan
    with pytest.raises(SourceError, match="tasks is a directory, not a file"):
        GitSource(str(origin.path), plan_path="tasks", cache_dir=cache).snapshot()
    GitSource(str(origin.path), cache_dir=cache).snapshot()  # the checkout exists now
    with pytest.raises(SourceError, match=f"tasks is a directory, not a file, at {sha[:12]}"):
        GitSource(str(origin.path), plan_path="tasks", cache_dir=cache).snapshot()
    with pytest.raises(SourceError, match=f"other.yaml not found at {sha[:12]}"):
        GitSource(str(origin.path), plan_path="other.yaml", cache_dir=cache).snapshot()
    # removed in a later commit: that commit is rejected, the old one still works
    gone = origin.commit({"fusionizer.yaml": None})
    with pytest.raises(SourceError, match=f"fusionizer.yaml not found at {gone[:12]}"):
        GitSource(str(origin.path), cache_dir=cache).snapshot()
    assert GitSource(str(origin.path), ref=sha, cache_dir=cache).snapshot().revision == sha


def test_plan_path_in_a_subdirectory(origin: Any, cache: Path) -> None:
    origin.commit({"deploy/prod/fusionizer.yaml": "# prod\n"})
    src = GitSource(str(origin.path), plan_path="./deploy/prod/fusionizer.yaml", cache_dir=cache)
    assert src.plan_path == "deploy/prod/fusionizer.yaml"
    assert src.describe() == f"git {origin.path}@HEAD (deploy/prod/fusionizer.yaml)"
    snap = src.snapshot()
    assert snap.plan_file == snap.root / "deploy/prod/fusionizer.yaml"
    assert snap.plan_file.read_text() == "# prod\n"


@pytest.mark.parametrize("bad", ["", "/etc/fusionizer.yaml", "../fusionizer.yaml", "a/../../b.yaml", "."])
def test_plan_path_must_stay_inside_the_repo(origin: Any, cache: Path, bad: str) -> None:
    with pytest.raises(SourceError, match="plan-path"):
        GitSource(str(origin.path), plan_path=bad, cache_dir=cache)


def test_empty_remote(make_origin: Callable[..., Any], cache: Path) -> None:
    o = make_origin(first_commit=False)
    with pytest.raises(SourceError, match="has no commits"):
        GitSource(str(o.path), cache_dir=cache).snapshot()
    with pytest.raises(SourceError, match=r"available: none \(the repository has no branches or tags\)"):
        GitSource(str(o.path), ref="main", cache_dir=cache).snapshot()


def test_empty_url_is_refused() -> None:
    with pytest.raises(SourceError, match="git URL is empty"):
        GitSource("  ")


# ---------------------------------------------------------------- the checkout itself


def test_checkout_is_the_exact_tree_of_the_commit(origin: Any, cache: Path, run_git: Callable[..., str]) -> None:
    w = origin.work
    (w / "tasks/b").mkdir(parents=True)
    (w / "tasks/b/run.sh").write_text("#!/bin/sh\n")
    (w / "tasks/b/run.sh").chmod(0o755)
    os.symlink("../a/main.py", w / "tasks/b/link.py")
    (w / ".gitattributes").write_text("*.txt export-ignore\n")  # honoured by git archive, not by us
    (w / "notes.txt").write_text("kept\n")
    sha = origin.commit({})
    root = GitSource(str(origin.path), cache_dir=cache).snapshot().root
    assert root.name == sha
    assert os.readlink(root / "tasks/b/link.py") == "../a/main.py"
    assert (root / "tasks/b/link.py").read_text() == "X = 1\n"
    assert os.stat(root / "tasks/b/run.sh").st_mode & stat.S_IXUSR
    assert (root / "notes.txt").read_text() == "kept\n"
    tracked = set(run_git(w, "ls-files").splitlines())
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()}
    assert on_disk == tracked


def test_concurrent_snapshots_of_the_same_sha_are_safe(origin: Any, cache: Path) -> None:
    origin.commit({f"tasks/t{i}/main.py": f"N = {i}\n" for i in range(50)})
    n = 6
    barrier = threading.Barrier(n)
    results: List[Snapshot] = []
    errors: List[BaseException] = []

    def worker() -> None:
        try:
            src = GitSource(str(origin.path), ref="main", cache_dir=cache)  # separate instances
            barrier.wait()
            results.append(src.snapshot())
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == n and len(set(results)) == 1
    snap = results[0]
    assert checkouts(cache) == [snap.revision]  # one checkout, no temp dirs left behind
    assert len(list((snap.root / "tasks").iterdir())) == 51
    assert not list(cache.glob("checkouts/*.index"))


def test_concurrent_snapshots_from_several_processes_are_safe(origin: Any, cache: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from fusionizer.sources import GitSource; "
        "print(GitSource(sys.argv[1], cache_dir=Path(sys.argv[2])).snapshot().root)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(origin.path), str(cache)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    roots = {out.strip() for out, _ in outs}
    assert roots == {str(cache / "checkouts" / origin.sha())}
    assert checkouts(cache) == [origin.sha()]


def test_old_checkouts_are_pruned_keeping_the_last_few(origin: Any, cache: Path) -> None:
    src = GitSource(str(origin.path), cache_dir=cache, keep_checkouts=2)
    shas = [src.snapshot().revision]
    for i in range(3):
        # age the existing checkouts past the grace period (a reconcile may still read fresh
        # ones), keeping their order of use
        for k, sha in enumerate(shas):
            d = cache / "checkouts" / sha
            if d.exists():
                old = time.time() - gitsource_mod.PRUNE_GRACE_SECONDS - 100 + k
                os.utime(d, (old, old))
        origin.commit({"fusionizer.yaml": f"# {i}\n"})
        shas.append(src.snapshot().revision)
    assert checkouts(cache) == sorted(shas[-2:])
    # keep_checkouts=1 keeps only the new one, but a recently used checkout (shas[-1]) is
    # never pruned: a reconcile may still be reading it; the aged shas[-2] goes
    src2 = GitSource(str(origin.path), ref=shas[0], cache_dir=cache, keep_checkouts=1)
    src2.snapshot()
    assert set(checkouts(cache)) == {shas[0], shas[-1]}


def test_leftovers_of_a_crash_are_cleaned(origin: Any, cache: Path) -> None:
    src = GitSource(str(origin.path), cache_dir=cache)
    src.snapshot()
    crashed = cache / "checkouts" / ".tmp-deadbeef-x"
    (crashed / "sub").mkdir(parents=True)
    (cache / "checkouts" / ".tmp-deadbeef-x.index").write_text("")
    origin.commit({"fusionizer.yaml": "# next\n"})
    src.snapshot()
    assert not crashed.exists()
    assert not (cache / "checkouts" / ".tmp-deadbeef-x.index").exists()


def test_a_broken_cache_repo_is_recreated(origin: Any, cache: Path) -> None:
    GitSource(str(origin.path), cache_dir=cache).snapshot()
    shutil.rmtree(cache / "checkouts")
    (cache / "repo.git" / "HEAD").unlink()  # corrupt the bare repo
    snap = GitSource(str(origin.path), cache_dir=cache).snapshot()
    assert snap.revision == origin.sha()


def test_inherited_git_dir_from_a_hook_is_ignored(
    origin: Any, make_origin: Callable[..., Any], cache: Path, monkeypatch: pytest.MonkeyPatch,
    run_git: Callable[..., str],
) -> None:
    # a post-receive hook runs `fusionizer apply --git ...` with GIT_DIR set to the pushed repo
    other = make_origin("other")
    assert other.bare is not None
    before = run_git(other.bare, "for-each-ref")
    monkeypatch.setenv("GIT_DIR", str(other.bare))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other.bare / "index"))
    snap = GitSource(str(origin.path), cache_dir=cache).snapshot()
    monkeypatch.delenv("GIT_DIR")
    monkeypatch.delenv("GIT_INDEX_FILE")
    assert snap.revision == origin.sha()
    assert run_git(other.bare, "for-each-ref") == before
    assert not (other.bare / "index").exists()
    assert not (cache / "repo.git" / "index").exists()  # our own temp index was used, then removed


# ---------------------------------------------------------------- snapshot and open_source


def test_snapshot_is_frozen(origin: Any, cache: Path) -> None:
    snap = GitSource(str(origin.path), cache_dir=cache).snapshot()
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.revision = "x"  # type: ignore[misc]
    assert snap.is_git
    assert snap.short_revision == snap.revision[:12]


def test_open_source_picks_git_or_directory(origin: Any, cache: Path, tmp_path: Path) -> None:
    src = open_source(None, str(origin.path), "main", "fusionizer.yaml", cache)
    assert isinstance(src, GitSource)
    assert src.ref == "main" and src.cache_dir == cache
    assert open_source(git_url=str(origin.path)).plan_path == "fusionizer.yaml"  # type: ignore[attr-defined]
    with pytest.raises(SourceError, match="exclusive"):
        open_source(tmp_path / "fusionizer.yaml", str(origin.path))
    with pytest.raises(SourceError, match="--ref needs --git"):
        open_source(None, None, "main")
    with pytest.raises(SourceError, match="--plan-path needs --git"):
        open_source(None, None, None, "x.yaml")
