"""What a notification record is in: its life from claim to outcome."""

from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"  # claimed; its email may be on its way
    SENT = "sent"
    FAILED = "failed"  # permanently: the provider refused it
    SKIPPED = "skipped"  # the recipient opted out of its category
