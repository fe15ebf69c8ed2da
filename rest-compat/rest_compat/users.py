"""The user endpoints: a profile, editing it, and a user's role with its permissions."""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Request
from pydantic import AliasPath, Field, StringConstraints

from coursegraph.envelope import Envelope
from coursegraph.errors import ErrorCode
from rest_compat.graph import (
    FromGraphEnum,
    GraphError,
    GraphInput,
    GraphOutput,
    Runner,
    ToGraphEnum,
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
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    role: Annotated[Role, ToGraphEnum] | None = None

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

    @router.get("/users/{user_id}", summary="A user's profile")
    async def get_user(request: Request, user_id: UserId) -> Envelope[User]:
        data = await run(request, USER, {"id": str(user_id)})
        if data["user"] is None:
            raise GraphError(ErrorCode.NOT_FOUND, "User not found.")
        return Envelope.ok(User.model_validate(data["user"]))

    @router.put("/users/{user_id}", summary="Edit a profile (own name; admins: roles)")
    async def update_user(request: Request, user_id: UserId, body: UpdateUserRequest) -> Envelope[User]:
        changes = body.to_graph()
        if not changes:
            raise GraphError(ErrorCode.BAD_USER_INPUT, "Nothing to update: give name and/or role.")
        data = await run(request, UPDATE_USER, {"id": str(user_id), "input": changes})
        payload = data["updateUser"]
        if payload["errors"]:
            raise user_errors(payload["errors"], default_field="input")
        return Envelope.ok(User.model_validate(payload["user"]))

    @router.get("/users/{user_id}/roles", summary="A user's role and its permissions")
    async def get_user_roles(request: Request, user_id: UserId) -> Envelope[Roles]:
        data = await run(request, USER_ROLES, {"id": str(user_id)})
        if data["user"] is None:
            raise GraphError(ErrorCode.NOT_FOUND, "User not found.")
        return Envelope.ok(Roles.model_validate(data["user"]))

    return router
