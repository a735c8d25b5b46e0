"""The shipped JSON Schema: valid draft 2020-12, closed, documented, and in the wheel's path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import jsonschema
import pytest

from fusionizer.plan.documents import load_document
from fusionizer.plan.schema import FUNCTION_SCHEMA, _inlined, check_schema, plan_schema, shipped_schema

REPO = Path(__file__).resolve().parents[2]


def objects(node: Any, path: str = "#") -> Iterator[Tuple[str, dict]]:
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            yield path, node
        for key, value in node.items():
            yield from objects(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from objects(value, f"{path}/{i}")


def test_schema_is_valid_draft_2020_12_with_an_id():
    schema = plan_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("fusionizer.schema.json")
    jsonschema.Draft202012Validator.check_schema(schema)


def test_the_function_yaml_schema_is_valid_and_open():
    """function.yaml belongs to Nuclio: only the fields the fuser merges are constrained."""
    schema = shipped_schema(FUNCTION_SCHEMA)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert all(node.get("additionalProperties") is not False for _, node in objects(schema))


def test_every_mapping_is_closed_except_free_form_options():
    for path, node in objects(plan_schema()):
        if path.endswith("/options"):
            continue  # the optimizer's own options: anything goes
        assert node.get("additionalProperties") is False, path


def test_every_property_has_help_for_editors():
    defs = plan_schema()["$defs"]
    for path, node in objects(plan_schema()):
        for name, prop in node.get("properties", {}).items():
            target = defs[prop["$ref"].split("/")[-1]] if "$ref" in prop else {}
            assert {"description", "title"} & (set(prop) | set(target)), f"{path}/{name}"


def test_the_repo_schemas_symlink_serves_the_shipped_file():
    # The example's `# yaml-language-server: $schema=schemas/fusionizer.schema.json` resolves here.
    linked = REPO / "schemas" / "fusionizer.schema.json"
    assert json.loads(linked.read_text()) == plan_schema()
    assert (REPO / "fusionizer.yaml").read_text().startswith(
        "# yaml-language-server: $schema=schemas/fusionizer.schema.json\n"
    )


@pytest.mark.parametrize("text, messages", [
    ("{}", [
        "the plan is missing the required key 'apiVersion'; add it",
        "the plan is missing the required key 'kind'; add it",
        "the plan is missing the required key 'metadata'; add it",
        "the plan is missing the required key 'spec'; add it",
    ]),
    (
        "apiVersion: fusionizer.io/v1\nkind: FusionPlan\nmetadata: {name: x}\n"
        "spec: {fusion: {groups: [{name: g}], schedule: [{groups: 3}]}}\n",
        [
            "spec.fusion.groups[0] is missing the required key 'tasks'; add it",
            "expected a list, got a number (3); write a list here",
        ],
    ),
])
def test_messages(text, messages):
    found = [d.message for d in check_schema(load_document(text, "f.yaml"))]
    assert found == messages


def test_a_group_item_is_explained_in_the_form_the_user_chose():
    text = (
        "apiVersion: fusionizer.io/v1\nkind: FusionPlan\nmetadata: {name: x}\n"
        "spec:\n  fusion:\n    groups:\n      - [ok, Bad]\n      - {name: g, tasks: [a], extra: 1}\n"
    )
    found = [(d.location(), d.message) for d in check_schema(load_document(text, "f.yaml"))]
    assert found == [
        ("f.yaml:7:14", '"Bad": not a DNS-1123 label: use lowercase letters, digits and \'-\' only, '
                        "starting and ending with a letter or digit (e.g. validate-order)."),
        ("f.yaml:8:31", "unknown key 'extra' in spec.fusion.groups[1]; allowed keys: name, tasks"),
    ]


@pytest.mark.parametrize("name, bad", [
    ("fusionizer", [
        {}, {"apiVersion": "v0", "kind": 3, "metadata": {"name": "Bad_Name", "x": 1}},
        {"spec": {"tasks": [{"name": "UP"}, {"path": ""}], "platform": {"namespace": "-x", "kind": []},
                  "fusion": {"groups": [["a", "B"], {"name": "g"}, 3], "schedule": [{"groups": [[1]]}]}}},
    ]),
    (FUNCTION_SCHEMA, [
        {"metadata": {"labels": {"a": 1}}, "spec": {"resources": {"limits": {"cpu": []}}, "minReplicas": -1}},
        {"spec": {"triggers": {"t": {"numWorkers": 0}}, "build": [], "maxReplicas": "2"}},
    ]),
])
def test_the_schema_checked_without_references_judges_as_the_shipped_one(name: str, bad: List[Any]) -> None:
    shipped = jsonschema.Draft202012Validator(shipped_schema(name))
    inlined = _inlined(shipped_schema(name))
    assert "$ref" not in json.dumps({k: v for k, v in inlined.items() if k != "$defs"})
    faster = jsonschema.Draft202012Validator(inlined)

    def judged(validator: Any, doc: Any) -> Any:
        return sorted((list(e.absolute_path), e.validator, e.message) for e in validator.iter_errors(doc))

    for doc in bad:
        assert judged(shipped, doc) and judged(faster, doc) == judged(shipped, doc)
