"""Internal GraphQL calls from one service to another's subgraph, with a service token.

Internal operations are `@inaccessible`: not in the router's API, so they are called on the subgraph
directly. Every call carries the request id of the request that caused it (one id across services'
logs), retries a connection that was refused (the request never arrived, so nothing runs twice), and
turns the other service's errors back into ours; a service that cannot be reached (down, or still
starting) is UNAVAILABLE (retryable), and an answer we cannot trust is one INTERNAL error.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from asgi_correlation_id import correlation_id
from authlib.integrations.httpx_client import AsyncOAuth2Client
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from coursegraph.codes import code_for_status
from coursegraph.errors import ErrorCode, Internal, Unavailable, error_from_graphql
from coursegraph.observability import REQUEST_ID_HEADER
from coursegraph.settings import ServiceSettings
from coursegraph.tracing import instrument_http_client

logger = logging.getLogger(__name__)

TokenSource = Callable[[], str]


class InternalGraphQLClient:
    def __init__(
        self,
        url: str,
        *,
        service: str,
        http: httpx.AsyncClient,
        token: TokenSource | None = None,
        before_call: Callable[[], Awaitable[None]] | None = None,
        unavailable: str = "A service this operation depends on is unavailable, try again later.",
    ) -> None:
        """`http` posts the calls; `token` (if given) makes their bearer token, `before_call` readies it."""
        self._url = url
        self._http = http
        self._token = token
        self._before_call = before_call
        self._unavailable = unavailable
        instrument_http_client(http, service)

    @classmethod
    def with_client_credentials(
        cls, settings: ServiceSettings, *, service: str, url: str, timeout: float = 10.0
    ) -> "InternalGraphQLClient":
        """Service tokens from auth's OAuth 2.0 client-credentials endpoint: authlib fetches one and a
        new one shortly before it expires."""
        oauth = AsyncOAuth2Client(
            client_id=service,
            client_secret=settings.service_client_secret.get_secret_value(),
            token_endpoint=settings.auth_token_url,
            grant_type="client_credentials",
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 (a method name)
            leeway=20,
            timeout=timeout,
        )

        async def fetch_first_token() -> None:
            if not oauth.token:
                await oauth.fetch_token()

        return cls(url, service=service, http=oauth, before_call=fetch_first_token)

    async def close(self) -> None:
        await self._http.aclose()

    async def execute(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        headers: dict[str, str] = {}
        if request_id := correlation_id.get():
            headers[REQUEST_ID_HEADER] = request_id
        try:
            if self._before_call is not None:
                await self._before_call()
            if self._token is not None:
                headers["Authorization"] = f"Bearer {self._token()}"
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type((httpx.ConnectError, httpx.ConnectTimeout)),
                stop=stop_after_attempt(3),
                wait=wait_exponential(multiplier=0.1, max=0.5),
                reraise=True,
            ):
                with attempt:
                    response = await self._http.post(
                        self._url, json={"query": query, "variables": variables}, headers=headers
                    )
        except httpx.TransportError as exc:  # down or still starting, or no answer in time: retryable
            logger.warning("internal call to %s failed: %r", self._url, exc)
            raise Unavailable(self._unavailable) from exc
        except Exception as exc:  # authlib's errors (the service token): no answer to trust
            logger.error("internal call to %s failed: %r", self._url, exc)
            raise Internal(self._unavailable) from exc
        if code_for_status(response.status_code) is ErrorCode.UNAVAILABLE:  # a proxy's 502/503/504
            logger.warning("internal call to %s answered HTTP %s", self._url, response.status_code)
            raise Unavailable(self._unavailable)
        try:
            payload = response.json()
        except ValueError as exc:
            logger.error("internal call to %s answered no JSON: %.500s", self._url, response.text)
            raise Internal(self._unavailable) from exc
        if response.status_code != 200 or not isinstance(payload, dict):
            # A refused service token or a broken service: our problem, not the client's.
            logger.error(
                "internal call to %s answered HTTP %s: %.500s", self._url, response.status_code, response.text
            )
            raise Internal(self._unavailable)
        if errors := payload.get("errors"):
            rebuilt = error_from_graphql(errors[0])
            if rebuilt is None or rebuilt.code is ErrorCode.INTERNAL:
                logger.error("internal call to %s answered %s", self._url, errors[0])
                raise Internal(self._unavailable)
            raise rebuilt
        data = payload.get("data")
        if not isinstance(data, dict):
            logger.error("internal call to %s answered without data: %.500s", self._url, response.text)
            raise Internal(self._unavailable)
        return data
