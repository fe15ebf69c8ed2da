"""REST request and response bodies (snake_case, like the requirements' schemas)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Role = Literal["learner", "instructor", "admin"]
Code = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=r"^https?://")]
Verifier = Annotated[str, StringConstraints(min_length=43, max_length=128, pattern=r"^[A-Za-z0-9._~-]+$")]


class Strict(BaseModel):
    # Unknown fields are an error, and "1" is not a number: clients learn their mistakes early.
    model_config = ConfigDict(extra="forbid", strict=True)


class OAuthSignInRequest(Strict):
    code: Code
    code_verifier: Verifier | None = None
    redirect_uri: Url


class RefreshRequest(Strict):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class DevSignInRequest(Strict):
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class UpdateUserRequest(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    role: Role | None = None


class User(BaseModel):
    id: str
    email: str | None
    name: str
    provider: str | None
    role: Role
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_graph(cls, node: dict[str, Any]) -> "User":
        return cls(
            id=node["id"],
            email=node.get("email"),
            name=node["name"],
            provider=node.get("provider"),
            role=node["role"].lower(),
            created_at=node["createdAt"],
            updated_at=node["updatedAt"],
        )


class Tokens(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int
    user: User

    @classmethod
    def from_graph(cls, payload: dict[str, Any]) -> "Tokens":
        return cls(
            access_token=payload["accessToken"],
            refresh_token=payload["refreshToken"],
            token_type=payload["tokenType"],
            expires_in=payload["expiresIn"],
            user=User.from_graph(payload["user"]),
        )


class Roles(BaseModel):
    user_id: str
    role: Role
    permissions: list[str] = Field(description="What the role allows.")


class SignedOut(BaseModel):
    signed_out: bool
