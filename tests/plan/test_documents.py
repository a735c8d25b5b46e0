"""Located YAML documents: values plus the FILE:LINE:COL of every node."""

from __future__ import annotations

import pytest
import yaml

from fusionizer.plan import documents
from fusionizer.plan.documents import DocumentError, format_path, load_document

TEXT = """\
metadata:
  name: demo
spec:
  tasks:
    - name: a
      path: tasks/a
  when: 2030-01-01T00:00:00Z
  flags: [yes, 'no', 3.10]
"""


def test_values_and_positions():
    doc = load_document(TEXT, "f.yaml")
    assert doc.data["spec"]["tasks"] == [{"name": "a", "path": "tasks/a"}]
    assert doc.where(("metadata", "name")) == (2, 9)
    assert doc.where(("metadata", "name"), key=True) == (2, 3)
    assert doc.where(("spec", "tasks", 0)) == (5, 7)
    assert doc.where(("spec", "tasks", 0, "path")) == (6, 13)


def test_missing_paths_fall_back_to_the_nearest_parent():
    doc = load_document(TEXT, "f.yaml")
    assert doc.where(("spec", "tasks", 0, "nope", 3)) == (5, 7)
    assert doc.where(("nothing",)) == (1, 1)


def test_timestamps_stay_strings_other_scalars_follow_yaml():
    doc = load_document(TEXT, "f.yaml")
    assert doc.data["spec"]["when"] == "2030-01-01T00:00:00Z"
    assert doc.data["spec"]["flags"] == [True, "no", 3.1]


def test_get_is_total():
    doc = load_document(TEXT, "f.yaml")
    assert doc.get(("spec", "tasks", 0, "name")) == "a"
    assert doc.get(("spec", "tasks", 5)) is None
    assert doc.get(("metadata", "name", "x")) is None
    assert doc.get(("spec", "tasks", "x")) is None


def test_diagnostic_carries_file_position_and_path():
    d = load_document(TEXT, "f.yaml").diagnostic(("spec", "tasks", 0, "path"), "fix it", "warning")
    assert d.render() == "f.yaml:6:13: warning: fix it (spec.tasks[0].path)"


@pytest.mark.parametrize("text, where, words", [
    ("a: [1, 2\n", (2, 1), "expected ',' or ']'"),
    ("a: 1\n b: 2\n", (2, 3), "mapping values are not allowed here"),
    ("a: 1\na: 2\n", (2, 1), "duplicate key 'a' (first at line 1); remove one"),
    ("? [a]\n: 1\n", (1, 3), "a mapping key must be a plain string"),
    ("a: !custom 1\n", (1, 4), "could not determine a constructor for the tag '!custom'"),
    ("a: 1\n---\nb: 2\n", (2, 1), "expected a single document"),
    ("a: &x [*x]\n", (1, 4), "recursive alias; write the value out"),
    ("a: " + "[" * 64 + "]" * 64 + "\n", (1, 67), "nested more than 64 levels deep"),
    ("[" * 2000, (1, 1001), "nested more than 64 levels deep"),  # libyaml's own limit, same words
    ("a: " + "9" * 5000 + "\n", (1, 4), "this number has too many digits to read; quote it if it is text"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [" + ", ".join(["*a"] * 1001) + "]\n", (1, 8),
     "aliases (*name) and merge keys (<<) here expand to more than 10000 values"),
])
def test_unloadable_yaml_is_located(text, where, words):
    with pytest.raises(DocumentError) as raised:
        load_document(text, "f.yaml")
    d = raised.value.diagnostic
    assert (d.file, (d.line, d.col)) == ("f.yaml", where)
    assert words in d.message


def test_the_nesting_and_alias_bounds_leave_room_for_real_documents():
    assert load_document("a: " + "[" * 63 + "]" * 63 + "\n", "f.yaml").data is not None
    text = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: [" + ", ".join(["*a"] * 900) + "]\n"
    assert len(load_document(text, "f.yaml").data["b"]) == 900  # 9,000 values through aliases


def test_merge_keys():
    doc = load_document("base: &b {x: 1}\nfull:\n  <<: *b\n  y: 2\n", "f.yaml")
    assert doc.data["full"] == {"x": 1, "y": 2}


def test_empty_document_is_none():
    assert load_document("# only a comment\n", "f.yaml").data is None


@pytest.mark.parametrize("path, text", [
    ((), ""),
    (("spec", "tasks", 0, "name"), "spec.tasks[0].name"),
    (("metadata", "labels", "fusionizer.io/plan"), 'metadata.labels["fusionizer.io/plan"]'),
    ((0, "a"), "[0].a"),
])
def test_format_path(path, text):
    assert format_path(path) == text


def test_a_control_character_is_located_not_a_crash():
    with pytest.raises(DocumentError) as raised:
        load_document("metadata:\n  name: x\x07y\n", "f.yaml")
    d = raised.value.diagnostic
    assert d.location() == "f.yaml:2:10"
    assert d.message == "invalid YAML: character U+0007 is not allowed in YAML; remove it"


def test_a_tab_is_named_even_when_libyaml_parses():
    with pytest.raises(DocumentError) as raised:
        load_document("a: 1\n\tb: 2\n", "f.yaml")
    assert raised.value.diagnostic.location() == "f.yaml:2:1"
    assert "found character '\\t' that cannot start any token" in raised.value.diagnostic.message


def test_libyaml_and_pyyaml_read_the_same_document(monkeypatch):
    text = TEXT + (
        "anchors:\n  base: &b {x: 1, 'y z': [1, 2.5, null, ~]}\n  full:\n    <<: *b\n    k: |\n      two\n      lines\n"
        "\"ключ\": {é: \"✓😀\", z: [a, \"ü\", b]}\n"  # columns count characters, not bytes
    )
    fast = load_document(text, "f.yaml")
    monkeypatch.setattr(documents, "_FAST_LOADER", yaml.SafeLoader)
    slow = load_document(text, "f.yaml")
    assert (fast.data, fast.values, fast.keys) == (slow.data, slow.values, slow.keys)
