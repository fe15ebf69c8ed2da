"""The Kubernetes manifests, checked offline: every kustomize overlay rendered, validated strictly by
kubeconform against the schemas vendored in `deploy/schemas`, and held to the deployment policy below.

`uv run coursegraph deploy-check` (and `make test`, through tests/deploy) runs all of it. kustomize and
kubeconform are built from the Go module proxy into the download cache on first use.
"""

import json
import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from coursegraph_cli.infra.paths import cache_dir
from coursegraph_cli.infra.process import InfraError, file_lock, run, which

REPO = Path(__file__).resolve().parents[1]
KUSTOMIZE_DIR = REPO / "deploy" / "kustomize"
OVERLAYS = ("dev", "production")
KUBERNETES_VERSION = "1.33.0"
SCHEMAS = REPO / "deploy" / "schemas" / "{{ .NormalizedKubernetesVersion }}-local-strict"
TOOLS = {
    "kustomize": "sigs.k8s.io/kustomize/kustomize/v5@v5.7.1",
    "kubeconform": "github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0",
}
# Only these are reachable from outside the cluster (the Ingress), and they reach the subgraphs.
EDGE = {"router", "rest-compat", "web"}
SECRET_WORDS = ("SECRET", "PASSWORD", "API_KEY", "DATABASE_URL", "MONGODB_URL", "CLIENTS")


def tool(name: str) -> str:
    """The path of `name`, installed with `go install` into the cache when missing."""
    directory = cache_dir() / "tools"
    path = directory / name
    with file_lock(cache_dir() / "tools.lock"):
        if not os.access(path, os.X_OK):
            go = which("go", "/usr/local/go/bin")
            if go is None:
                raise InfraError(f"{name} is built with Go, but no `go` toolchain found")
            run([go, "install", TOOLS[name]], env={**os.environ, "GOBIN": str(directory)})
    return str(path)


def render(overlay: str | Path) -> str:
    """`kustomize build` of an overlay (a name under deploy/kustomize/overlays, or a directory)."""
    directory = overlay if isinstance(overlay, Path) else KUSTOMIZE_DIR / "overlays" / overlay
    return run([tool("kustomize"), "build", str(directory)])


def schema_problems(manifests: str) -> list[str]:
    """What kubeconform finds wrong (strict: unknown fields too); [] when every resource is valid."""
    done = subprocess.run(  # noqa: S603 (our own tool, fixed arguments)
        [
            tool("kubeconform"), "-strict", "-output", "json", "-kubernetes-version", KUBERNETES_VERSION,
            "-schema-location", f"{SCHEMAS}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json", "-",
        ],
        input=manifests, capture_output=True, text=True, check=False,
    )  # fmt: skip
    try:
        resources = json.loads(done.stdout or "{}").get("resources") or []
    except ValueError:
        return [f"kubeconform: {done.stdout or done.stderr}"]
    problems = [f"{r['kind']}/{r['name']}: {r['msg']}" for r in resources if r["status"] != "statusValid"]
    if done.returncode != 0 and not problems:
        problems.append(f"kubeconform failed: {done.stderr.strip()}")
    return problems


@dataclass(frozen=True)
class Resource:
    kind: str
    name: str
    body: dict[str, Any]


def resources(manifests: str) -> list[Resource]:
    return [
        Resource(doc["kind"], doc["metadata"]["name"], doc) for doc in yaml.safe_load_all(manifests) if doc
    ]


def _pods(found: Iterable[Resource]) -> Iterable[tuple[Resource, dict[str, Any]]]:
    for resource in found:
        if resource.kind in ("Deployment", "Job"):
            yield resource, resource.body["spec"]["template"]["spec"]


def policy_problems(found: list[Resource]) -> list[str]:
    """The deployment policy: probes, requests and limits, non-root with a read-only root filesystem and
    no capabilities, secrets only by reference, a disruption budget and an autoscaler per Deployment,
    default-deny network policies, and an Ingress that routes to the edge alone."""
    problems: list[str] = []
    for resource, pod in _pods(found):
        where = f"{resource.kind}/{resource.name}"
        security = pod.get("securityContext") or {}
        if security.get("runAsNonRoot") is not True or not security.get("runAsUser"):
            problems.append(f"{where}: pod must run as a non-root user")
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{where}: no service account token is needed")
        for container in pod["containers"]:
            at = f"{where} container {container['name']}"
            resources_ = container.get("resources") or {}
            for bound in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(resources_.get(bound) or {}):
                    problems.append(f"{at}: cpu and memory {bound} are required")
            if resource.kind == "Deployment":
                for probe in ("readinessProbe", "livenessProbe"):
                    if probe not in container:
                        problems.append(f"{at}: {probe} is required")
            context = container.get("securityContext") or {}
            if context.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{at}: the root filesystem must be read-only")
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{at}: privilege escalation must be off")
            if (context.get("capabilities") or {}).get("drop") != ["ALL"]:
                problems.append(f"{at}: every capability must be dropped")
            for variable in container.get("env") or []:
                name = variable["name"]
                if "value" in variable and any(word in name for word in SECRET_WORDS):
                    problems.append(f"{at}: {name} must come from a Secret, not be written here")
    if any(r.kind == "Secret" for r in found):
        problems.append("Secrets are referenced, never part of the manifests")
    deployments = {r.name for r in found if r.kind == "Deployment"}
    budgets = {
        r.body["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for r in found
        if r.kind == "PodDisruptionBudget"
    }
    scaled = {r.body["spec"]["scaleTargetRef"]["name"] for r in found if r.kind == "HorizontalPodAutoscaler"}
    problems += [f"Deployment/{name}: no PodDisruptionBudget" for name in sorted(deployments - budgets)]
    problems += [f"Deployment/{name}: no HorizontalPodAutoscaler" for name in sorted(deployments - scaled)]
    denies = [r for r in found if r.kind == "NetworkPolicy" and r.body["spec"].get("podSelector") == {}
              and set(r.body["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
              and not r.body["spec"].get("ingress") and not r.body["spec"].get("egress")]  # fmt: skip
    if not denies:
        problems.append("no default-deny NetworkPolicy")
    for ingress in (r for r in found if r.kind == "Ingress"):
        if not ingress.body["spec"].get("tls"):
            problems.append(f"Ingress/{ingress.name}: TLS is required")
        for rule in ingress.body["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                backend = path["backend"]["service"]["name"]
                if backend not in EDGE:
                    problems.append(f"Ingress/{ingress.name}: {path['path']} exposes {backend}, not the edge")
    return problems


def check(overlay: str | Path) -> list[str]:
    manifests = render(overlay)
    return schema_problems(manifests) + policy_problems(resources(manifests))
