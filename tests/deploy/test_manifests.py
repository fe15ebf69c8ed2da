"""Issue 11: every Kubernetes overlay renders, validates strictly against the vendored schemas, and keeps
the deployment policy; and the checks catch what they are for (an invalid field, a missing probe or
limit, an exposed subgraph, an inlined secret)."""

import copy
import hashlib
import re
from pathlib import Path

import pytest
import yaml

from coursegraph_cli.deploy import (
    KUBERNETES_VERSION,
    OVERLAYS,
    Resource,
    policy_problems,
    render,
    resources,
    schema_problems,
)

pytestmark = pytest.mark.deploy


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> str:
    return render(request.param)


def test_every_overlay_is_valid_and_keeps_the_policy(rendered: str) -> None:
    assert schema_problems(rendered) == []
    found = resources(rendered)
    assert policy_problems(found) == []
    kinds = {r.kind for r in found}
    assert {"Deployment", "Service", "Ingress", "NetworkPolicy", "PodDisruptionBudget"} <= kinds
    assert {"HorizontalPodAutoscaler", "Job", "ConfigMap"} <= kinds
    services = {r.name for r in found if r.kind == "Deployment"}
    assert services == {
        "auth",
        "users",
        "courses",
        "assessments",
        "media",
        "notifications",
        "rest-compat",
        "router",
        "web",
    }
    assert {r.name for r in found if r.kind == "Job"} == {"migrate", "kafka-topics"}


def test_production_runs_two_replicas_at_least_and_pins_its_images() -> None:
    found = resources(render("production"))
    for deployment in (r for r in found if r.kind == "Deployment"):
        assert deployment.body["spec"]["replicas"] >= 2, deployment.name
        image = deployment.body["spec"]["template"]["spec"]["containers"][0]["image"]
        assert not image.endswith(":latest") and ":" in image, image
    assert all(r.body["spec"]["minReplicas"] >= 2 for r in found if r.kind == "HorizontalPodAutoscaler")


def _mutated(rendered: str, change: object) -> list[Resource]:
    found = [Resource(r.kind, r.name, copy.deepcopy(r.body)) for r in resources(rendered)]
    change(found)  # type: ignore[operator]
    return found


def _deployment(found: list[Resource], name: str) -> dict:  # type: ignore[type-arg]
    return next(r.body for r in found if r.kind == "Deployment" and r.name == name)


def test_the_schema_check_fails_on_an_invalid_field() -> None:
    rendered = render("production")
    docs = list(yaml.safe_load_all(rendered))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    problems = schema_problems(yaml.safe_dump_all(docs))
    assert len(problems) == 1 and "imagePullPolicyy" in problems[0], problems
    service = next(d for d in docs if d["kind"] == "Service")
    service["spec"]["ports"][0]["port"] = "eighty"
    assert any("Service" in p for p in schema_problems(yaml.safe_dump_all(docs)))


@pytest.mark.parametrize(
    ("what", "expected"),
    [
        ("probe", "readinessProbe is required"),
        ("limit", "memory limits are required"),
        ("root", "non-root"),
        ("ingress", "exposes courses"),
        ("secret", "must come from a Secret"),
        ("budget", "no PodDisruptionBudget"),
    ],
)
def test_the_policy_check_fails_on_each_breach(what: str, expected: str) -> None:
    rendered = render("production")

    def breach(found: list[Resource]) -> None:
        users = _deployment(found, "users")["spec"]["template"]["spec"]
        container = users["containers"][0]
        if what == "probe":
            del container["readinessProbe"]
        elif what == "limit":
            container["resources"]["limits"] = {"cpu": "1"}
        elif what == "root":
            users["securityContext"]["runAsNonRoot"] = False
        elif what == "ingress":
            ingress = next(r.body for r in found if r.kind == "Ingress")
            path = copy.deepcopy(ingress["spec"]["rules"][0]["http"]["paths"][0])
            path["path"], path["backend"]["service"]["name"] = "/courses-graphql", "courses"
            ingress["spec"]["rules"][0]["http"]["paths"].append(path)
        elif what == "secret":
            container["env"].append({"name": "COURSEGRAPH_DATABASE_URL", "value": "postgresql://u:p@db/x"})
        elif what == "budget":
            found[:] = [r for r in found if not (r.kind == "PodDisruptionBudget" and r.name == "users")]

    problems = policy_problems(_mutated(rendered, breach))
    assert len(problems) == 1 and expected in problems[0], problems


def test_the_schemas_are_vendored() -> None:
    """The schemas are those deploy/vendor_schemas.py took from kubernetes-validate (the checksums it
    recorded), and each kind's is strict and in use: a field no Kubernetes version has is refused."""
    schemas = (
        Path(__file__).resolve().parents[2] / "deploy" / "schemas" / f"v{KUBERNETES_VERSION}-local-strict"
    )
    header, *lines = (schemas / "SHA256SUMS").read_text().splitlines()
    assert (
        header.startswith("# from kubernetes_validate-") and f"/v{KUBERNETES_VERSION}-local-strict/" in header
    )
    recorded = {name: digest for digest, name in (line.split("  ") for line in lines)}
    assert set(recorded) == {p.name for p in schemas.glob("*.json")}, "every file recorded, and only those"
    for name, digest in recorded.items():
        assert hashlib.sha256((schemas / name).read_bytes()).hexdigest() == digest, f"{name} was changed"

    docs = [doc for doc in yaml.safe_load_all(render("production")) if doc]
    kinds = {doc["kind"] for doc in docs}
    assert {"Deployment", "Service", "ConfigMap", "Job"} <= kinds
    for kind in sorted(kinds):
        doc = copy.deepcopy(next(d for d in docs if d["kind"] == kind))
        doc["notAKubernetesField"] = True
        problems = schema_problems(yaml.safe_dump(doc))
        assert len(problems) == 1 and "notAKubernetesField" in problems[0], (kind, problems)


def test_the_operations_guide_matches_the_manifests() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    found = resources(render("production"))
    for resource in found:
        if resource.kind in ("Deployment", "Job"):
            assert f"`{resource.name}`" in guide, (
                f"{resource.kind} {resource.name} is not in docs/operations.md"
            )
    secrets: set[str] = set()
    for _, pod in ((r, r.body["spec"]["template"]["spec"]) for r in found if r.kind in ("Deployment", "Job")):
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                secrets.add(volume["secret"]["secretName"])
        for container in pod["containers"]:
            for variable in container.get("env") or []:
                reference = (variable.get("valueFrom") or {}).get("secretKeyRef")
                if reference:
                    secrets.add(reference["name"])
                    assert f"`{reference['key']}`" in guide, f"key {reference['key']} of {reference['name']}"
    for ingress in (r for r in found if r.kind == "Ingress"):
        secrets |= {tls["secretName"] for tls in ingress.body["spec"]["tls"]}
    for secret in secrets:
        assert f"`{secret}`" in guide, f"Secret {secret} is not in docs/operations.md"


def test_the_network_policies_let_each_service_reach_the_subgraphs_it_calls() -> None:
    """A subgraph that calls another one (`settings.<name>_subgraph_url` in its app) needs an egress rule
    to it and an ingress rule at it; otherwise the call works everywhere but in the cluster. Read from the
    apps themselves, so a new call cannot be forgotten here."""
    repo = Path(__file__).resolve().parents[2]
    policies = {
        document["metadata"]["name"]: document
        for document in yaml.safe_load_all((repo / "deploy/kustomize/base/network-policies.yaml").read_text())
        if document
    }

    def peers(name: str, direction: str, side: str) -> set[str]:
        rules = policies[name]["spec"].get(direction, [])
        return {
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
            for rule in rules
            for peer in rule.get(side, [])
            if "podSelector" in peer
        }

    calls = {
        (app.parent.name, called)
        for app in (repo / "subgraphs").glob("*/app.py")
        for called in re.findall(r"settings\.(\w+)_subgraph_url", app.read_text())
    }
    assert ("courses", "users") in calls, "the roster's users lookup is found"
    for caller, called in sorted(calls):
        assert called in peers(f"{caller}-to-services", "egress", "to"), f"{caller} may not reach {called}"
        assert caller in peers(f"{called}-from-callers", "ingress", "from"), f"{called} refuses {caller}"
