"""A plan in a git repository: one commit, fetched shallowly, checked out read-only-by-convention.

Layout of the cache (one per repository URL, default ``$FUSIONIZER_HOME/git/<sha256(url)[:16]>``)::

    repo.git/              bare repo; fetched refs live under refs/fusionizer/...
    checkouts/<sha>/       the tree of one commit, created atomically, never written again
    checkouts/.tmp-*       a checkout being extracted (renamed into place when complete)
    lock                   flock()ed while the cache is changed (threads and processes)

How a ref is resolved (like Flux's source-controller and Argo CD's repo-server):

* no ref / ``HEAD``: the remote's HEAD branch (``git ls-remote --symref URL HEAD``);
* a name: ``refs/heads/<name>``, else ``refs/tags/<name>`` (annotated tags are peeled to
  their commit); a full ``refs/...`` name is taken as is;
* 40 (or 64) hex digits: that commit, no ``ls-remote`` needed; 7 or more hex digits that
  name no branch or tag: the commit they abbreviate.

Branches and tags are fetched with ``--depth 1`` and a forced refspec, so force pushes and
rewritten history are followed. A commit sha is fetched by itself (protocol v2 servers allow
that) and, if the server refuses, by a full fetch. Nothing but the given URL is contacted.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, cast

from fusionizer import paths
from fusionizer.paths import DEFAULT_PLAN_FILE
from fusionizer.paths import home as fusionizer_home
from fusionizer.sources.base import Snapshot, SourceError

if TYPE_CHECKING:  # GitPython takes ~50 ms to import: only the methods that run git import it
    import git

if sys.platform != "win32":
    import fcntl

FULL_SHA = re.compile(r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")
ABBREV_SHA = re.compile(r"^[0-9a-fA-F]{7,63}$")

# Never prompt: no terminal prompt for credentials, no Git Credential Manager dialog. Every
# git process also runs in its own session (no controlling terminal), so ssh cannot ask for
# a passphrase or a host key confirmation either: it fails, and we report its words.
GIT_ENV: Mapping[str, str] = {"GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}

# Repository-scoped variables git itself clears before working in another repository
# (`git rev-parse --local-env-vars`, plus the receive-pack quarantine and namespaces). A
# post-receive hook runs us with GIT_DIR set to the pushed-to repo: the cache must not
# inherit it. Config variables (GIT_CONFIG_*) are user settings and are kept.
SCRUBBED_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_GRAFT_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX",
    "GIT_INTERNAL_SUPER_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
    "GIT_QUARANTINE_PATH",
    "GIT_NAMESPACE",
)

KEEP_CHECKOUTS = 5  # newest checkouts kept per repository
PRUNE_GRACE_SECONDS = 600.0  # a checkout used this recently is never pruned (a reconcile may read it)
DEFAULT_TIMEOUT = 120.0  # seconds for one git network operation
MAX_LISTED_REFS = 20

_FETCH_NS = "refs/fusionizer/"

_registry_lock = threading.Lock()
_thread_locks: Dict[str, threading.Lock] = {}


def default_cache_dir(url: str) -> Path:
    """``$FUSIONIZER_HOME/git/<sha256(url)[:16]>`` for a normalised URL."""
    key = hashlib.sha256(normalize_url(url).encode("utf-8")).hexdigest()[:16]
    return fusionizer_home() / "git" / key


def normalize_url(url: str) -> str:
    """A local path becomes absolute (so the cache key and fetches do not depend on the
    working directory); URLs (``file://``, ``https://``, ``ssh://``, ``host:path``) are kept."""
    if "://" not in url:
        expanded = os.path.expanduser(url)
        if os.path.exists(expanded):
            return os.path.abspath(expanded)
    return url


def _git_words(stderr: str) -> str:
    """git's own message, trimmed: its ``fatal:``/``error:`` lines when it printed any (without
    the prefix), else everything it said; progress noise dropped, one line."""
    lines = [ln.strip() for ln in stderr.replace("\r", "\n").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith(("remote: Counting", "remote: Compressing", "From "))]
    errors = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith(("fatal:", "error:"))]
    chosen = [e for e in errors if e] or lines
    return "; ".join(chosen) if chosen else "(git printed no reason)"


@dataclass(frozen=True)
class _Target:
    """What a ref named, as far as ``ls-remote`` could tell."""

    kind: str  # "branch" | "tag" | "ref" | "head" (detached remote HEAD) | "commit"
    name: str  # for display: main, v1.2, HEAD, or the sha as given
    refname: Optional[str]  # remote ref to fetch (refs/heads/main, HEAD); None for a commit
    sha: Optional[str]  # commit sha (peeled); None for an abbreviated sha not at any ref tip


class GitSource:
    """A plan file inside a git repository, at a branch, a tag or a commit.

    ``url`` is anything ``git fetch`` accepts (``https://``, ``ssh://``, ``file://``, a local
    path to a bare or non-bare repository). ``cache_dir`` is this repository's cache (default
    :func:`default_cache_dir`); sharing one between threads or processes is safe.
    """

    def __init__(
        self,
        url: str,
        ref: Optional[str] = None,
        plan_path: str = DEFAULT_PLAN_FILE,
        cache_dir: Optional[Path] = None,
        *,
        keep_checkouts: int = KEEP_CHECKOUTS,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not url or not url.strip():
            raise SourceError("git URL is empty; pass --git URL (a remote URL or a local repository path)")
        self.url = url.strip()
        self.fetch_url = normalize_url(self.url)
        ref = ref.strip() if ref is not None else None
        self.ref: Optional[str] = ref or None
        self.plan_path = _check_plan_path(plan_path)
        self.cache_dir = Path(os.path.abspath(cache_dir if cache_dir is not None else default_cache_dir(self.url)))
        self.repo_dir = self.cache_dir / "repo.git"
        self.checkouts_dir = self.cache_dir / "checkouts"
        self.keep_checkouts = max(1, keep_checkouts)
        self.timeout = timeout
        self._pinned: Optional[str] = self.ref.lower() if self.ref and FULL_SHA.match(self.ref) else None
        self._repo: Optional[git.Repo] = None

    # ------------------------------------------------------------------ public API

    def describe(self) -> str:
        where = f"git {self.url}@{self.ref or 'HEAD'}"
        return where if self.plan_path == DEFAULT_PLAN_FILE else f"{where} ({self.plan_path})"

    def resolve(self) -> str:
        """The full sha of the commit the ref names now. Branches and tags cost one
        ``git ls-remote``; a full sha costs nothing; an abbreviated sha that is no ref tip is
        expanded from the cache (fetching once if needed) and remembered."""
        if self._pinned:
            return self._pinned
        target = self._target()
        if target.kind != "commit":
            assert target.sha is not None
            return target.sha
        sha = target.sha
        if sha is None:
            with self._locked():
                sha = self._expand_abbrev(target.name)
        self._pinned = sha
        return sha

    def snapshot(self) -> Snapshot:
        """Fetch what is needed and return the checkout of the resolved commit."""
        if self._pinned:  # a commit: nothing to ask the remote
            target = _Target("commit", (self.ref or self._pinned).lower(), None, self._pinned)
        else:
            target = self._target()
        with self._locked():
            if target.kind == "commit":
                sha = target.sha or self._expand_abbrev(target.name)
                if not (self.checkouts_dir / sha).is_dir():
                    self._ensure_commit(sha, asked=target.name)
                self._pinned = sha
            else:
                assert target.sha is not None and target.refname is not None
                sha = target.sha
                if not (self.checkouts_dir / sha).is_dir():
                    # ls-remote told us the tip; the fetch decides (the ref may have moved since)
                    sha = self._fetch_ref(target)
            root = self._materialise(sha)
        plan_file = root / self.plan_path
        if not plan_file.is_file():  # the checkout was made for another --plan-path
            raise self._plan_missing(sha, "tree" if plan_file.is_dir() else None)
        shown = f"{target.name} ({sha[:7]})" if target.kind != "commit" else sha[:12]
        return Snapshot(
            root=root,
            plan_file=plan_file,
            revision=sha,
            description=f"git {self.url}@{shown}",
            ref=target.name,
        )

    def __repr__(self) -> str:
        return f"GitSource({self.url!r}, ref={self.ref!r}, plan_path={self.plan_path!r})"

    # ------------------------------------------------------------------ running git

    def _run(
        self,
        *args: str,
        env: Optional[Mapping[str, str]] = None,
        timeout: Optional[float] = None,
        in_repo: bool = True,
    ) -> Tuple[int, str, str]:
        """Run ``git --git-dir=<cache repo> ARGS`` (or plain ``git ARGS`` when not ``in_repo``)
        through GitPython; returns (status, stdout, stderr)."""
        import git

        exe = str(git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git")
        if in_repo:
            runner = self._open_repo().git
            command: List[str] = [exe, f"--git-dir={self.repo_dir}", *args]
        else:  # ls-remote needs no repository: run it outside any, so a typo'd URL leaves no cache
            runner = git.Git(tempfile.gettempdir())
            command = [exe, *args]
        full_env = dict(GIT_ENV)
        if env:
            full_env.update(env)
        inherited = [k for k in SCRUBBED_ENV if k in os.environ and k not in full_env]
        if inherited and sys.platform != "win32":
            command = ["env", *[a for k in inherited for a in ("-u", k)], *command]
        # umask: checkouts hold env values; only this user may read what git writes.
        extra: Dict[str, Any] = {"start_new_session": True, "umask": 0o077} if sys.platform != "win32" else {}
        try:
            result = runner.execute(
                command,
                with_extended_output=True,
                with_exceptions=False,
                kill_after_timeout=(timeout or self.timeout) if sys.platform != "win32" else None,
                env=full_env,
                **extra,
            )
        except git.GitCommandNotFound as e:
            raise SourceError(f"the git executable was not found ({e}); install git to use a --git source") from e
        status, out, err = cast(Tuple[int, str, str], result)
        if inherited and status == 127 and "git" in err and "No such file" in err:
            raise SourceError("the git executable was not found; install git to use a --git source")
        return status, out, err

    def _open_repo(self) -> git.Repo:
        if self._repo is None:
            raise RuntimeError("cache repository used before it was opened")  # pragma: no cover
        return self._repo

    def _init_repo(self) -> None:
        """Open the bare cache repo, creating (or re-creating, if broken) it. Under the lock."""
        import git

        if self._repo is not None and self.repo_dir.is_dir():
            return
        self._repo = None
        if (self.repo_dir / "HEAD").is_file():
            try:
                self._repo = git.Repo(str(self.repo_dir))
            except (git.InvalidGitRepositoryError, git.NoSuchPathError):
                shutil.rmtree(self.repo_dir, ignore_errors=True)
        if self._repo is None:
            if self.repo_dir.exists():
                shutil.rmtree(self.repo_dir, ignore_errors=True)
            paths.private_dir(self.cache_dir)  # checkouts hold env values
            # `git init` itself (not Repo.init, which would honour an inherited GIT_DIR)
            status, _, err = self._run("init", "--quiet", "--bare", "--", str(self.repo_dir), in_repo=False)
            if status != 0:
                raise SourceError(f"cannot create the git cache {self.repo_dir}: {_git_words(err)}")
            try:
                repo = git.Repo(str(self.repo_dir))
            except (git.InvalidGitRepositoryError, git.NoSuchPathError) as e:
                raise SourceError(f"cannot open the git cache {self.repo_dir}: {e}") from e
            with repo.config_writer() as cw:
                cw.set_value("core", "logAllRefUpdates", "false")
                cw.set_value("gc", "autoDetach", "false")  # gc runs under our lock, never behind it
                cw.set_value("fetch", "recurseSubmodules", "false")
                cw.set_value("fusionizer", "url", self.fetch_url)
            self._repo = repo

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive use of the cache: a thread lock (this process) + flock (other processes)."""
        key = str(self.cache_dir)
        with _registry_lock:
            tlock = _thread_locks.setdefault(key, threading.Lock())
        with tlock:
            paths.private_dir(self.cache_dir)  # checkouts hold env values
            with open(self.cache_dir / "lock", "a+b") as fh:
                if sys.platform != "win32":
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                try:
                    self._init_repo()
                    yield
                finally:
                    if sys.platform != "win32":
                        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    # ------------------------------------------------------------------ resolving refs

    def _ls_remote(self, *args: str) -> Tuple[Dict[str, str], Optional[str]]:
        """``git ls-remote URL ARGS`` -> ({refname: sha}, HEAD's symref target or None)."""
        status, out, err = self._run("ls-remote", *_ls_args(self.fetch_url, args), in_repo=False)
        if status != 0:
            raise SourceError(f"cannot reach git repository {self.url}: {_git_words(err)}")
        refs: Dict[str, str] = {}
        symref: Optional[str] = None
        for line in out.splitlines():
            left, _, name = line.partition("\t")
            if left.startswith("ref: "):
                if name == "HEAD":
                    symref = left[len("ref: ") :].strip()
                continue
            if name:
                refs[name] = left.strip()
        return refs, symref

    def _target(self) -> _Target:
        ref = self.ref
        if ref is None or ref == "HEAD":
            refs, symref = self._ls_remote("--symref", "HEAD")
            sha = refs.get("HEAD")
            if sha is None:
                raise SourceError(
                    f"git repository {self.url} has no commits (its HEAD branch is unborn); push a commit or pass --ref"
                )
            if symref and symref.startswith("refs/heads/"):
                return _Target("branch", symref[len("refs/heads/") :], symref, sha)
            return _Target("head", "HEAD", "HEAD", sha)
        if FULL_SHA.match(ref):
            return _Target("commit", ref.lower(), None, ref.lower())
        abbrev = bool(ABBREV_SHA.match(ref))
        if ref.startswith("refs/"):
            patterns: List[str] = [ref, ref + "^{}"]
        elif abbrev:
            patterns = []  # all refs: the name may be a branch/tag, or a prefix of a tip's sha
        else:
            patterns = [f"refs/heads/{ref}", f"refs/tags/{ref}", f"refs/tags/{ref}^{{}}"]
        refs, _ = self._ls_remote(*patterns)
        peeled = _peel(refs)
        candidates = [ref] if ref.startswith("refs/") else [f"refs/heads/{ref}", f"refs/tags/{ref}"]
        for name in candidates:
            if name in peeled:
                kind = "branch" if name.startswith("refs/heads/") else "tag" if name.startswith("refs/tags/") else "ref"
                return _Target(kind, ref, name, peeled[name])
        if abbrev:
            prefix = ref.lower()
            tips = {sha for sha in peeled.values() if sha.startswith(prefix)}
            if len(tips) > 1:
                raise SourceError(
                    f"commit '{ref}' is ambiguous in {self.url} (matches {', '.join(sorted(t[:12] for t in tips))}); "
                    "give more characters of the sha"
                )
            return _Target("commit", prefix, None, tips.pop() if tips else None)
        raise self._unknown_ref(ref, None if patterns else peeled)

    def _unknown_ref(self, ref: str, all_refs: Optional[Mapping[str, str]], commit: bool = False) -> SourceError:
        if all_refs is None:
            try:
                all_refs, _ = self._ls_remote("--heads", "--tags")
            except SourceError:
                all_refs = {}
        branches = sorted(n[len("refs/heads/") :] for n in all_refs if n.startswith("refs/heads/"))
        tags = sorted(
            n[len("refs/tags/") :] for n in all_refs if n.startswith("refs/tags/") and not n.endswith("^{}")
        )
        names = branches + tags
        if not names:
            listed = "none (the repository has no branches or tags)"
        elif len(names) > MAX_LISTED_REFS:
            listed = ", ".join(names[:MAX_LISTED_REFS]) + f", ... ({len(names) - MAX_LISTED_REFS} more)"
        else:
            listed = ", ".join(names)
        what = "branch, tag or commit" if commit else "branch or tag"
        return SourceError(f"{what} '{ref}' not found in {self.url}; available: {listed}")

    # ------------------------------------------------------------------ fetching (under the lock)

    def _fetch_ref(self, target: _Target) -> str:
        assert target.refname is not None
        remote = target.refname
        local = _FETCH_NS + (remote[len("refs/") :] if remote.startswith("refs/") else remote)
        status, _, err = self._run(
            "fetch", "--quiet", "--depth", "1", "--no-tags", "--", self.fetch_url, f"+{remote}:{local}"
        )
        if status != 0:
            raise SourceError(f"fetching {target.kind} '{target.name}' from {self.url} failed: {_git_words(err)}")
        sha = self._rev_parse(f"{local}^{{commit}}")
        if sha is None:
            raise SourceError(f"{target.kind} '{target.name}' of {self.url} does not point to a commit")
        return sha

    def _ensure_commit(self, sha: str, asked: str) -> None:
        """Make ``sha`` present in the cache: by itself, else by a full fetch."""
        if self._has_commit(sha):
            return
        status, _, _ = self._run(
            "fetch", "--quiet", "--depth", "1", "--no-tags", "--", self.fetch_url, f"+{sha}:{_FETCH_NS}commits/{sha}"
        )
        if status == 0 and self._has_commit(sha):
            return
        # The server refuses unadvertised objects (protocol v0 without allowAnySHA1InWant)
        # or does not have the commit: fetch every branch and tag, then look again.
        self._fetch_all()
        if not self._has_commit(sha):
            raise self._unknown_ref(asked, None, commit=True)
        self._run("update-ref", f"{_FETCH_NS}commits/{sha}", sha)

    def _expand_abbrev(self, abbrev: str) -> str:
        sha = self._rev_parse_abbrev(abbrev)
        if sha is None:
            self._fetch_all()
            sha = self._rev_parse_abbrev(abbrev)
        if sha is None:
            raise self._unknown_ref(abbrev, None, commit=True)
        return sha

    def _fetch_all(self) -> None:
        args = ["fetch", "--quiet", "--no-tags"]
        if (self.repo_dir / "shallow").exists():
            args.append("--unshallow")
        args += ["--", self.fetch_url, f"+refs/heads/*:{_FETCH_NS}heads/*", f"+refs/tags/*:{_FETCH_NS}tags/*"]
        status, _, err = self._run(*args)
        if status != 0:
            raise SourceError(f"cannot fetch from git repository {self.url}: {_git_words(err)}")

    def _has_commit(self, sha: str) -> bool:
        status, _, _ = self._run("cat-file", "-e", f"{sha}^{{commit}}")
        return status == 0

    def _rev_parse(self, rev: str) -> Optional[str]:
        status, out, _ = self._run("rev-parse", "--verify", "--quiet", rev)
        return out.strip() if status == 0 and out.strip() else None

    def _rev_parse_abbrev(self, abbrev: str) -> Optional[str]:
        status, out, err = self._run("rev-parse", "--verify", "--quiet", f"{abbrev}^{{commit}}")
        if status == 0 and out.strip():
            return out.strip()
        if "ambiguous" in err:
            raise SourceError(f"commit '{abbrev}' is ambiguous in {self.url}; give more characters of the sha")
        return None

    # ------------------------------------------------------------------ checkouts (under the lock)

    def _plan_missing(self, sha: str, kind: Optional[str] = None) -> SourceError:
        if kind and kind != "blob":
            return SourceError(
                f"{self.plan_path} is a {'directory' if kind == 'tree' else kind}, not a file, at {sha[:12]} "
                f"of {self.url}; use --plan-path to name the plan file"
            )
        return SourceError(f"{self.plan_path} not found at {sha[:12]} of {self.url}; use --plan-path")

    def _materialise(self, sha: str) -> Path:
        """``checkouts/<sha>``: reused if present, else extracted into a temp dir and renamed."""
        final = self.checkouts_dir / sha
        if final.is_dir():
            os.utime(final)  # most recently used: pruned last
            return final
        status, out, _ = self._run("cat-file", "-t", f"{sha}:{self.plan_path}")
        if status != 0 or out.strip() != "blob":
            raise self._plan_missing(sha, out.strip() if status == 0 else None)
        paths.private_dir(self.checkouts_dir)
        self._remove_leftovers()
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{sha[:12]}-", dir=self.checkouts_dir))
        index = tmp.parent / (tmp.name + ".index")
        try:
            env = {"GIT_INDEX_FILE": str(index)}
            for args in (("read-tree", sha), (f"--work-tree={tmp}", "checkout-index", "--all", "--force")):
                status, _, err = self._run(*args, env=env)
                if status != 0:
                    raise SourceError(f"cannot check out {sha[:12]} of {self.url}: {_git_words(err)}")
            try:
                os.rename(tmp, final)
            except OSError:
                if not final.is_dir():  # another process won the race: theirs is identical
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
            if index.exists():
                index.unlink()
        self._prune(keep=final)
        return final

    def _remove_leftovers(self) -> None:
        """Temp and trash dirs are only made under the lock: any we see is from a crash."""
        for entry in self.checkouts_dir.iterdir():
            if entry.name.startswith((".tmp-", ".trash-")):
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)

    def _prune(self, keep: Path) -> None:
        """Keep the ``keep_checkouts`` most recently used checkouts and anything used within
        the grace period; move the rest aside atomically, then delete them."""
        now = time.time()
        found: List[Tuple[float, Path]] = []
        for entry in self.checkouts_dir.iterdir():
            if entry.name.startswith(".") or entry == keep or not entry.is_dir():
                continue
            try:
                found.append((entry.stat().st_mtime, entry))
            except FileNotFoundError:
                continue
        found.sort(reverse=True)
        for mtime, entry in found[self.keep_checkouts - 1 :]:
            if now - mtime < PRUNE_GRACE_SECONDS:
                continue
            trash = entry.with_name(f".trash-{entry.name}")
            try:
                os.rename(entry, trash)
            except OSError:
                continue
            shutil.rmtree(trash, ignore_errors=True)

    def checkouts(self) -> Sequence[Path]:
        """The checkouts currently in the cache (most recently used first)."""
        if not self.checkouts_dir.is_dir():
            return []
        dirs = [d for d in self.checkouts_dir.iterdir() if d.is_dir() and not d.name.startswith(".")]
        return sorted(dirs, key=lambda d: d.stat().st_mtime, reverse=True)


def _ls_args(url: str, args: Sequence[str]) -> List[str]:
    options = [a for a in args if a.startswith("--")]
    patterns = [a for a in args if not a.startswith("--")]
    return [*options, "--", url, *patterns]


def _peel(refs: Mapping[str, str]) -> Dict[str, str]:
    """{refname: commit sha}: annotated tags replaced by the commit they point to."""
    out = {name: sha for name, sha in refs.items() if not name.endswith("^{}")}
    for name, sha in refs.items():
        if name.endswith("^{}"):
            out[name[:-3]] = sha
    return out


def _check_plan_path(plan_path: str) -> str:
    raw = (plan_path or "").strip().replace("\\", "/")
    if not raw:
        raise SourceError("--plan-path is empty; give the plan file's path inside the repository")
    p = PurePosixPath(raw)
    if p.is_absolute() or ".." in p.parts:
        raise SourceError(f"--plan-path {plan_path!r} must be a relative path inside the repository")
    norm = "/".join(part for part in p.parts if part not in ("", "."))
    if not norm:
        raise SourceError(f"--plan-path {plan_path!r} names no file")
    return norm
