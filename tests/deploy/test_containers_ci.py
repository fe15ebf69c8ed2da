"""Issue 19's pure parts (the container run itself is `make test-containers`): the CI override swaps every
official image of compose.yml for a stand-in built from deploy/ci-images, publishes on 127.0.0.1 ports clear
of the test suite's, and leaves users the official images; the media service signs browser URLs for the
public S3 endpoint."""

import itertools
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from subgraphs.media.storage import S3Storage

REPO = Path(__file__).resolve().parents[2]
TEST_STACK_PORTS = {4000, 4001, 4002, 4003, 4004, 4005, 4006, 8080}


class ComposeLoader(yaml.SafeLoader):
    """Compose's YAML: `!override` and `!reset` tags on top of plain YAML."""


ComposeLoader.add_multi_constructor("!", lambda loader, _tag, node: loader.construct_sequence(node))


def load(path: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load((REPO / path).read_text(), Loader=ComposeLoader)  # noqa: S506
    return loaded


def test_ci_override_swaps_every_official_image_for_a_stand_in() -> None:
    compose, ci = load("compose.yml")["services"], load("deploy/containers/compose.ci.yml")["services"]
    stand_ins = {p.name.removesuffix(".Dockerfile") for p in (REPO / "deploy/ci-images").glob("*.Dockerfile")}
    for name, service in compose.items():
        if "image" not in service or service.get("profiles"):
            continue  # built from the Dockerfile, or on demand only (tracing)
        image = ci[name]["image"]
        assert image.removeprefix("coursegraph-ci/") in stand_ins | {"bookworm"}, (name, image)
        assert ci[name]["pull_policy"] == "never", name
    # The project's images come from stand-in bases, built once (one tag for every Python service).
    built = {name: ci[name] for name, service in compose.items() if "build" in service}
    assert {s["image"] for n, s in built.items() if n != "router"} == {"coursegraph-app:ci"}
    for service in built.values():
        assert service["build"]["args"] == {
            "PYTHON_IMAGE": "coursegraph-ci/python",
            "NODE_IMAGE": "coursegraph-ci/node",
        }


def test_ci_ports_are_loopback_and_clear_of_the_test_stack() -> None:
    ci = load("deploy/containers/compose.ci.yml")["services"]
    published = [port for service in ci.values() for port in service.get("ports", [])]
    assert published, "the smoke stack publishes its entry points"
    for port in published:
        host, host_port, _ = port.split(":")
        assert host == "127.0.0.1" and int(host_port) not in TEST_STACK_PORTS, port


def test_users_keep_the_official_base_images() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in dockerfile
    assert "ARG NODE_IMAGE=node:20-slim" in dockerfile
    assert set(re.findall(r"^FROM (\S+)", dockerfile, re.M)) == {"${PYTHON_IMAGE}", "${NODE_IMAGE}"}
    assert "coursegraph-ci" not in (REPO / "compose.yml").read_text()


def test_presigned_urls_name_the_public_endpoint() -> None:
    storage = S3Storage(
        bucket="media",
        endpoint_url="http://s3:9000",
        public_endpoint_url="http://127.0.0.1:19000",
        region="us-east-1",
        access_key_id="key",
        secret_access_key="secret",
    )
    url = storage.presigned_get("a/b", filename="b.png", content_type="image/png", expires=timedelta(hours=1))
    assert url.startswith("http://127.0.0.1:19000/media/a/b?")
    internal = S3Storage(
        bucket="media",
        endpoint_url="http://s3:9000",
        region="us-east-1",
        access_key_id="key",
        secret_access_key="secret",
    )
    assert internal.presigned_get(
        "k", filename="k", content_type="image/png", expires=timedelta(hours=1)
    ).startswith("http://s3:9000/media/k?")


def test_generated_secrets_reach_commands_as_option_values() -> None:
    """`coursegraph compose-secrets` makes URL-safe secrets, and one in 32 begins with "-": passed as a word
    of its own after an option (`--secret-key`, `$SECRET`), a command-line parser reads it as an option."""
    for path in ("compose.yml", "compose.dev.yml", "deploy/containers/compose.ci.yml"):
        for name, service in load(path)["services"].items():
            words = [
                str(word) for word in service.get("command", []) if isinstance(service.get("command"), list)
            ]
            for option, value in itertools.pairwise(words):
                assert not (option.startswith("-") and value.startswith("${")), (path, name, option, value)
