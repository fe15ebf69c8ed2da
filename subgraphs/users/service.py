"""Users domain logic: profiles, roles, OAuth identities and refresh-token families. No GraphQL here.

Every function takes the session of the caller's transaction (opened at the edge, one per mutation) and
the acting user, and reaches the store through the repositories it builds on that session; none commits.
Every rule is decided here, through `permissions`: a user goes out as a `Profile`, which shows its caller
only what they may see.
"""

import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.ext.asyncio import AsyncSession

from coursegraph.clock import utc_now
from coursegraph.codes import FieldCode
from coursegraph.errors import FieldError, Forbidden, NotFound, Unauthenticated, ValidationFailed
from coursegraph.limits import ROSTER_BATCH_MAX as USER_LOOKUP_MAX
from coursegraph.security import Actor, Role
from coursegraph.text import is_text
from subgraphs.users import permissions
from subgraphs.users.events import UserEventType, record
from subgraphs.users.models import PROVIDERS, RefreshToken, RefreshTokenFamily, User, UserIdentity
from subgraphs.users.repository import RefreshTokenRepository, UserRepository

NAME_MAX_LENGTH = 200
# The one service that may call the users service's internal operations (sign-in, refresh, sign-out).
AUTH = "auth"
# The one service that may read recipients' addresses in bulk, and nothing else here (ADR 0019).
NOTIFICATIONS = "notifications"
MAIL_RECIPIENTS_MAX = 100
# The one service that may find users by email in bulk (course rosters, issue 17).
COURSES = "courses"


def _now() -> datetime:
    return utc_now()


def clean_name(name: str, *, field: str = "name") -> str:
    if not is_text(name):
        raise ValidationFailed([FieldError(field, FieldCode.INVALID, "Name must be valid Unicode text.")])
    cleaned = unicodedata.normalize("NFC", name).strip()
    if not cleaned:
        raise ValidationFailed([FieldError(field, FieldCode.REQUIRED, "Name must not be empty.")])
    if len(cleaned) > NAME_MAX_LENGTH:
        raise ValidationFailed(
            [FieldError(field, FieldCode.TOO_LONG, f"Name must be at most {NAME_MAX_LENGTH} characters.")]
        )
    if any(unicodedata.category(char) == "Cc" for char in cleaned):
        raise ValidationFailed(
            [FieldError(field, FieldCode.INVALID, "Name must not contain control characters.")]
        )
    return cleaned


def clean_email(email: str) -> str:
    if not is_text(email):
        raise ValidationFailed([FieldError("email", FieldCode.INVALID, "Email address is not valid.")])
    try:
        return validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationFailed(
            [FieldError("email", FieldCode.INVALID, "Email address is not valid.")]
        ) from exc


@dataclass(frozen=True)
class Profile:
    """A user as one caller sees them: their name is public; the rest shows as `permissions` says."""

    user: User
    actor: Actor

    @property
    def email(self) -> str | None:
        return self.user.email if permissions.may_see_private(self.actor, self.user) else None

    @property
    def provider(self) -> str | None:
        return self.user.provider if permissions.may_see_private(self.actor, self.user) else None

    def role(self) -> Role:
        """UNAUTHENTICATED for callers who may not see roles (asked only when the field is)."""
        permissions.check_may_see_profile(self.actor)
        return Role(self.user.role)


async def profiles(session: AsyncSession, actor: Actor, user_ids: list[uuid.UUID]) -> list[Profile | None]:
    """Users by id, in one query (references from other subgraphs: their names are public)."""
    found = await UserRepository(session).get_many(user_ids)
    return [None if (user := found.get(user_id)) is None else Profile(user, actor) for user_id in user_ids]


async def profile(session: AsyncSession, actor: Actor, user_id: uuid.UUID) -> Profile | None:
    """A user looked up by id: signed-in callers and services only."""
    permissions.check_may_look_up(actor)
    user = await UserRepository(session).get(user_id)
    return None if user is None else Profile(user, actor)


async def me(session: AsyncSession, actor: Actor) -> Profile:
    """The signed-in user."""
    user = await UserRepository(session).get(actor.require_user())
    if user is None:
        raise Unauthenticated("The account of this token no longer exists.")
    return Profile(user, actor)


async def mail_recipients(session: AsyncSession, actor: Actor, user_ids: list[uuid.UUID]) -> list[User]:
    """Internal (notifications): the users of `user_ids` that exist, in one query, to address emails."""
    actor.require_service(NOTIFICATIONS)
    if len(user_ids) > MAIL_RECIPIENTS_MAX:
        raise ValidationFailed(
            [FieldError("ids", FieldCode.TOO_MANY, f"At most {MAIL_RECIPIENTS_MAX} users at a time.")]
        )
    found = await UserRepository(session).get_many(user_ids)
    return [found[user_id] for user_id in dict.fromkeys(user_ids) if user_id in found]


async def lookup_users(
    session: AsyncSession, actor: Actor, *, ids: list[uuid.UUID], emails: list[str]
) -> list[User]:
    """Internal (courses: a roster's entries): the users with these ids or (normalised) emails, in one
    query. Unknown ones are left out; the caller matches answers to entries by id and email."""
    actor.require_service(COURSES)
    if len(ids) + len(emails) > USER_LOOKUP_MAX:
        raise ValidationFailed(
            [FieldError("ids", FieldCode.TOO_MANY, f"At most {USER_LOOKUP_MAX} users at a time.")]
        )
    return await UserRepository(session).find(ids, emails)


async def update_user(
    session: AsyncSession,
    actor: Actor,
    user_id: uuid.UUID,
    *,
    name: str | None,
    role: Role | None,
) -> Profile:
    actor.require_user()
    repo = UserRepository(session)
    user = await repo.get(user_id, for_update=True)
    # Existence is not secret for users (ids appear in courses), so NOT_FOUND comes first.
    if user is None:
        raise NotFound("User not found.")
    permissions.check_may_update(actor, user, role)
    new_name = clean_name(name) if name is not None else None

    now = _now()
    changed: list[str] = []
    if new_name is not None and new_name != user.name:
        user.name = new_name
        changed.append("name")
    if changed:
        user.updated_at = now
        await record(repo.session, UserEventType.USER_UPDATED, user, changed=changed, name=user.name)
    if role is not None and role.value != user.role:
        await _change_role(repo, user, role, changed_by=str(actor.user_id), at=now)
    await repo.flush()
    return Profile(user, actor)


async def _change_role(
    repo: UserRepository, user: User, role: Role, *, changed_by: str, at: datetime
) -> None:
    previous, user.role, user.updated_at = user.role, role.value, at
    await record(
        repo.session,
        UserEventType.USER_ROLE_CHANGED,
        user,
        previous_role=previous,
        role=user.role,
        changed_by=changed_by,
    )


@dataclass(frozen=True)
class OAuthIdentity:
    provider: str
    provider_id: str
    email: str
    email_verified: bool
    name: str
    bootstrap_admin: bool = False


async def upsert_oauth_user(session: AsyncSession, actor: Actor, identity: OAuthIdentity) -> Profile:
    """Find the account of a provider identity, link it by verified email, or register a new user."""
    actor.require_service(AUTH)
    repo = UserRepository(session)
    if identity.provider not in PROVIDERS:
        raise ValidationFailed([FieldError("provider", FieldCode.INVALID, "Unknown provider.")])
    if not identity.email_verified:
        # An unverified email never creates or takes over an account.
        raise Forbidden("The provider has not verified this email address.")
    if not identity.provider_id or len(identity.provider_id) > 255:
        raise ValidationFailed([FieldError("providerId", FieldCode.INVALID, "Provider id is not valid.")])
    email = clean_email(identity.email)
    name = clean_name(identity.name or email.split("@")[0])
    now = _now()

    user = await repo.by_identity(identity.provider, identity.provider_id)
    if user is None:
        user = await repo.by_email(email)
        if user is None:
            user = User(
                id=uuid.uuid4(),
                email=email,
                name=name,
                provider=identity.provider,
                provider_id=identity.provider_id,
                role=Role.LEARNER.value,
                created_at=now,
                updated_at=now,
            )
            repo.add(user)
            await repo.flush()
            await record(
                repo.session,
                UserEventType.USER_REGISTERED,
                user,
                email=user.email,
                name=user.name,
                provider=user.provider,
                role=user.role,
            )
        repo.add(
            UserIdentity(
                user_id=user.id,
                provider=identity.provider,
                provider_id=identity.provider_id,
                email=email,
                linked_at=now,
            )
        )
    if identity.bootstrap_admin and user.role != Role.ADMIN.value:
        await _change_role(repo, user, Role.ADMIN, changed_by="admin-allow-list", at=now)
    await repo.flush()
    return Profile(user, actor)


class RotationStatus(StrEnum):
    ROTATED = "ROTATED"
    INVALID = "INVALID"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"
    REUSED = "REUSED"


@dataclass(frozen=True)
class Rotation:
    status: RotationStatus
    user: Profile | None = None
    family_id: uuid.UUID | None = None


async def issue_refresh_token(
    session: AsyncSession,
    actor: Actor,
    *,
    user_id: uuid.UUID,
    token_hash: str,
    expires_at: datetime,
) -> tuple[Profile, uuid.UUID]:
    """Start a new family (one sign-in) with its first token."""
    actor.require_service(AUTH)
    repo, users = RefreshTokenRepository(session), UserRepository(session)
    user = await users.get(user_id)
    if user is None:
        raise NotFound("User not found.")
    now = _now()
    family = RefreshTokenFamily(id=uuid.uuid4(), user_id=user.id, created_at=now)
    repo.add(family)
    await repo.session.flush()
    repo.add(RefreshToken(family_id=family.id, token_hash=token_hash, issued_at=now, expires_at=expires_at))
    await repo.session.flush()
    return Profile(user, actor), family.id


async def rotate_refresh_token(
    session: AsyncSession,
    actor: Actor,
    *,
    token_hash: str,
    new_token_hash: str,
    expires_at: datetime,
) -> Rotation:
    """Exchange a refresh token for its successor; a second use of any token revokes the family."""
    actor.require_service(AUTH)
    repo, users = RefreshTokenRepository(session), UserRepository(session)
    found = await repo.by_hash(token_hash)
    if found is None:
        return Rotation(RotationStatus.INVALID)
    token, family = found
    now = _now()
    if family.revoked_at is not None:
        return Rotation(RotationStatus.REVOKED)
    if token.used_at is not None:
        await repo.revoke_family(family, reason="reuse", at=now)
        return Rotation(RotationStatus.REUSED)
    if token.expires_at <= now:
        return Rotation(RotationStatus.EXPIRED)
    user = await users.get(family.user_id)
    if user is None:
        return Rotation(RotationStatus.INVALID)
    if not await repo.claim(token, at=now):  # used meanwhile by a concurrent request: reuse
        await repo.revoke_family(family, reason="reuse", at=now)
        return Rotation(RotationStatus.REUSED)
    repo.add(
        RefreshToken(family_id=family.id, token_hash=new_token_hash, issued_at=now, expires_at=expires_at)
    )
    await repo.session.flush()
    return Rotation(RotationStatus.ROTATED, user=Profile(user, actor), family_id=family.id)


async def revoke_refresh_family(session: AsyncSession, actor: Actor, *, token_hash: str) -> bool:
    """Sign-out: the whole family stops working. Unknown tokens are not an error (idempotent)."""
    actor.require_service(AUTH)
    repo = RefreshTokenRepository(session)
    found = await repo.by_hash(token_hash)
    if found is None:
        return False
    await repo.revoke_family(found[1], reason="sign-out", at=_now())
    return True
