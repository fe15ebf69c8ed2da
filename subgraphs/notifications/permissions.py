"""Who may see and change what of a user's notifications: every rule of the domain in one place."""

from coursegraph.errors import Forbidden
from coursegraph.security import Actor


def check_may_see(actor: Actor, user_id: str) -> None:
    """History and preferences: the user themself and admins (emails name courses and results)."""
    actor.require_user()
    if str(actor.user_id) != user_id and not actor.is_admin:
        raise Forbidden("Only this user and admins see their notifications.")


def check_may_change(actor: Actor, user_id: str) -> None:
    """Preferences: the user themself and admins (who may switch someone's mail off, e.g. on request)."""
    check_may_see(actor, user_id)
