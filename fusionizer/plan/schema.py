"""JSON Schema validation of a plan document, with messages that say what to do.

The schema (``fusionizer/schemas/fusionizer.schema.json``, shipped in the wheel) is the
single statement of the plan's structure; editors use it for completion and help. This
module runs it and rewrites jsonschema's terse errors into diagnostics located at the
offending YAML node. The semantic checks live in :mod:`fusionizer.plan.loader`.

``function.schema.json`` does the same for the fields of a task's ``function.yaml`` that
the fuser merges (labels, resources, triggers, replica bounds): a shape the merge cannot
read is an error at validate time, never a crash of ``apply``.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
from importlib import resources
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional

from fusionizer import filecache
from fusionizer.errors import Diagnostic
from fusionizer.plan.documents import Document, JsonPath, format_path, kind_of

if TYPE_CHECKING:
    import jsonschema
    from jsonschema.exceptions import ValidationError

_TYPE_WORDS = {
    "object": "a mapping", "array": "a list", "string": "a string", "integer": "a whole number",
    "number": "a number", "boolean": "true or false", "null": "null",
}


_LOCAL_DEFS = "#/$defs/"
PLAN_SCHEMA = "fusionizer"
FUNCTION_SCHEMA = "function"


def plan_schema() -> Mapping[str, Any]:
    """The plan's JSON Schema (draft 2020-12), as shipped in the package."""
    return shipped_schema(PLAN_SCHEMA)


# "<sha256 of a document>:<sha256 of a schema>" -> True: the document does not violate it.
# A document with violations is validated every time, so they are always shown.
_VALID = filecache.table("schema-valid")


@functools.lru_cache(maxsize=2)
def shipped_schema(name: str) -> Mapping[str, Any]:
    """``schemas/<name>.schema.json`` as shipped in the package."""
    schema: Dict[str, Any] = json.loads(_schema_text(name))
    return schema


@functools.lru_cache(maxsize=2)
def _schema_text(name: str) -> str:
    return resources.files("fusionizer").joinpath(f"schemas/{name}.schema.json").read_text("utf-8")


@functools.lru_cache(maxsize=2)
def _schema_digest(name: str) -> str:
    return hashlib.sha256(_schema_text(name).encode()).hexdigest()


@functools.lru_cache(maxsize=2)
def _validator(name: str) -> "jsonschema.Draft202012Validator":
    # Imported here: a document validated before (see _VALID) is read without loading jsonschema.
    import jsonschema

    return jsonschema.Draft202012Validator(_inlined(shipped_schema(name)))


def _inlined(schema: Any, defs: Optional[Mapping[str, Any]] = None) -> Any:
    """``schema`` with each ``$ref`` to its ``$defs`` replaced by the definition (its own
    annotations kept): the same rules, checked without a reference lookup per value (a
    plan's thousand groups validate in half the time)."""
    defs = schema.get("$defs", {}) if defs is None else defs
    if isinstance(schema, list):
        return [_inlined(item, defs) for item in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    rest = {key: _inlined(value, defs) for key, value in schema.items() if key != "$ref"}
    if not isinstance(ref, str) or not ref.startswith(_LOCAL_DEFS):
        return {**rest, "$ref": ref} if ref is not None else rest
    return {**_inlined(defs[ref[len(_LOCAL_DEFS):]], defs), **rest}


def check_schema(doc: Document, schema: str = PLAN_SCHEMA) -> List[Diagnostic]:
    """Every violation of the shipped schema ``schema`` in ``doc``, in document order."""
    if schema == FUNCTION_SCHEMA and not _constrained(doc.data):
        return []  # the common function.yaml: nothing the schema looks at, so skip its cost
    known = f"{doc.digest}:{_schema_digest(schema)}" if doc.digest else None
    if known is not None and _VALID.get(known):
        return []
    found: List[Diagnostic] = []
    for error in _validator(schema).iter_errors(doc.data):
        found.extend(_explain(error, doc))
    if known is not None and not found:
        _VALID.put(known, True)
    # One "required" error per missing key each lists them all: keep each finding once.
    return sorted(dict.fromkeys(found), key=lambda d: (d.line, d.col))


def _constrained(data: Any) -> bool:
    """Does a function.yaml hold anything its schema constrains (beyond mappings where
    mappings belong)? The keys are read from the schema itself."""
    properties = shipped_schema(FUNCTION_SCHEMA)["properties"]
    if not isinstance(data, dict):
        return True
    for section in ("metadata", "spec"):
        value = data.get(section, {})
        if not isinstance(value, dict) or set(value) & set(properties[section]["properties"]):
            return True
    return False


def _explain(error: ValidationError, doc: Document) -> Iterator[Diagnostic]:
    path: JsonPath = tuple(error.absolute_path)
    rule = error.validator
    if rule in ("anyOf", "oneOf"):
        yield from _explain_alternatives(error, doc)
    elif rule == "additionalProperties":
        yield from _unknown_keys(error, doc, path)
    elif rule == "required":
        yield from _missing_keys(error, doc, path)
    else:
        yield doc.diagnostic(path, _message(error))


def _explain_alternatives(error: ValidationError, doc: Document) -> Iterator[Diagnostic]:
    """For "a list or a mapping" rules, explain the branch whose type the user chose."""
    branches: Dict[int, List[ValidationError]] = {}
    for sub in error.context or ():
        branches.setdefault(int(sub.schema_path[0]), []).append(sub)
    options = error.validator_value if isinstance(error.validator_value, list) else []
    for index, subschema in enumerate(options):
        if _type_matches(subschema, error.instance) and index in branches:
            for sub in branches[index]:
                yield from _explain(sub, doc)
            return
    path: JsonPath = tuple(error.absolute_path)
    types = _type_words([o.get("type") for o in options if isinstance(o, dict) and "type" in o])
    description = error.schema.get("description", "") if isinstance(error.schema, dict) else ""
    fix = f"; write {_lower_first(description)}" if description else ""
    yield doc.diagnostic(path, f"expected {types}, got {kind_of(error.instance)} ({_short(error.instance)}){fix}")


def _type_matches(subschema: Any, instance: Any) -> bool:
    if not isinstance(subschema, dict) or "type" not in subschema:
        return False
    import jsonschema  # loaded already: only a document with violations gets here

    return bool(jsonschema.Draft202012Validator.TYPE_CHECKER.is_type(instance, subschema["type"]))


def _unknown_keys(error: ValidationError, doc: Document, path: JsonPath) -> Iterator[Diagnostic]:
    schema = error.schema if isinstance(error.schema, dict) else {}
    allowed = sorted(schema.get("properties", {}))
    instance = error.instance if isinstance(error.instance, dict) else {}
    for key in instance:
        if key in allowed:
            continue
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        where = f" in {format_path(path)}" if path else ""
        message = f"unknown key {key!r}{where}; {hint}allowed keys: {', '.join(allowed)}"
        yield doc.diagnostic(path + (key,), message, key=True)


def _missing_keys(error: ValidationError, doc: Document, path: JsonPath) -> Iterator[Diagnostic]:
    instance = error.instance if isinstance(error.instance, dict) else {}
    required = error.validator_value if isinstance(error.validator_value, list) else []
    for key in required:
        if key not in instance:
            where = format_path(path) if path else "the plan"
            yield doc.diagnostic(path, f"{where} is missing the required key {key!r}; add it")


def _message(error: ValidationError) -> str:
    rule = error.validator
    value: Any = error.instance
    expected: Any = error.validator_value
    schema: Dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    if rule == "type":
        return f"expected {_type_words(expected)}, got {kind_of(value)} ({_short(value)}); {_type_fix(value, expected)}"
    if rule == "const":
        return f"must be {expected!r}, got {_short(value)}; write {expected}"
    if rule == "enum":
        return f"{_short(value)} is not allowed; use one of: {', '.join(str(c) for c in expected)}"
    if rule == "pattern":
        hint = schema.get("patternErrorMessage") or f"it must match {expected}"
        return f"{_short(value)}: {_lower_first(str(hint))}"
    if rule == "maxLength":
        return f"{_short(value)} is {len(value)} characters long; at most {expected} are allowed: shorten it"
    if rule == "minLength":
        return "this value is empty; fill it in or remove the key"
    if rule == "minItems":
        return "this list is empty; add at least one entry or remove it"
    if rule == "minimum":
        return f"{value} is too small; use at least {expected}"
    return str(error.message)  # a rule this schema does not use today


def _type_words(expected: Any) -> str:
    types = expected if isinstance(expected, list) else [expected]
    return " or ".join(_TYPE_WORDS.get(str(t), str(t)) for t in types)


def _type_fix(value: Any, expected: Any) -> str:
    wanted = expected if isinstance(expected, list) else [expected]
    # YAML 1.1 reads `no`, `on`, `3.10` or `012` as booleans and numbers: quote them.
    if "string" in wanted and isinstance(value, (bool, int, float)):
        return "quote the value if you meant text"
    return f"write {_type_words(expected)} here"


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text else text
