"""YAML documents that remember where every value came from.

The plan loader and the task checks read ``fusionizer.yaml`` and each task's
``function.yaml`` through :func:`load_document`, so every diagnostic can name
``FILE:LINE:COL`` of the offending node as well as its JSON path.

PyYAML's ``compose`` gives us nodes with marks; we turn them into plain JSON-like values
ourselves (instead of ``yaml.safe_load``) to keep a map from JSON path to position, to
report duplicate keys (which PyYAML silently overwrites), and to keep YAML timestamps as
the strings the user wrote (JSON Schema and our RFC 3339 check expect strings).

Input is bounded: a document nests at most :data:`MAX_DEPTH` collections deep, and its
aliases expand to at most :data:`MAX_ALIAS_VALUES` values (a "billion laughs" document fails
in milliseconds, where expanding it would take minutes and gigabytes).
"""

from __future__ import annotations

import hashlib
import json
import marshal
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple, Union

import yaml
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from fusionizer import filecache
from fusionizer.errors import Diagnostic

JsonPath = Tuple[Union[str, int], ...]
Position = Tuple[int, int]  # 1-based line and column

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
# libyaml when PyYAML was built with it: composing 1,000 function.yaml files takes a tenth of
# the time (node marks, hence FILE:LINE:COL, are the same).
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# sha256 of a file's bytes -> its document without the file name, marshalled: each load
# gets objects of its own, so no caller can change another's (or a later run's) data.
_PARSED = filecache.table("documents")

MAX_DEPTH = 64  # nested mappings and lists; real plans and function.yaml files use under 10
MAX_ALIAS_VALUES = 10_000  # values an alias (*name) or merge key (<<) may stand for, per file
_LIBYAML_TOO_DEEP = "exceeded maximum nesting depth"


def format_path(path: Sequence[Union[str, int]]) -> str:
    """``("spec", "tasks", 0, "name")`` -> ``spec.tasks[0].name`` (odd keys are quoted)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


@dataclass
class Document:
    """A parsed YAML file: its data plus the position of every value and key."""

    file: str  # as shown in diagnostics
    data: Any
    values: Dict[JsonPath, Position] = field(default_factory=dict)
    keys: Dict[JsonPath, Position] = field(default_factory=dict)
    digest: str = ""  # sha256 of its text, when read by load_text: what it says is a function of it

    def where(self, path: JsonPath, key: bool = False) -> Position:
        """Position of the node at ``path`` (of its key with ``key=True``).

        Falls back to the nearest enclosing node that exists, so a diagnostic about a
        missing key points at the mapping that should hold it.
        """
        if key and path in self.keys:
            return self.keys[path]
        for end in range(len(path), -1, -1):
            found = self.values.get(path[:end])
            if found is not None:
                return found
        return (1, 1)

    def diagnostic(self, path: JsonPath, message: str, severity: str = "error", key: bool = False) -> Diagnostic:
        line, col = self.where(path, key)
        return Diagnostic(message, self.file, line, col, format_path(path), severity)

    def get(self, path: JsonPath) -> Any:
        """The value at ``path``, or None if any step is missing or of the wrong type."""
        value = self.data
        for part in path:
            if isinstance(part, int):
                if not isinstance(value, list) or not 0 <= part < len(value):
                    return None
            elif not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return value


class DocumentError(Exception):
    """The text is not loadable YAML; ``diagnostic`` says where and why."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.render())
        self.diagnostic = diagnostic


def load_document(text: str, file: str) -> Document:
    """Parse one YAML document, raising :class:`DocumentError` for anything unloadable."""
    try:
        return _load(text, file, _FAST_LOADER)
    except (yaml.YAMLError, UnicodeEncodeError) as e:
        error: Exception = e
    if _FAST_LOADER is not yaml.SafeLoader and not _fatal(error):
        # libyaml explains less ("found character that cannot start any token", not that it
        # is a tab): errors are rare, so re-read with PyYAML's own parser for its message.
        try:
            return _load(text, file, yaml.SafeLoader)
        except yaml.YAMLError as e:
            error = e
        except RecursionError:  # PyYAML's parser recurses where libyaml refused: keep its words
            pass
    raise DocumentError(_diagnostic_of(error, file, text)) from error


def known_document(digest: str, file: str) -> Optional[Document]:
    """The document parsed before from a text whose sha256 is ``digest``, if any."""
    known = _PARSED.get(digest)
    if known is None:
        return None
    data, values, keys = marshal.loads(known)
    return Document(file, data, values, keys, digest)


def load_text(text: str, file: str) -> Document:
    """:func:`load_document`, parsed once per content: a text seen before (by sha256, here or
    in an earlier run, see :mod:`fusionizer.filecache`) is not parsed again."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    known = known_document(digest, file)
    if known is not None:
        return known
    doc = load_document(text, file)
    doc.digest = digest
    try:
        _PARSED.put(digest, marshal.dumps((doc.data, doc.values, doc.keys)))
    except ValueError:
        pass  # a value marshal cannot store: this document is parsed every time
    return doc


def _fatal(error: Exception) -> bool:
    """Errors not worth a second, slower reading: ours, and libyaml's nesting limit."""
    return isinstance(error, _Problem) or (
        isinstance(error, yaml.MarkedYAMLError) and error.problem == _LIBYAML_TOO_DEEP
    )


def _load(text: str, file: str, loader_class: Any) -> Document:
    loader = loader_class(text)
    try:
        try:
            root = loader.get_single_node()
        except RecursionError:  # only PyYAML's own parser recurses; libyaml stops at 1000 levels
            raise _too_deep(None) from None
        doc = Document(file, None)
        if root is not None:
            doc.data = _Converter(loader, doc).convert(root, ())
        return doc
    finally:
        loader.dispose()


class _Problem(yaml.MarkedYAMLError):
    """Loadable YAML that we refuse anyway; its message already says what to do."""


def _diagnostic_of(e: Exception, file: str, text: str) -> Diagnostic:
    if isinstance(e, yaml.MarkedYAMLError):
        return _syntax_diagnostic(e, file)
    if isinstance(e, yaml.reader.ReaderError):
        line = text.count("\n", 0, e.position) + 1
        col = e.position - (text.rfind("\n", 0, e.position) + 1) + 1
        return Diagnostic(
            f"invalid YAML: character U+{e.character:04X} is not allowed in YAML; remove it", file, line, col
        )
    return Diagnostic(f"cannot read YAML: {e}", file, 1, 1)


def _syntax_diagnostic(e: yaml.MarkedYAMLError, file: str) -> Diagnostic:
    if e.problem == _LIBYAML_TOO_DEEP:
        e = _too_deep(e.problem_mark)
    mark = e.problem_mark or e.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    what = "; ".join(p for p in (e.context, e.problem) if p)
    fix = "" if isinstance(e, _Problem) else "; fix the syntax at this position"
    return Diagnostic(f"invalid YAML: {what}{fix}", file, line, col)


def _too_deep(mark: Optional[Mark]) -> _Problem:
    return _Problem(problem=(
        f"nested more than {MAX_DEPTH} levels deep; a plan or function.yaml never needs that: "
        f"flatten it"
    ), problem_mark=mark)


class _Converter:
    """Turns composed nodes into plain values, recording positions into the document.

    The composer shares one node among every alias of an anchor; converting copies it each
    time, so ``expanded`` counts those copies against :data:`MAX_ALIAS_VALUES`.
    """

    def __init__(self, loader: Any, doc: Document) -> None:
        self.loader = loader
        self.doc = doc
        self.active: Set[int] = set()  # nodes being converted: guards recursive aliases
        self.seen: Set[int] = set()  # nodes converted at least once
        self.expanded = 0  # conversions of nodes already seen: values that aliases stand for

    def convert(self, node: Node, path: JsonPath) -> Any:
        self.doc.values[path] = _position(node)
        self._count(node, path)
        if id(node) in self.active:
            raise _Problem(problem="recursive alias; write the value out", problem_mark=node.start_mark)
        self.active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            if isinstance(node, SequenceNode):
                return [self.convert(item, path + (i,)) for i, item in enumerate(node.value)]
            return self._scalar(node)
        finally:
            self.active.discard(id(node))

    def _count(self, node: Node, path: JsonPath) -> None:
        if len(path) >= MAX_DEPTH:
            raise _too_deep(node.start_mark)
        if id(node) not in self.seen:
            self.seen.add(id(node))
            return
        self.expanded += 1
        if self.expanded > MAX_ALIAS_VALUES:
            raise _Problem(problem=(
                f"aliases (*name) and merge keys (<<) here expand to more than {MAX_ALIAS_VALUES} "
                f"values (a \"billion laughs\" document?); write the values out, or alias less"
            ), problem_mark=node.start_mark)

    def _scalar(self, node: Node) -> Any:
        assert isinstance(node, ScalarNode)
        if node.tag == _TIMESTAMP_TAG:
            return node.value  # keep "2030-01-01T00:00:00Z" a string, as JSON would
        try:
            return self.loader.construct_object(node, deep=True)
        except ValueError:  # an integer of more digits than Python converts (4300)
            raise _Problem(problem="this number has too many digits to read; quote it if it is text",
                           problem_mark=node.start_mark) from None

    def _mapping(self, node: MappingNode, path: JsonPath) -> Dict[str, Any]:
        self.loader.flatten_mapping(node)  # resolves "<<" merge keys, as safe_load does
        out: Dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node)
            if key in out:
                first = self.doc.keys[path + (key,)]
                raise _Problem(
                    problem=f"duplicate key {key!r} (first at line {first[0]}); remove one of them",
                    problem_mark=key_node.start_mark,
                )
            self.doc.keys[path + (key,)] = _position(key_node)
            out[key] = self.convert(value_node, path + (key,))
        return out

    @staticmethod
    def _key(node: Node) -> str:
        if not isinstance(node, ScalarNode):
            raise _Problem(problem="a mapping key must be a plain string", problem_mark=node.start_mark)
        # The text as written: `on:` or `1:` are keys "on" and "1", as in JSON.
        return str(node.value)


def _position(node: Node) -> Position:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def kind_of(value: Any) -> str:
    """The user's word for a value's type, for messages."""
    names: List[Tuple[type, str]] = [
        (bool, "a boolean"), (int, "a number"), (float, "a number"), (str, "a string"),
        (list, "a list"), (dict, "a mapping"),
    ]
    if value is None:
        return "nothing (null)"
    for tp, name in names:
        if isinstance(value, tp):
            return name
    return type(value).__name__


def as_list(value: Any) -> List[Any]:
    """``value`` if it is a list, else ``[]``: callers skip what the schema already reported."""
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_str(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None
