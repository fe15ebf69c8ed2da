"""The notification endpoints: the caller's email history and preferences, RFC 8058 one-click
unsubscribe (no session: the signed token is the authority), and the public certificate verification
page that certificate emails link to."""

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Path, Query, Request
from pydantic import AliasPath, ConfigDict, Field

from coursegraph.envelope import Envelope
from coursegraph.errors import ErrorCode
from rest_compat.courses import CURSOR_PATTERN, PageInfo, graph_cursor
from rest_compat.graph import (
    SIGNED_IN,
    FromGraphEnum,
    GraphError,
    GraphInput,
    GraphOutput,
    Runner,
    ToGraphEnum,
    responses,
    user_errors,
)

# --- the GraphQL operations -----------------------------------------------------------------------------

NOTIFICATION_FIELDS = (
    "id type category status recipient attempts providerMessageId failureReason createdAt updatedAt"
)
HISTORY = f"""
query Notifications($first: Int!, $after: String) {{
  me {{ id notifications(first: $first, after: $after) {{
    edges {{ node {{ {NOTIFICATION_FIELDS} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }} }}
}}"""
PREFERENCES = """
query Preferences { me { id notificationPreferences { category subscribed essential } } }"""
UPDATE_PREFERENCES = """
mutation UpdatePreferences($userId: ID!, $preferences: [NotificationPreferenceInput!]!) {
  updateNotificationPreferences(userId: $userId, preferences: $preferences) {
    preferences { category subscribed essential }
    errors { code field message }
  }
}"""
ME = "query Me { me { id } }"
UNSUBSCRIBE = """
mutation Unsubscribe($token: String!) {
  unsubscribe(token: $token) { category errors { code field message } }
}"""
CERTIFICATE = """
query Certificate($code: String!) {
  verifyCertificate(code: $code) { code issuedAt holder { name } course { id title } }
}"""


# --- request and response bodies ------------------------------------------------------------------------

Category = Literal["account", "courses", "assessments", "certificates", "announcements"]
Kind = Literal[
    "welcome",
    "enrollment_confirmed",
    "course_completed",
    "assessment_result",
    "certificate_issued",
    "role_changed",
    "announcement",
]
Status = Literal["pending", "sent", "failed", "skipped"]


class HistoryParams(GraphInput):
    model_config = ConfigDict(strict=False)  # query parameters arrive as text

    first: int = Field(20, ge=1, le=100, description="Page size (1 to 100).")
    after: str | None = Field(
        None,
        pattern=CURSOR_PATTERN,
        description="`page_info.end_cursor` of the previous page; the page starts after it.",
        examples=["1764547200000000_6b0e48e58e255fc7add36f17"],
    )


class Notification(GraphOutput):
    id: str
    type: Annotated[Kind, FromGraphEnum]
    category: Annotated[Category, FromGraphEnum]
    status: Annotated[Status, FromGraphEnum]
    recipient: str
    attempts: int
    provider_message_id: str | None
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime


class NotificationPage(GraphOutput):
    items: list[Notification] = Field(validation_alias=AliasPath("notifications", "edges"))
    page_info: PageInfo = Field(validation_alias=AliasPath("notifications", "pageInfo"))

    @classmethod
    def from_graph(cls, me: dict[str, Any]) -> "NotificationPage":
        edges = [edge["node"] for edge in me["notifications"]["edges"]]
        return cls.model_validate({"notifications": {**me["notifications"], "edges": edges}})


class Preference(GraphOutput):
    category: Annotated[Category, FromGraphEnum]
    subscribed: bool
    essential: bool = Field(description="Always sent (sign-in and security); cannot be switched off.")


# Account mail (sign-in and security) is always sent: not a category one can switch.
Switchable = Literal["courses", "assessments", "certificates", "announcements"]


class PreferenceChange(GraphInput):
    category: Annotated[Switchable, ToGraphEnum]
    subscribed: bool


class UpdatePreferencesRequest(GraphInput):
    """The categories to switch on or off; the others stay as they are."""

    preferences: list[PreferenceChange] = Field(min_length=1, max_length=len(get_args(Switchable)))


class Unsubscribed(GraphOutput):
    category: Annotated[Category, FromGraphEnum]


class Holder(GraphOutput):
    name: str


class CertifiedCourse(GraphOutput):
    id: str
    title: str


class Certificate(GraphOutput):
    code: str
    issued_at: datetime
    holder: Holder
    course: CertifiedCourse | None


# --- the endpoints --------------------------------------------------------------------------------------

Token = Annotated[
    str,
    Query(
        min_length=1,
        max_length=500,
        pattern=r"^[A-Za-z0-9_.\-]+$",
        description="The signed token of the email's List-Unsubscribe link.",
    ),
]
CertificateCode = Annotated[
    str, Path(max_length=64, pattern=r"^[A-Za-z0-9\-]+$", description="The certificate's code.")
]


def router(run: Runner) -> APIRouter:
    router = APIRouter(tags=["notifications"])

    @router.get(
        "/notifications",
        summary="The caller's emails, newest first: type, status, attempts, provider message id, times",
        openapi_extra=SIGNED_IN,
    )
    async def history(
        request: Request, params: Annotated[HistoryParams, Query()]
    ) -> Envelope[NotificationPage]:
        data = await run(request, HISTORY, {"first": params.first, "after": graph_cursor(params.after)})
        return Envelope.ok(NotificationPage.from_graph(data["me"]))

    @router.get(
        "/notifications/preferences",
        summary="Which categories of email the caller gets",
        openapi_extra=SIGNED_IN,
    )
    async def preferences(request: Request) -> Envelope[list[Preference]]:
        data = await run(request, PREFERENCES, {})
        return Envelope.ok([Preference.model_validate(p) for p in data["me"]["notificationPreferences"]])

    @router.put(
        "/notifications/preferences",
        summary="Switch categories of the caller's email on or off (account mail is always sent)",
        responses=responses(413),
        openapi_extra=SIGNED_IN,
    )
    async def update_preferences(
        request: Request, body: UpdatePreferencesRequest
    ) -> Envelope[list[Preference]]:
        me = await run(request, ME, {})
        variables = {"userId": me["me"]["id"], **body.to_graph()}
        data = await run(request, UPDATE_PREFERENCES, variables)
        payload = data["updateNotificationPreferences"]
        if payload["errors"]:
            raise user_errors(payload["errors"], default_field="preferences")
        return Envelope.ok([Preference.model_validate(p) for p in payload["preferences"]])

    @router.post(
        "/notifications/unsubscribe",
        summary="RFC 8058 one-click unsubscribe: no session; the token opts its user out of one category",
        description="Mail clients POST `List-Unsubscribe=One-Click` (form-encoded) to the List-Unsubscribe "
        "URL, token included. Idempotent; changes nothing but that one preference. A tampered or expired "
        "token is a 400.",
    )
    async def unsubscribe(request: Request, token: Token) -> Envelope[Unsubscribed]:
        data = await run(request, UNSUBSCRIBE, {"token": token})
        payload = data["unsubscribe"]
        if payload["errors"]:
            raise user_errors(payload["errors"], default_field="token")
        return Envelope.ok(Unsubscribed.model_validate(payload))

    @router.get(
        "/certificates/{code}",
        summary="Verify a certificate (public): who earned it, for which course, when",
        responses=responses(404),
    )
    async def verify_certificate(request: Request, code: CertificateCode) -> Envelope[Certificate]:
        data = await run(request, CERTIFICATE, {"code": code})
        if data["verifyCertificate"] is None:
            raise GraphError(ErrorCode.NOT_FOUND, "No certificate has this code.")
        return Envelope.ok(Certificate.model_validate(data["verifyCertificate"]))

    return router
