"""Categories of email, and RFC 8058 one-click unsubscribe tokens (ADR 0019).

A token is signed (itsdangerous: HMAC-SHA256, with a key derived for this purpose alone), names one
user and one category, and expires. The unsubscribe endpoint needs no session: the token is the whole
authority, and it is good for exactly one change, the opt-out of that category. Account and security mail
has no token: nobody may opt out of it.
"""

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

from itsdangerous import BadData, URLSafeTimedSerializer

from subgraphs.notifications.rendering import Kind

SALT = "coursegraph.notifications.unsubscribe.v1"  # single purpose: useless as any other signed value


class Category(StrEnum):
    ACCOUNT = "account"  # sign-in and security: always sent
    COURSES = "courses"
    ASSESSMENTS = "assessments"
    CERTIFICATES = "certificates"
    ANNOUNCEMENTS = "announcements"  # issue 17: what a course's instructor posts


ESSENTIAL = frozenset({Category.ACCOUNT})

CATEGORY: dict[Kind, Category] = {
    Kind.WELCOME: Category.ACCOUNT,
    Kind.ROLE_CHANGED: Category.ACCOUNT,
    Kind.ENROLLMENT_CONFIRMED: Category.COURSES,
    Kind.COURSE_COMPLETED: Category.COURSES,
    Kind.ASSESSMENT_RESULT: Category.ASSESSMENTS,
    Kind.CERTIFICATE_ISSUED: Category.CERTIFICATES,
    Kind.ANNOUNCEMENT: Category.ANNOUNCEMENTS,
}


class InvalidToken(Exception):
    """Tampered, expired, or not an unsubscribe token."""


@dataclass(frozen=True)
class OptOut:
    user_id: str
    category: Category


class UnsubscribeTokens:
    def __init__(self, secret: str, *, max_age_seconds: int) -> None:
        self._serializer = URLSafeTimedSerializer(
            secret, salt=SALT, signer_kwargs={"digest_method": hashlib.sha256}
        )
        self._max_age = max_age_seconds

    def issue(self, user_id: str, category: Category) -> str:
        if category in ESSENTIAL:
            raise ValueError(f"{category} mail cannot be unsubscribed from")
        return str(self._serializer.dumps({"user": user_id, "category": category.value}))

    def read(self, token: str) -> OptOut:
        try:
            payload: Any = self._serializer.loads(token, max_age=self._max_age)
            category = Category(payload["category"])
            user_id = payload["user"]
        except (BadData, KeyError, TypeError, ValueError) as exc:
            raise InvalidToken("This unsubscribe link is not valid or has expired.") from exc
        if category in ESSENTIAL or not isinstance(user_id, str):
            raise InvalidToken("This unsubscribe link is not valid or has expired.")
        return OptOut(user_id=user_id, category=category)

    def headers(self, endpoint: str, token: str) -> dict[str, str]:
        """RFC 8058: where to POST `List-Unsubscribe=One-Click` (the same URL a person may open)."""
        url = f"{endpoint}?{urlencode({'token': token})}"
        return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
