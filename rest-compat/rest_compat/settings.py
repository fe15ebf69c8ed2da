"""rest-compat settings: where the router is, how long to wait for it, and how long answers may be kept."""

from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from coursegraph.settings import ServiceSettings


class RestCompatSettings(ServiceSettings):
    router_timeout_seconds: float = 15.0
    max_body_bytes: int = 8 * 1024 * 1024
    # The media service's largest upload (the same setting): `POST /media/upload` may be that large.
    media_max_bytes: int = 500 * 1024 * 1024
    # The media service's S3 endpoints (the same settings): presigned upload forms name the public one, for
    # browsers; this service, inside the network, posts them to the internal one (compose: http://s3:9000).
    s3_endpoint_url: str | None = None
    s3_public_endpoint_url: str | None = None
    # Anonymous reads of public resources (rest_compat/cache.py, ADR 0024): how long a browser or a CDN
    # may keep them (they do not hear of changes), how long this process keeps them at most (it does: the
    # catalog signal), and how many it keeps.
    public_max_age_seconds: int = Field(default=5, ge=0, le=3600)
    public_cache_ttl_seconds: float = Field(default=60.0, gt=0, le=3600)
    public_cache_entries: int = Field(default=2000, ge=1, le=1_000_000)
    # Browser origins allowed to call (CORS): the web app's. The router reads the same variable.
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ("http://localhost:3000", "http://127.0.0.1:3000")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value
