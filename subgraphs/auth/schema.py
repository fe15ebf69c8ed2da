"""The auth subgraph's root types: thin resolvers over the auth service."""

from dataclasses import dataclass, field

import strawberry
from strawberry.types import Info

from coursegraph.graphql import ServiceContext, build_schema
from subgraphs.auth.service import AuthService
from subgraphs.auth.types import AuthPayload, AuthProviders, OAuthSignInInput, UserStub


@dataclass
class AuthContext(ServiceContext):
    auth: AuthService = field(kw_only=True)


Ctx = Info[AuthContext, None]


async def _sign_in(info: Ctx, provider: str, input: OAuthSignInInput) -> AuthPayload:
    session = await info.context.auth.sign_in(
        provider, code=input.code, code_verifier=input.code_verifier, redirect_uri=input.redirect_uri
    )
    return AuthPayload.from_session(session)


@strawberry.type
class Query:
    @strawberry.field(description="Which sign-in methods are enabled, with the OAuth client ids to use.")
    def auth_providers(self, info: Ctx) -> AuthProviders:
        return AuthProviders.from_status(info.context.auth.providers_status())


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Exchange a Google authorization code (PKCE required) for tokens.")
    async def sign_in_with_google(self, info: Ctx, input: OAuthSignInInput) -> AuthPayload:
        return await _sign_in(info, "google", input)

    @strawberry.mutation(description="Exchange a GitHub authorization code for tokens.")
    async def sign_in_with_github(self, info: Ctx, input: OAuthSignInInput) -> AuthPayload:
        return await _sign_in(info, "github", input)

    @strawberry.mutation(
        description="Exchange a refresh token for a new pair. Each refresh token works once: "
        "reusing one revokes the whole session."
    )
    async def refresh_token(self, info: Ctx, refresh_token: str) -> AuthPayload:
        return AuthPayload.from_session(await info.context.auth.refresh(refresh_token))

    @strawberry.mutation(description="Revoke the session of this refresh token; false when it was unknown.")
    async def sign_out(self, info: Ctx, refresh_token: str) -> bool:
        return await info.context.auth.sign_out(refresh_token)

    @strawberry.mutation(
        description="Dev profile only: sign in as any email, created as a learner on first use."
    )
    async def dev_sign_in(self, info: Ctx, email: str, name: str) -> AuthPayload:
        return AuthPayload.from_session(await info.context.auth.dev_sign_in(email=email, name=name))


schema = build_schema(query=Query, mutation=Mutation, types=[UserStub])
