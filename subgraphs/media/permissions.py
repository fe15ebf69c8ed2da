"""Who may do what with media: every rule of the domain in one place."""

from coursegraph.errors import Forbidden
from coursegraph.security import Actor, Role
from subgraphs.media.models import Media


def check_may_upload(actor: Actor) -> str:
    """Instructors and admins upload (lesson material); returns the owner's id."""
    return str(actor.require_role(Role.INSTRUCTOR, Role.ADMIN))


def is_manager(actor: Actor, media: Media) -> bool:
    """The owner and admins see everything of a media and get its URL."""
    return actor.is_admin or (actor.user_id is not None and str(actor.user_id) == media.owner_id)


def check_may_complete(actor: Actor, media: Media) -> None:
    actor.require_user()
    if not is_manager(actor, media):
        raise Forbidden("Only who uploaded it completes an upload.")
