"""The auth endpoints: sign in (Google, GitHub, dev), refresh the token pair, sign out."""

from string import ascii_lowercase
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from coursegraph.envelope import Envelope
from rest_compat.graph import GraphInput, GraphOutput, Runner, responses, text_rules
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
# The auth service's rules (subgraphs/auth/service.py), stated here so that the OpenAPI document says what
# is refused with 400 before anything else happens.

# RFC 6749 §A.11: a code is visible ASCII (VSCHAR, space to tilde).
Code = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2048,
        pattern=r"^[ -~]+$",
        description="The provider's authorization code: printable ASCII (RFC 6749 §A.11).",
    ),
]
# An http(s) URL with a host (the auth service reads its scheme and host): ASCII, no spaces or controls.
Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2048,
        pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?([/?#][!-~]*)?$",
        description="The redirect URI the client used: an http(s) URL with a host name, in printable ASCII.",
    ),
]
# RFC 7636 §4.1.
Verifier = Annotated[
    str,
    Field(
        min_length=43,
        max_length=128,
        pattern=r"^[A-Za-z0-9._~-]+$",
        description="The PKCE code verifier (RFC 7636): 43 to 128 of A-Z a-z 0-9 - . _ ~.",
    ),
]
RefreshToken = Annotated[
    str, Field(min_length=1, max_length=256, description="A refresh token this API issued.")
]


def _letter_class(letters: str) -> str:
    """A character class of `letters` (lower case) in either case, as ranges: `[b-su-zB-SU-Z]`."""
    runs: list[str] = []
    for letter in sorted(letters):
        if runs and ord(letter) == ord(runs[-1][-1]) + 1:
            runs[-1] = runs[-1][0] + letter
        else:
            runs.append(letter)
    ranges = "".join(run if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)
    return f"[{ranges}{ranges.upper()}]"


def _letters(length: int) -> str:
    return "" if length == 0 else "[A-Za-z]" if length == 1 else f"[A-Za-z]{{{length}}}"


def _letters_except(words: frozenset[str], length: int) -> str:
    """A regex, without lookaround, for the strings of `length` ASCII letters (either case) other than
    `words` (lower case, each of that length), built letter by letter."""
    if not words:
        return _letters(length)
    firsts = sorted({word[0] for word in words})
    branches = [_letter_class("".join(c for c in ascii_lowercase if c not in firsts)) + _letters(length - 1)]
    if length > 1:
        for first in firsts:
            rest = frozenset(word[1:] for word in words if word[0] == first)
            branches.append(_letter_class(first) + _letters_except(rest, length - 1))
    return "(?:" + "|".join(branches) + ")"


def _top_level_domain(excluded: frozenset[str], longest: int = 63) -> str:
    """2 to `longest` ASCII letters, none of the `excluded` names."""
    special = sorted({len(name) for name in excluded})
    branches, start = [], 2
    for length in [*special, longest + 1]:
        if start < length:
            branches.append(f"[A-Za-z]{{{start},{length - 1}}}" if start < length - 1 else _letters(start))
        if length <= longest:
            branches.append(_letters_except(frozenset(n for n in excluded if len(n) == length), length))
        start = length + 1
    return "(?:" + "|".join(branches) + ")"


# The addresses the services accept (the `email-validator` package, no deliverability check) include
# every address of this common ASCII form: dot-separated atoms before the `@`, a host name of
# letter-digit-hyphen labels (no leading, trailing or doubled hyphen) and a top-level domain of letters
# that is not a special-use name (RFC 6761: arpa, invalid, local, localhost, onion, test).
SPECIAL_USE_DOMAINS = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,20}"
_LABEL = r"[A-Za-z0-9]{1,20}(?:-[A-Za-z0-9]{1,20}){0,2}"
EMAIL_PATTERN = (
    rf"^{_ATOM}(?:\.{_ATOM}){{0,2}}@(?:{_LABEL}\.){{1,3}}{_top_level_domain(SPECIAL_USE_DOMAINS)}$"
)
Email = Annotated[
    str,
    Field(
        max_length=254,
        pattern=EMAIL_PATTERN,
        description="An email address in the common ASCII form: up to three dot-separated atoms of "
        "letters, digits and !#$%&'*+/=?^_`{|}~- (1 to 20 each), `@`, one to three host labels of "
        "letters and digits joined by single hyphens, and a top-level domain of 2 to 63 letters other "
        "than the special-use names arpa, invalid, local, localhost, onion and test; at most 254 "
        "characters.",
        examples=["ada@example.org"],
    ),
]
Name = Annotated[str, text_rules(200, required=True, line_breaks=False)]


class GoogleSignInRequest(GraphInput):
    code: Code
    code_verifier: Verifier = Field(description="Required: Google sign-in uses PKCE.")
    redirect_uri: Url


class GithubSignInRequest(GraphInput):
    code: Code
    code_verifier: Verifier | None = None
    redirect_uri: Url


class RefreshRequest(GraphInput):
    refresh_token: RefreshToken


class DevSignInRequest(GraphInput):
    email: Email
    name: Name


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

    @router.post(
        "/auth/google",
        summary="Sign in with a Google authorization code (PKCE)",
        responses=responses(403, 413),
    )
    async def sign_in_with_google(request: Request, body: GoogleSignInRequest) -> Envelope[Tokens]:
        data = await run(request, SIGN_IN_WITH_GOOGLE, {"input": body.to_graph()})
        return Envelope.ok(Tokens.model_validate(data["signInWithGoogle"]))

    @router.post(
        "/auth/github", summary="Sign in with a GitHub authorization code", responses=responses(403, 413)
    )
    async def sign_in_with_github(request: Request, body: GithubSignInRequest) -> Envelope[Tokens]:
        data = await run(request, SIGN_IN_WITH_GITHUB, {"input": body.to_graph()})
        return Envelope.ok(Tokens.model_validate(data["signInWithGithub"]))

    @router.post(
        "/auth/refresh", summary="Exchange a refresh token for a new token pair", responses=responses(413)
    )
    async def refresh(request: Request, body: RefreshRequest) -> Envelope[Tokens]:
        data = await run(request, REFRESH, body.to_graph())
        return Envelope.ok(Tokens.model_validate(data["refreshToken"]))

    @router.post(
        "/auth/logout",
        summary="Sign out: revoke the refresh token's session",
        responses=responses(413),
    )
    async def sign_out(request: Request, body: RefreshRequest) -> Envelope[SignedOut]:
        data = await run(request, SIGN_OUT, body.to_graph())
        return Envelope.ok(SignedOut(signed_out=data["signOut"]))

    @router.post(
        "/auth/dev",
        summary="Dev profile only: sign in as any email (403 elsewhere)",
        responses=responses(403, 413),
    )
    async def dev_sign_in(request: Request, body: DevSignInRequest) -> Envelope[Tokens]:
        data = await run(request, DEV_SIGN_IN, body.to_graph())
        return Envelope.ok(Tokens.model_validate(data["devSignIn"]))

    return router
