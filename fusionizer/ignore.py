"""The one rule for which files of a tree count: what a task's build copies and its spec hash
covers, what a directory source's revision digests, and what wakes ``watch``.

A path is left out when the last pattern that matches it says so, read in this order (a
later pattern wins, as in git):

1. the built-in defaults (:data:`DEFAULT_PATTERNS`): version control and the fusionizer's
   state, bytecode, virtualenvs, tool caches, editor and ``sed -i`` temp files;
2. for each directory from the tree's root down to the path's own directory, outer first:
   its ``.gitignore``, then its ``.fusionizerignore`` (so the latter can re-include what
   the former leaves out, for the fusionizer only).

Patterns are gitignore syntax, matched by :mod:`pathspec`: ``!pattern`` re-includes, a
pattern containing a slash is anchored to its file's directory, ``name/`` matches
directories only, and as in git nothing below an excluded directory can be re-included.
Lines git would reject (a lone ``!``) are skipped, as git skips them. The ignore files
themselves are rules, not content: a build never copies them, a revision digests them.
"""

from __future__ import annotations

import operator
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import AbstractSet, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from pathspec import GitIgnoreSpec, RegexPattern

IGNORE_FILES = (".gitignore", ".fusionizerignore")  # in a directory, read in this order

_ALNUM = "[A-Za-z0-9]"
DEFAULT_PATTERNS: Tuple[str, ...] = (
    # version control and the fusionizer's own state
    ".git/", ".hg/", ".svn/", ".fusionizer/",
    # bytecode, virtualenvs, caches and reports of Python tools run in a task or plan directory
    "__pycache__/", "*.py[co]", ".venv/", ".mypy_cache/", ".pytest_cache/", ".hypothesis/", ".ruff_cache/",
    ".tox/", ".nox/", ".coverage", ".coverage.*", ".ipynb_checkpoints/", ".DS_Store",
    # editors: vim swap files and its write test, backups, emacs locks and autosaves, JetBrains safe writes
    "*.swp", "*.swo", "*.swx", "*~", "4913", ".#*", "\\#*#", "*___jb_tmp___", "*___jb_old___",
    # GNU `sed -i` writes the new content to sedXXXXXX (six letters or digits), then renames it
    "sed" + _ALNUM * 6,
)


def is_ignore_file(name: str) -> bool:
    return name in IGNORE_FILES


@dataclass(frozen=True)
class Patterns:
    """The patterns of one ignore file (or the defaults), with a quick test for the common
    case, a path no pattern matches: one regex instead of one per pattern."""

    spec: GitIgnoreSpec
    any: "re.Pattern[str]"

    @classmethod
    def of(cls, lines: Iterable[str]) -> "Patterns":
        spec = _compile(list(lines))
        # pathspec names a group in each pattern's regex; one alternation cannot repeat a name.
        regexes = [_UNNAMED.sub("(?:", p.regex.pattern) for p in spec.patterns
                   if isinstance(p, RegexPattern) and p.regex is not None]
        # A pattern without a slash matches at any depth: its regex starts "any directories".
        # Said once for all of them, a path's directories are tried once, not once per pattern.
        anywhere = [r[len(_ANY_DEPTH):] for r in regexes if r.startswith(_ANY_DEPTH)]
        alternatives = [r for r in regexes if not r.startswith(_ANY_DEPTH)]
        if anywhere:
            alternatives.append(_ANY_DEPTH + "(?:" + "|".join(f"(?:{r})" for r in anywhere) + ")")
        return cls(spec, re.compile("|".join(f"(?:{r})" for r in alternatives) or "(?!)"))

    def verdict(self, path: str) -> Optional[bool]:
        """True: excluded, False: re-included (``!``), None: no pattern matches ``path``."""
        if not self.any.match(path):
            return None
        return self.spec.check_file(path).include


_UNNAMED = re.compile(r"\(\?P<\w+>")
_ANY_DEPTH = "^(?:.+/)?"
_CACHE_LIMIT = 512
# (path, size, mtime_ns, ctime_ns, inode) -> patterns: the watch loop asks about every event
# it sees. ctime as in fusionizer.filecache: an edit that keeps size and mtime moves it.
_parsed: Dict[Tuple[str, int, int, int, int], Patterns] = {}


@dataclass(frozen=True)
class Rules:
    """The patterns in force in one directory of a tree, outermost first."""

    levels: Tuple[Tuple[str, Patterns], ...]  # (the patterns' directory as "a/b/" from the root, or "")

    def excludes(self, rel: str, is_dir: bool) -> bool:
        """Does the last pattern matching ``rel`` (POSIX, from the tree's root) leave it out?
        Only ``rel`` itself is judged: a walk never enters an excluded directory."""
        verdict: Optional[bool] = None
        for base, patterns in self.levels:
            if base and not rel.startswith(base):
                continue
            found = patterns.verdict(rel[len(base):] + ("/" if is_dir else ""))
            if found is not None:
                verdict = found
        return bool(verdict)

    def enter(self, directory: "os.PathLike[str] | str", rel: str, present: Optional[AbstractSet[str]] = None) -> "Rules":
        """The rules inside ``directory`` (``rel`` from the tree's root): these, then its ignore
        files; ``present`` names those a listing of it found (None: look on the disk)."""
        base = rel + "/" if rel else ""
        added = tuple((base, patterns) for patterns in _own_patterns(directory, present))
        return Rules(self.levels + added) if added else self


@dataclass(frozen=True, slots=True)  # made by the ten thousand: slots make that cheaper
class TreeFile:
    rel: str  # POSIX path from the tree's root
    path: str  # where to read it (symlinks are followed); a str: a walk makes thousands
    executable: bool
    rule: bool  # an ignore file: it decides what counts, it is not content
    # As the walk found it (None when not walked): keys the digest cache without a second stat.
    stat: Optional[os.stat_result] = field(default=None, compare=False, repr=False)


class Tree:
    """A directory whose files count by the rule above; ``rel`` paths are POSIX, from ``root``.

    A tree reads each directory's ignore files once: make a new one to see them change
    (one describe of a build, one digest, one watch event).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._rules: Dict[str, Rules] = {}
        self._rule_files: Dict[str, Tuple[TreeFile, ...]] = {}  # in a directory
        self._rule_paths: Dict[str, Tuple[TreeFile, ...]] = {}  # on the way from the root to it
        # rel_dir -> the ignore files a walk listed there: they need no look on the disk.
        self._present: Dict[str, AbstractSet[str]] = {}
        # What the walks met that counts but is not a plain file or directory: symbolic links
        # (followed), and what holds no content (sockets, FIFOs, devices, broken links).
        self.irregular: List[str] = []

    def rules(self, rel_dir: str = "") -> Rules:
        """The rules in force in ``rel_dir``: defaults, then the ignore files from the root down."""
        rules = self._rules.get(rel_dir)
        if rules is None:
            above, present = self._above(rel_dir), self._present.get(rel_dir)
            # Most directories hold no ignore file: their parent's rules, as they are.
            rules = self._rules[rel_dir] = above if present == _NONE else above.enter(
                os.path.join(self.root, rel_dir), rel_dir, present)
        return rules

    def _above(self, rel_dir: str) -> Rules:
        """The rules in force in ``rel_dir``'s parent (the defaults above the root)."""
        return self.rules(rel_dir.rpartition("/")[0]) if rel_dir else _TOP

    def locate(self, directory: "os.PathLike[str] | str") -> Tuple["Tree", str]:
        """The tree whose rules reach ``directory``, and where ``directory`` is in it: this
        tree when it is inside the root, else a tree of its own (as git reads no ignore file
        above a repository)."""
        inside = below(self.root, directory)
        return (self, inside) if inside is not None else (Tree(Path(directory)), "")

    def rule_files(self, rel_dir: str = "") -> Tuple[TreeFile, ...]:
        """The ignore files that decide what counts in ``rel_dir``: at the root and on the way down."""
        found = self._rule_paths.get(rel_dir)
        if found is None:
            above = self.rule_files(rel_dir.rpartition("/")[0]) if rel_dir else ()
            found = self._rule_paths[rel_dir] = above + self._own_rule_files(rel_dir)
        return found

    def _own_rule_files(self, rel_dir: str) -> Tuple[TreeFile, ...]:
        found = self._rule_files.get(rel_dir)
        if found is None:
            present = self._present.get(rel_dir)
            names = IGNORE_FILES if present is None else [name for name in IGNORE_FILES if name in present]
            paths = ((name, os.path.join(self.root, rel_dir, name)) for name in names)
            found = self._rule_files[rel_dir] = tuple(
                TreeFile(f"{rel_dir}/{name}" if rel_dir else name, path, False, True)
                for name, path in paths if present is not None or os.path.isfile(path)
            )
        return found

    def excluded(self, rel: str, is_dir: bool, start: str = "") -> Optional[str]:
        """The first of ``rel``'s ancestors below ``start`` (or ``rel`` itself) the rules
        leave out, shown as ``dir/`` or ``file``; None when ``rel`` counts."""
        parts = rel.split("/")
        rules = self.rules(start)
        for i in range(len(_prefixes(start)), len(parts)):
            sub = "/".join(parts[: i + 1])
            as_dir = is_dir or i < len(parts) - 1
            if rules.excludes(sub, as_dir):
                return sub + ("/" if as_dir else "")
            if as_dir:
                rules = rules.enter(os.path.join(self.root, sub), sub)
        return None

    def files(self, rel_dir: str = "") -> Iterator[TreeFile]:
        """Every file under ``rel_dir`` that counts, ignore files included (``TreeFile.rule``).

        Symlinks are followed (a symlinked directory once: a cycle is not walked twice);
        dangling links, sockets and devices are no content. Raises OSError for an
        unreadable directory; a file removed while walking is simply not there.
        """
        top = os.path.join(self.root, rel_dir) if rel_dir else os.fspath(self.root)
        yield from self._walk(top, rel_dir, set())

    def _walk(self, directory: str, rel_dir: str, seen: Set[Tuple[int, int]]) -> Iterator[TreeFile]:
        try:
            st = os.stat(directory)
            key = (st.st_dev, st.st_ino)
            if key in seen:
                return
            seen.add(key)
            with os.scandir(directory) as it:
                entries = sorted(it, key=_NAME)
        except (FileNotFoundError, NotADirectoryError):
            return  # not there (yet), or removed while walking: the next look sees it
        # The listing says which ignore files are here: the rules need no look on the disk.
        rule_files = [e for e in entries if e.name in IGNORE_FILES]  # mostly none: no set to make
        self._present.setdefault(rel_dir, frozenset(e.name for e in rule_files if e.is_file()) if rule_files else _NONE)
        excludes = self.rules(rel_dir).excludes
        prefix = rel_dir + "/" if rel_dir else ""
        for entry in entries:  # a task's few files each: every step here is paid ten thousand times
            rel = prefix + entry.name
            try:
                if entry.is_dir():
                    if not excludes(rel, True):
                        if entry.is_symlink():
                            self.irregular.append(rel)
                        yield from self._walk(entry.path, rel, seen)
                elif entry.is_file():
                    if not excludes(rel, False):
                        if entry.is_symlink():
                            self.irregular.append(rel)
                        st = entry.stat()
                        yield TreeFile(rel, entry.path, bool(st.st_mode & stat.S_IXUSR), entry.name in IGNORE_FILES, st)
                elif not excludes(rel, False):
                    self.irregular.append(rel)  # a socket, FIFO, device or broken link: no content
            except FileNotFoundError:
                continue


def below(root: "os.PathLike[str] | str", path: "os.PathLike[str] | str") -> Optional[str]:
    """``path`` from ``root`` as POSIX (``""`` for the root itself), None when it is outside;
    by their normalised spelling, as the plan resolves paths (symlinks are not resolved)."""
    root_s, path_s = _normalised(root), _normalised(path)
    if path_s == root_s:
        return ""
    if not path_s.startswith(root_s.rstrip(os.sep) + os.sep):
        return None
    return path_s[len(root_s.rstrip(os.sep)) + 1 :].replace(os.sep, "/")


def _normalised(path: "os.PathLike[str] | str") -> str:
    """``os.path.normpath(path)``, without its cost for an absolute path that is normal
    already (no ``//``, no ``.`` or ``..`` part, no trailing slash): a scope asks for each task."""
    text = os.fspath(path)
    sep = os.sep
    if text[:1] == sep and sep + sep not in text and sep + "." not in text and text[-1:] != sep:
        return text
    return os.path.normpath(text)


def _prefixes(rel_dir: str) -> List[str]:
    """``a/b/c`` -> ``a``, ``a/b``, ``a/b/c``."""
    parts = [p for p in rel_dir.split("/") if p]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _own_patterns(directory: "os.PathLike[str] | str", present: Optional[AbstractSet[str]]) -> Sequence[Patterns]:
    found = []
    for name in IGNORE_FILES:
        if present is not None and name not in present:
            continue
        patterns = _parse(os.path.join(directory, name))
        if patterns is not None:
            found.append(patterns)
    return found


def _parse(path: str) -> Optional[Patterns]:
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    key = (path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    patterns = _parsed.get(key)
    if patterns is None:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return None  # unreadable now; git, too, goes on without it
        patterns = Patterns.of(lines)
        if len(_parsed) >= _CACHE_LIMIT:
            _parsed.clear()
        _parsed[key] = patterns
    return patterns


def _compile(lines: List[str]) -> GitIgnoreSpec:
    try:
        return GitIgnoreSpec.from_lines(lines)
    except ValueError:  # pathspec rejects a line git would skip
        return GitIgnoreSpec.from_lines([line for line in lines if _valid(line)])


def _valid(line: str) -> bool:
    try:
        GitIgnoreSpec.from_lines([line])
    except ValueError:
        return False
    return True


_DEFAULTS = Patterns.of(DEFAULT_PATTERNS)
_TOP = Rules((("", _DEFAULTS),))
_NONE: AbstractSet[str] = frozenset()
_NAME = operator.attrgetter("name")
