"""Settings shared by every service; each service extends `ServiceSettings` with its own.

Every value comes from the environment (prefix `COURSEGRAPH_`) or a `.env` file in the working directory.
"""

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Profile(StrEnum):
    DEV = "dev"
    TEST = "test"
    PRODUCTION = "production"


# Dev and test only; the production profile refuses it (auth's refuse_unsafe_production).
DEV_SERVICE_CLIENT_SECRET = "dev-only-service-client-secret"  # noqa: S105


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="COURSEGRAPH_",
        env_file=".env",
        extra="ignore",
    )

    profile: Profile = Profile.DEV
    host: str = "127.0.0.1"
    log_level: str = "INFO"
    log_json: bool = True
    data_dir: Path = Path(".coursegraph/dev")

    # Tokens: every service verifies access tokens against the auth service's JWKS.
    jwt_issuer: str = "coursegraph"
    jwt_audience: str = "coursegraph-api"
    # Service tokens (internal operations between services) carry this audience instead,
    # so the router, which accepts only `jwt_audience`, refuses them.
    jwt_internal_audience: str = "coursegraph-internal"
    jwks_url: str = "http://127.0.0.1:4001/.well-known/jwks.json"
    jwks_cache_seconds: int = Field(default=300, ge=1)
    # An unknown `kid` refetches the JWKS at most this often (key rotation waits at most this long).
    jwks_refetch_seconds: float = Field(default=10, ge=0, le=300)

    # Backing services (unset means the embedded dev default where one exists).
    database_url: str | None = None
    mongodb_url: str | None = None
    kafka_bootstrap_servers: str | None = None
    # Put before every consumer group id: deployments (or test stacks) sharing a Kafka cluster.
    kafka_consumer_group_prefix: str = ""
    # A managed cluster: TLS, and SASL (PLAIN or SCRAM) credentials (coursegraph.events.kafka).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    # Redis (ADR 0022): `redis://[:password@]host:port/db`, or `rediss://` for TLS (with a private CA in
    # `redis_ca_file`, a PEM bundle). A secret: it may carry the password. Unset: the in-process stand-in
    # (dev and test); the production profile requires it where a service uses it.
    redis_url: SecretStr | None = None
    redis_ca_file: Path | None = None
    # Outbox relays: how often they look for unpublished events, and their longest retry wait. Writes
    # wake their relay at once; the poll is the safety net (another replica's writes, a restart).
    outbox_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # The document relays publish what this process writes at once; their poll only finds what a crash or
    # another replica left. Unset: every 30 s on MongoDB (an indexed query), every 10 minutes on FerretDB,
    # where the poll decodes every document and a service runs as one instance (ADR 0010, ADR 0014).
    document_outbox_poll_seconds: float | None = Field(default=None, gt=0, le=3600)
    outbox_max_backoff_seconds: float = Field(default=30.0, gt=0, le=600)
    # Development: append the shape of every document-store command (collection, filter fields and
    # operators, sort; never values) to this file, to see which index answers what (tests read it).
    store_shapes_log: Path | None = None
    # Dev only: with no mongodb_url, `coursegraph dev` runs FerretDB on SQLite here.
    dev_mongodb_port: int = 27117

    # Ports, one per service (DESIGN §6a).
    router_port: int = 4000
    rest_compat_port: int = 8080
    auth_port: int = 4001
    users_port: int = 4002
    courses_port: int = 4003
    assessments_port: int = 4004
    media_port: int = 4005
    notifications_port: int = 4006
    web_port: int = 3000  # the web app (coursegraph_cli/web.py), served at /app/

    # Internal calls between services: a service token from auth's client-credentials endpoint.
    auth_token_url: str = "http://127.0.0.1:4001/oauth/token"  # noqa: S105 (a URL)
    service_client_secret: SecretStr = SecretStr(DEV_SERVICE_CLIENT_SECRET)
    courses_subgraph_url: str = "http://127.0.0.1:4003/graphql"

    router_url: str = "http://127.0.0.1:4000/graphql"
    users_subgraph_url: str = "http://127.0.0.1:4002/graphql"

    @field_validator("redis_url", "redis_ca_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @model_validator(mode="before")
    @classmethod
    def _local_urls_follow_ports(cls, data: Any) -> Any:
        """Unset service URLs point at this host's ports, so changing a port needs one setting, not three."""
        if not isinstance(data, dict):
            return data

        def port(name: str) -> Any:
            return data.get(f"{name}_port") or cls.model_fields[f"{name}_port"].default

        host = data.get("host") or "127.0.0.1"
        host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 (a listen-all address is no URL)
        base = {name: f"http://{host}:{port(name)}" for name in ("auth", "users", "courses", "router")}
        data.setdefault("jwks_url", f"{base['auth']}/.well-known/jwks.json")
        data.setdefault("auth_token_url", f"{base['auth']}/oauth/token")
        data.setdefault("users_subgraph_url", f"{base['users']}/graphql")
        data.setdefault("courses_subgraph_url", f"{base['courses']}/graphql")
        data.setdefault("router_url", f"{base['router']}/graphql")
        return data

    @property
    def document_store_url(self) -> str:
        if self.mongodb_url:
            return self.mongodb_url
        if self.profile is Profile.DEV:
            return f"mongodb://127.0.0.1:{self.dev_mongodb_port}/"
        raise RuntimeError(f"COURSEGRAPH_MONGODB_URL is required in the {self.profile} profile")

    @property
    def is_production(self) -> bool:
        return self.profile is Profile.PRODUCTION
