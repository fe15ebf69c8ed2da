"""The auth endpoints: sign in (Google, GitHub, dev), refresh the token pair, sign out."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, StringConstraints

from coursegraph.envelope import Envelope
from rest_compat.graph import GraphInput, GraphOutput, Runner
from rest_compat.users import USER_FIELDS, User

# --- the GraphQL operations -----------------------------------------------------------------------------

TOKEN_FIELDS = f"accessToken refreshToken tokenType expiresIn user {{ {USER_FIELDS} }}"

SIGN_IN_WITH_GOOGLE = f"""
mutation SignInWithGoogle($input: OAuthSignInInput!) {{
  signInWithGoogle(input: $input) {{ {TOKEN_FIELDS} }}
}}"""

SIGN_IN_WITH_GITHUB = f"""
mutation SignInWithGithub($input: OAuthSignInInput!) {{
  signInWithGithub(input: $input) {{ {TOKEN_FIELDS} }}
}}"""

REFRESH = f"""
mutation Refresh($refreshToken: String!) {{
  refreshToken(refreshToken: $refreshToken) {{ {TOKEN_FIELDS} }}
}}"""

SIGN_OUT = """
mutation SignOut($refreshToken: String!) { signOut(refreshToken: $refreshToken) }"""

DEV_SIGN_IN = f"""
mutation DevSignIn($email: String!, $name: String!) {{
  devSignIn(email: $email, name: $name) {{ {TOKEN_FIELDS} }}
}}"""


# --- request and response bodies ------------------------------------------------------------------------

Code = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=r"^https?://")]
Verifier = Annotated[str, StringConstraints(min_length=43, max_length=128, pattern=r"^[A-Za-z0-9._~-]+$")]


class OAuthSignInRequest(GraphInput):
    code: Code
    code_verifier: Verifier | None = None
    redirect_uri: Url


class RefreshRequest(GraphInput):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class DevSignInRequest(GraphInput):
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Tokens(GraphOutput):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int
    user: User


class SignedOut(BaseModel):
    signed_out: bool


# --- the endpoints --------------------------------------------------------------------------------------


def no_store(response: Response) -> None:
    """Token responses are never cached (RFC 6749 §5.1)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"


def router(run: Runner) -> APIRouter:
    router = APIRouter(tags=["auth"], dependencies=[Depends(no_store)])

    @router.post("/auth/google", summary="Sign in with a Google authorization code (PKCE)")
    async def sign_in_with_google(request: Request, body: OAuthSignInRequest) -> Envelope[Tokens]:
        data = await run(request, SIGN_IN_WITH_GOOGLE, {"input": body.to_graph()})
        return Envelope.ok(Tokens.model_validate(data["signInWithGoogle"]))

    @router.post("/auth/github", summary="Sign in with a GitHub authorization code")
    async def sign_in_with_github(request: Request, body: OAuthSignInRequest) -> Envelope[Tokens]:
        data = await run(request, SIGN_IN_WITH_GITHUB, {"input": body.to_graph()})
        return Envelope.ok(Tokens.model_validate(data["signInWithGithub"]))

    @router.post("/auth/refresh", summary="Exchange a refresh token for a new token pair")
    async def refresh(request: Request, body: RefreshRequest) -> Envelope[Tokens]:
        data = await run(request, REFRESH, body.to_graph())
        return Envelope.ok(Tokens.model_validate(data["refreshToken"]))

    @router.post("/auth/logout", summary="Sign out: revoke the refresh token's session")
    async def sign_out(request: Request, body: RefreshRequest) -> Envelope[SignedOut]:
        data = await run(request, SIGN_OUT, body.to_graph())
        return Envelope.ok(SignedOut(signed_out=data["signOut"]))

    @router.post("/auth/dev", summary="Dev profile only: sign in as any email")
    async def dev_sign_in(request: Request, body: DevSignInRequest) -> Envelope[Tokens]:
        data = await run(request, DEV_SIGN_IN, body.to_graph())
        return Envelope.ok(Tokens.model_validate(data["devSignIn"]))

    return router
