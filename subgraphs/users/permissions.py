"""Who may see and change what of a user (ADR 0005): every rule of the users domain in one place."""

from coursegraph.errors import Forbidden, Unauthenticated
from coursegraph.security import Actor, Role
from subgraphs.users.models import User


def check_may_see_profile(actor: Actor) -> None:
    """A user's role: signed-in callers and services (the public catalog shows instructors' names)."""
    if actor.user_id is None and not actor.is_service:
        raise Unauthenticated("Sign in to see profiles.")


def check_may_look_up(actor: Actor) -> None:
    """`user(id)`: signed-in callers (references from other subgraphs need no sign-in: names are public)."""
    actor.require_user()


def may_see_private(actor: Actor, user: User) -> bool:
    """Email and sign-in provider: the user themself, admins and services."""
    return actor.is_admin or actor.is_service or actor.user_id == user.id


def check_may_update(actor: Actor, user: User, role: Role | None) -> None:
    """Users edit their own profile, admins anyone's; only admins change roles, and not their own."""
    actor.require_self_or_admin(user.id)
    if role is not None and role.value != user.role:
        if not actor.is_admin:
            raise Forbidden("Only an admin can change roles.")
        if actor.user_id == user.id:
            raise Forbidden("Admins cannot change their own role (ask another admin).")
