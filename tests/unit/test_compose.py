"""Issue 11: compose.yml (and its dev override) checked against the services themselves, since no
container engine runs here: every variable a service requires is set, each service's settings load and
pass its production checks from that environment, ports and health checks agree, every service waits
for what it needs to be healthy, volumes are used and writable by the images' users, and the router runs
without npx."""

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from coursegraph.catalog_signal import RedisCatalogSignal, catalog_signal
from coursegraph.settings import ServiceSettings
from coursegraph_cli.launcher import PYTHON_SERVICES
from coursegraph_cli.operations import write_compose_secrets

REPO = Path(__file__).resolve().parents[2]
VARIABLE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable interpolation: `${X}`, `${X:-default}`, `${X:?error}` (which must not fire)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if env.get(name):
            return env[name]
        if op == ":?":
            raise AssertionError(f"${{{name}}} is required: {arg}")
        return arg or ""

    return VARIABLE.sub(substitute, value)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = (
            merge(merged[key], value)
            if isinstance(value, dict) and isinstance(merged.get(key), dict)
            else value
        )
    return merged


@pytest.fixture(scope="module")
def secrets_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("compose") / "secrets"
    write_compose_secrets(directory)
    env = {}
    for line in (directory / "compose.env").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    assert (directory / "jwt-signing.pem").read_text().startswith("-----BEGIN PRIVATE KEY-----")
    env["COURSEGRAPH_SENDGRID_API_KEY"] = "SG.operator-supplied"
    env["JWT_KEY_FILE"] = str(directory / "jwt-signing.pem")
    return env


def load(*files: str, env: dict[str, str]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for name in files:
        config = merge(config, yaml.safe_load((REPO / name).read_text()))
    interpolated: dict[str, Any] = interpolate(config, env)
    return interpolated


def settings_class(service: str) -> type[BaseSettings]:
    module = {"rest-compat": "rest_compat.app"}.get(service, f"subgraphs.{service}.app")
    found = __import__(module, fromlist=["create_app"])
    classes = [
        v
        for v in vars(found).values()
        if (isinstance(v, type) and issubclass(v, BaseSettings) and v.__module__.endswith("settings"))
        or (isinstance(v, type) and issubclass(v, BaseSettings) and v.__module__ == module)
    ]
    return max(classes, key=lambda c: len(c.__mro__))


@pytest.mark.parametrize("files", [("compose.yml",), ("compose.yml", "compose.dev.yml")])
def test_every_service_starts_from_its_compose_environment(
    files: tuple[str, ...], secrets_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load(*files, env=secrets_env)
    services = config["services"]
    assert set(PYTHON_SERVICES) | {"router"} <= set(services)
    for name in PYTHON_SERVICES:
        environment = {k: str(v) for k, v in services[name]["environment"].items()}
        for key in [k for k in os.environ if k.startswith("COURSEGRAPH_")]:
            monkeypatch.delenv(key)
        if name == "auth":  # the secret file compose mounts at /run/secrets/jwt_signing_key
            assert environment["COURSEGRAPH_JWT_PRIVATE_KEYS"] == "/run/secrets/jwt_signing_key"
            assert services["auth"]["secrets"] == ["jwt_signing_key"]
            environment["COURSEGRAPH_JWT_PRIVATE_KEYS"] = secrets_env["JWT_KEY_FILE"]
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
        settings = settings_class(name)()
        refuse = getattr(settings, "refuse_unsafe_production", None)
        if refuse is not None:
            refuse()  # production: real keys and secrets, nothing dev-only
        assert str(settings.profile) == ("test" if "compose.dev.yml" in files else "production"), name  # type: ignore[attr-defined]
        if name in ("courses", "rest-compat"):  # they follow the catalog on Redis (ADR 0022)
            assert isinstance(settings, ServiceSettings)
            assert isinstance(catalog_signal(settings), RedisCatalogSignal), name
            assert services[name]["depends_on"]["redis"] == {"condition": "service_healthy"}, name
        port = getattr(settings, f"{name.replace('-', '_')}_port")
        health = " ".join(services[name]["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/ready" in health, (name, health)
        if name != "rest-compat":
            assert f"http://{name}:{port}/graphql" in services["router"]["environment"].values(), name
    redis_url = services["courses"]["environment"]["COURSEGRAPH_REDIS_URL"]
    assert services["router"]["environment"]["COURSEGRAPH_REDIS_URL"] == redis_url
    assert services["router"]["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_health_checks_dependencies_volumes_and_signals(secrets_env: dict[str, str]) -> None:
    config = load("compose.yml", env=secrets_env)
    services = config["services"]
    ours = [*PYTHON_SERVICES, "router"]
    for name, service in services.items():
        if name in ("jaeger", "volumes-owned", "kafka-topics"):
            continue
        assert "healthcheck" in service, f"{name} has no health check"
    for name in ours:
        service = services[name]
        assert service.get("init") is True and service.get("read_only") is True, name
        assert "/tmp" in service.get("tmpfs", []), name
        for dependency, condition in (service.get("depends_on") or {}).items():
            wanted = "service_completed_successfully" if dependency == "kafka-topics" else "service_healthy"
            assert condition == {"condition": wanted}, (name, dependency)
        assert not service.get("volumes"), f"{name} needs no volume: secrets are files, data is in the stores"
    # Every named volume is mounted, and Kafka writes where its volume is (made its user's first).
    declared = set(config["volumes"])
    mounted = {v.split(":")[0] for s in services.values() for v in s.get("volumes", [])}
    assert declared == mounted
    kafka = services["kafka"]
    assert f"kafka:{kafka['environment']['KAFKA_LOG_DIRS']}" in kafka["volumes"]
    assert kafka["depends_on"]["volumes-owned"] == {"condition": "service_completed_successfully"}
    # Production settings pass through: nothing dev-only in the default file.
    text = (REPO / "compose.yml").read_text()
    assert "dev-only" not in text and "DEV_SIGN_IN" not in text
    # The images: the router is its own process (signals), services run as the Dockerfile's user.
    dockerfile = (REPO / "Dockerfile").read_text()
    router_entrypoint = next(
        line for line in dockerfile.split("AS router")[1].splitlines() if line.startswith("ENTRYPOINT")
    )
    assert "npx" not in router_entrypoint and "hive-gateway" in router_entrypoint
    assert "USER 10001" in dockerfile
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".coursegraph", "router/node_modules", "secrets"} <= set(ignored)


def test_the_dev_override_offers_a_way_to_sign_in(secrets_env: dict[str, str]) -> None:
    services = load("compose.yml", "compose.dev.yml", env=secrets_env)["services"]
    assert services["auth"]["environment"]["COURSEGRAPH_DEV_SIGN_IN"] == "true"
    assert services["auth"]["environment"]["COURSEGRAPH_PROFILE"] == "test"
    assert services["notifications"]["environment"]["COURSEGRAPH_SENDGRID_API_KEY"] == ""


def test_a_missing_secret_is_a_clear_error() -> None:
    with pytest.raises(
        AssertionError, match=r"POSTGRES_PASSWORD\} is required: run coursegraph compose-secrets"
    ):
        load("compose.yml", env={})
