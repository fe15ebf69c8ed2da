"""The users store: the requirements' `users` table exactly, plus what identity needs.

`user_identities` links more than one sign-in provider to one account (linked only on a verified email);
`refresh_token_families` / `refresh_tokens` hold the auth service's rotating refresh tokens (it keeps no
state itself); `outbox_events` carries user.events in the same transaction as the change.
"""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from coursegraph.db import NAMING_CONVENTION, UTCDateTime
from coursegraph.events.outbox import outbox_table

ROLES = ("learner", "instructor", "admin")
PROVIDERS = ("google", "github", "dev")


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime}


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint(f"role IN {ROLES}", name="role"),
        sa.CheckConstraint(f"provider IN {PROVIDERS}", name="provider"),
        sa.Index("ix_users_provider_provider_id", "provider", "provider_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    provider: Mapped[str] = mapped_column(sa.String(20))
    provider_id: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(20), default="learner")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class UserIdentity(Base):
    __tablename__ = "user_identities"
    __table_args__ = (sa.UniqueConstraint("provider", "provider_id"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(sa.String(20))
    provider_id: Mapped[str] = mapped_column(sa.String(255))
    email: Mapped[str] = mapped_column(sa.String(320))
    linked_at: Mapped[datetime]


class RefreshTokenFamily(Base):
    """One sign-in session; every rotation stays in the family, and reuse revokes all of it."""

    __tablename__ = "refresh_token_families"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(sa.String(40))


class RefreshToken(Base):
    """Only a SHA-256 of the token is stored; the token itself never leaves the auth service's reply."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    family_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("refresh_token_families.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


outbox = outbox_table(Base.metadata)
