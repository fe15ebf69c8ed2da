"""What the subgraphs' seed modules share with `coursegraph seed`: the marks on seeded data, the person a
seeded user is to the other services, progress reporting and the errors.

The command itself (checks, `--reset`, progress, report) is the composition root's (`coursegraph_cli.seed`);
each service writes its own store in its own `subgraphs.<name>.seed`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

SEED_EMAIL_DOMAIN = "seed.example.org"
SEED_MARKER = "seeded"  # field set to true on every seeded document

# Called by a seeder after each batch it wrote: (step, number of items).
Advance = Callable[[str, int], None]


class SeedError(RuntimeError):
    """Seeding cannot go on; the message says why and what to do."""


class StoreUnavailable(SeedError):
    """A store does not answer (nothing has been changed)."""


@dataclass(frozen=True)
class Person:
    """A seeded user as the other services need it: the id and when the account was created."""

    id: str
    joined_at: datetime


def redact(url: str) -> str:
    """A store URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
