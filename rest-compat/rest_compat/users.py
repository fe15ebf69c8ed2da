"""The user endpoints: a profile, editing it, and a user's role with its permissions."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Request
from pydantic import AliasPath, ConfigDict, Field, model_validator

from coursegraph.envelope import Envelope
from coursegraph.errors import ErrorCode
from rest_compat.graph import (
    SIGNED_IN,
    FromGraphEnum,
    GraphError,
    GraphInput,
    GraphOutput,
    Runner,
    ToGraphEnum,
    responses,
    text_rules,
    user_errors,
)

# --- the GraphQL operations -----------------------------------------------------------------------------

USER_FIELDS = "id email name provider role createdAt updatedAt"

USER = f"""
query User($id: ID!) {{ user(id: $id) {{ {USER_FIELDS} }} }}"""

UPDATE_USER = f"""
mutation UpdateUser($id: ID!, $input: UpdateUserInput!) {{
  updateUser(id: $id, input: $input) {{
    user {{ {USER_FIELDS} }}
    errors {{ code field message }}
  }}
}}"""

USER_ROLES = """
query UserRoles($id: ID!) { user(id: $id) { id roles { role permissions } } }"""


# --- request and response bodies ------------------------------------------------------------------------

Role = Literal["learner", "instructor", "admin"]

UserId = Annotated[UUID, Path(description="The user's id (a UUID).")]


class UpdateUserRequest(GraphInput):
    """What to change: `name` (a user's own), `role` (admins, of others); at least one of them."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    name: Annotated[str, text_rules(200, required=True, line_breaks=False)] | None = None
    role: Annotated[Role, ToGraphEnum] | None = None

    @model_validator(mode="before")
    @classmethod
    def something_to_change(cls, body: Any) -> Any:
        if isinstance(body, dict) and not body:
            raise ValueError("give name and/or role")
        return body

    def to_graph(self) -> dict[str, Any]:
        # Only what the client gave changes (an explicit null included).
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class User(GraphOutput):
    id: str
    email: str | None
    name: str
    provider: str | None
    role: Annotated[Role, FromGraphEnum]
    created_at: datetime
    updated_at: datetime


class Roles(GraphOutput):
    user_id: str = Field(validation_alias="id")
    role: Annotated[Role, FromGraphEnum] = Field(validation_alias=AliasPath("roles", "role"))
    permissions: list[str] = Field(
        validation_alias=AliasPath("roles", "permissions"), description="What the role allows."
    )


# --- the endpoints --------------------------------------------------------------------------------------


def router(run: Runner) -> APIRouter:
    router = APIRouter(tags=["users"])

    @router.get(
        "/users/{user_id}",
        summary="A user's profile (signed-in callers)",
        responses=responses(404),
        openapi_extra=SIGNED_IN,
    )
    async def get_user(request: Request, user_id: UserId) -> Envelope[User]:
        data = await run(request, USER, {"id": str(user_id)})
        if data["user"] is None:
            raise GraphError(ErrorCode.NOT_FOUND, "User not found.")
        return Envelope.ok(User.model_validate(data["user"]))

    @router.put(
        "/users/{user_id}",
        summary="Edit a profile (own name; admins: roles)",
        responses=responses(403, 404, 413),
        openapi_extra=SIGNED_IN,
    )
    async def update_user(request: Request, user_id: UserId, body: UpdateUserRequest) -> Envelope[User]:
        data = await run(request, UPDATE_USER, {"id": str(user_id), "input": body.to_graph()})
        payload = data["updateUser"]
        if payload["errors"]:
            raise user_errors(payload["errors"], default_field="input")
        return Envelope.ok(User.model_validate(payload["user"]))

    @router.get(
        "/users/{user_id}/roles",
        summary="A user's role and its permissions (signed-in callers)",
        responses=responses(404),
        openapi_extra=SIGNED_IN,
    )
    async def get_user_roles(request: Request, user_id: UserId) -> Envelope[Roles]:
        data = await run(request, USER_ROLES, {"id": str(user_id)})
        if data["user"] is None:
            raise GraphError(ErrorCode.NOT_FOUND, "User not found.")
        return Envelope.ok(Roles.model_validate(data["user"]))

    return router
