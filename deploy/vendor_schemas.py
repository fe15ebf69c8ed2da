"""Refresh deploy/schemas: the Kubernetes JSON schemas kubeconform validates the manifests against,
taken from PyPI's kubernetes-validate (strict variants: unknown fields are errors). Only the kinds the
manifests use are kept, with the definitions they refer to (their references made relative). SHA256SUMS
beside them records the wheel they came from (its name and PyPI's SHA-256) and each file's SHA-256
(`sha256sum -c SHA256SUMS` checks them; so does tests/deploy).

    uv run python deploy/vendor_schemas.py
"""

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import httpx

PACKAGE, VERSION = "kubernetes-validate", "1.37.0"
KUBERNETES = "v1.33.0"
KINDS = [
    "configmap-v1",
    "deployment-apps-v1",
    "horizontalpodautoscaler-autoscaling-v2",
    "ingress-networking-v1",
    "job-batch-v1",
    "networkpolicy-networking-v1",
    "poddisruptionbudget-policy-v1",
    "service-v1",
]
TARGET = Path(__file__).with_name("schemas") / f"{KUBERNETES}-local-strict"
SUMS = "SHA256SUMS"


def main() -> None:
    # The package index's simple API (PEP 691, JSON), as pip and uv read it.
    index = httpx.get(
        f"https://pypi.org/simple/{PACKAGE}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        timeout=60,
        follow_redirects=True,
    ).raise_for_status()
    wanted = f"{PACKAGE.replace('-', '_')}-{VERSION}-py3-none-any.whl"
    wheel = next(f for f in index.json()["files"] if f["filename"] == wanted)
    content = httpx.get(wheel["url"], timeout=300, follow_redirects=True).raise_for_status().content
    if hashlib.sha256(content).hexdigest() != wheel["hashes"]["sha256"]:
        raise SystemExit(f"{wanted}: checksum mismatch")
    archive = zipfile.ZipFile(io.BytesIO(content))
    source = f"kubernetes_validate/kubernetes-json-schema/{KUBERNETES}-local-strict"
    shutil.rmtree(TARGET, ignore_errors=True)
    TARGET.mkdir(parents=True)
    sums = [f"# from {wanted} (sha256 {wheel['hashes']['sha256']}), {source}/"]
    for name in ["_definitions", *KINDS]:
        schema = json.loads(archive.read(f"{source}/{name}.json"))
        # Its `$id`s and references are rooted at https://kubernetes.io/api/; kubeconform must resolve
        # them among these files, offline: no `$id`, references relative to the file.
        schema.pop("$id", None)
        text = json.dumps(schema, indent=1).replace('"/api/_definitions.json#', '"_definitions.json#') + "\n"
        (TARGET / f"{name}.json").write_text(text)
        sums.append(f"{hashlib.sha256(text.encode()).hexdigest()}  {name}.json")
    (TARGET / SUMS).write_text("\n".join(sums) + "\n")
    print(f"wrote {len(KINDS) + 1} schemas to {TARGET}")


if __name__ == "__main__":
    main()
