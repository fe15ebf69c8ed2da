"""Every users-store query, built from one session (bound parameters only)."""

import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from subgraphs.users.models import RefreshToken, RefreshTokenFamily, User, UserIdentity


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID, *, for_update: bool = False) -> User | None:
        statement = sa.select(User).where(User.id == user_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def get_many(self, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, User]:
        rows = await self.session.execute(sa.select(User).where(User.id.in_(set(user_ids))))
        return {user.id: user for user in rows.scalars()}

    async def find(self, user_ids: Sequence[uuid.UUID], emails: Sequence[str]) -> list[User]:
        """The users with any of these ids or emails (emails as stored: normalised, lower case)."""
        if not user_ids and not emails:
            return []
        statement = sa.select(User).where(sa.or_(User.id.in_(set(user_ids)), User.email.in_(set(emails))))
        return list((await self.session.execute(statement)).scalars())

    async def by_email(self, email: str) -> User | None:
        statement = sa.select(User).where(User.email == email).with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def by_identity(self, provider: str, provider_id: str) -> User | None:
        statement = (
            sa.select(User)
            .join(UserIdentity, UserIdentity.user_id == User.id)
            .where(UserIdentity.provider == provider, UserIdentity.provider_id == provider_id)
            .with_for_update(of=User)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    def add(self, *objects: object) -> None:
        self.session.add_all(objects)

    async def flush(self) -> None:
        await self.session.flush()


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_hash(self, token_hash: str) -> tuple[RefreshToken, RefreshTokenFamily] | None:
        statement = (
            sa.select(RefreshToken, RefreshTokenFamily)
            .join(RefreshTokenFamily, RefreshTokenFamily.id == RefreshToken.family_id)
            .where(RefreshToken.token_hash == token_hash)
            # Two concurrent rotations of one token serialise here; the second one sees it used.
            .with_for_update()
        )
        row = (await self.session.execute(statement)).one_or_none()
        return None if row is None else (row[0], row[1])

    async def claim(self, token: RefreshToken, *, at: datetime) -> bool:
        """Mark `token` used unless another request already has: one guarded UPDATE, so that of two
        concurrent rotations only one wins even where FOR UPDATE locks nothing (SQLite)."""
        result = await self.session.execute(
            sa.update(RefreshToken)
            .where(RefreshToken.id == token.id, RefreshToken.used_at.is_(None))
            .values(used_at=at)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount) == 1  # type: ignore[attr-defined]

    async def family(self, family_id: uuid.UUID) -> RefreshTokenFamily | None:
        return await self.session.get(RefreshTokenFamily, family_id, with_for_update=True)

    async def revoke_family(self, family: RefreshTokenFamily, *, reason: str, at: datetime) -> None:
        if family.revoked_at is None:
            family.revoked_at = at
            family.revoked_reason = reason
        await self.session.flush()

    def add(self, *objects: object) -> None:
        self.session.add_all(objects)

    async def delete_dead_families(self, *, before: datetime, limit: int) -> int:
        """Delete up to `limit` sessions whose every refresh token expired before `before` (their tokens
        go with them, by cascade); return how many. Nothing in them can be used any more."""
        live = sa.select(RefreshToken.id).where(
            RefreshToken.family_id == RefreshTokenFamily.id, RefreshToken.expires_at >= before
        )
        dead = (
            sa.select(RefreshTokenFamily.id)
            .where(RefreshTokenFamily.created_at < before, ~live.exists())
            .limit(limit)
            .correlate(None)  # its own FROM, not the DELETE's table
        )
        result = await self.session.execute(
            sa.delete(RefreshTokenFamily).where(RefreshTokenFamily.id.in_(dead))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
