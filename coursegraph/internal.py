"""Internal GraphQL calls from one service to another's subgraph, with a service token.

The token comes from the auth service's OAuth 2.0 client-credentials endpoint; authlib fetches it and
fetches a new one shortly before it expires. Internal operations are `@inaccessible`: not in the router's
API, so they are called on the subgraph directly.
"""

import logging
from typing import Any

from authlib.integrations.httpx_client import AsyncOAuth2Client

from coursegraph.errors import ErrorCode, Internal, error_from_graphql
from coursegraph.settings import ServiceSettings
from coursegraph.tracing import instrument_http_client

logger = logging.getLogger(__name__)

UNAVAILABLE = "A service this operation depends on is unavailable, try again later."


class InternalGraphQLClient:
    def __init__(self, settings: ServiceSettings, *, service: str, url: str, timeout: float = 10.0) -> None:
        self._url = url
        self._oauth = AsyncOAuth2Client(
            client_id=service,
            client_secret=settings.service_client_secret.get_secret_value(),
            token_endpoint=settings.auth_token_url,
            grant_type="client_credentials",
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 (a method name)
            leeway=20,
            timeout=timeout,
        )
        instrument_http_client(self._oauth, service)

    async def close(self) -> None:
        await self._oauth.aclose()

    async def execute(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        try:
            if not self._oauth.token:
                await self._oauth.fetch_token()
            response = await self._oauth.post(self._url, json={"query": query, "variables": variables})
            body = response.json()
        except Exception as exc:  # transport, JSON, or authlib's errors: no answer to trust
            logger.error("internal call to %s failed: %r", self._url, exc)
            raise Internal(UNAVAILABLE) from exc
        if errors := body.get("errors"):
            rebuilt = error_from_graphql(errors[0])
            if rebuilt is None or rebuilt.code is ErrorCode.INTERNAL:
                logger.error("internal call to %s answered %s", self._url, errors[0])
                raise Internal(UNAVAILABLE)
            raise rebuilt
        data: dict[str, Any] = body["data"]
        return data
