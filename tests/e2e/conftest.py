"""The e2e fixtures live in tests/support/e2e.py, a plugin of the whole suite (the browser tests use the same
session stack). Its helpers stay importable from here; no fixture is defined or imported here, or the stack
would be started twice."""

from tests.support.e2e import (
    COURSE_FIELDS,
    CREATE_COURSE,
    PUBLISH_COURSE,
    REDIRECT_URI,
    E2EStack,
    StartStack,
    count_users,
    sendgrid_environment,
    unique_email,
    user_snapshot,
    wait_for_notifications_consumer,
)

__all__ = [
    "COURSE_FIELDS",
    "CREATE_COURSE",
    "PUBLISH_COURSE",
    "REDIRECT_URI",
    "E2EStack",
    "StartStack",
    "count_users",
    "sendgrid_environment",
    "unique_email",
    "user_snapshot",
    "wait_for_notifications_consumer",
]
