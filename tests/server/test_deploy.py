"""deploy/: the Kubernetes manifests validate offline and fit together; the Dockerfile builds
what it copies. (Nothing here talks to a cluster: see the README for what was not tried live.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List

import kubernetes_validate
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def documents() -> List[Dict[str, Any]]:
    docs: List[Dict[str, Any]] = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def by_kind(kind: str) -> Dict[str, Any]:
    found = [d for d in documents() if d["kind"] == kind]
    assert len(found) == 1, kind
    return found[0]


@pytest.mark.parametrize("doc", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_each_manifest_is_valid_kubernetes(doc: Dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_the_manifests_refer_to_each_other() -> None:
    deployment, service = by_kind("Deployment"), by_kind("Service")
    pod = deployment["spec"]["template"]
    account = by_kind("ServiceAccount")["metadata"]["name"]
    assert pod["spec"]["serviceAccountName"] == account
    binding = by_kind("RoleBinding")
    assert binding["subjects"][0]["name"] == account
    assert binding["roleRef"]["name"] == by_kind("Role")["metadata"]["name"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    container = pod["spec"]["containers"][0]
    assert container["ports"][0]["containerPort"] == 8000 == service["spec"]["ports"][0]["port"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/-/healthz"
    secret = by_kind("Secret")
    assert pod["spec"]["volumes"][0]["secret"]["secretName"] == secret["metadata"]["name"]
    server_secret = next(e for e in container["env"] if e["name"] == "FUSIONIZER_SERVER_SECRET")
    reference = server_secret["valueFrom"]["secretKeyRef"]
    assert reference["name"] == secret["metadata"]["name"] and reference["key"] in secret["stringData"]
    assert {d["metadata"]["namespace"] for d in documents()} == {"nuclio"}


def test_nuctl_may_manage_nuclio_functions() -> None:
    rules = by_kind("Role")["rules"]
    nuclio = next(r for r in rules if r["apiGroups"] == ["nuclio.io"])
    assert "nucliofunctions" in nuclio["resources"]
    assert {"get", "list", "create", "update", "delete"} <= set(nuclio["verbs"])


def test_the_dockerfile_copies_what_exists_and_runs_serve() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (.+) /src/?\S*$", text, re.M):
        for name in source.split():
            assert (DEPLOY.parent / name).exists(), name
    assert 'ENTRYPOINT ["fusionizer", "serve"' in text
    assert "nuctl" in text
