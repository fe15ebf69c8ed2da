"""rest-compat settings: where the router is, and how long to wait for it."""

from coursegraph.settings import ServiceSettings


class RestCompatSettings(ServiceSettings):
    router_timeout_seconds: float = 15.0
    max_body_bytes: int = 8 * 1024 * 1024
    # The media service's largest upload (the same setting): `POST /media/upload` may be that large.
    media_max_bytes: int = 500 * 1024 * 1024
