"""What may be uploaded: allowed types and size (settings), never active content, a plain file name,
and a detected type that matches the declared one."""

import unicodedata
from dataclasses import dataclass

import magic

from coursegraph.codes import FieldCode
from coursegraph.errors import FieldError

FILENAME_MAX = 255
# Active content: served from our domain it would run as our pages (stored XSS). Never allowed, whatever
# the settings say.
NEVER = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/javascript",
        "application/javascript",
        "application/x-shockwave-flash",
    }
)
# libmagic's names for some types differ from what clients declare.
DETECTED_ALIASES = {"image/jpg": "image/jpeg", "audio/mp3": "audio/mpeg", "audio/x-wav": "audio/wav"}
SNIFF_BYTES = 8192  # what detection reads of an object: enough for every allowed type's signature


@dataclass(frozen=True)
class UploadRules:
    allowed_types: frozenset[str]
    max_bytes: int

    def check(self, filename: str, content_type: str, size: int) -> list[FieldError]:
        errors = []
        if filename_problem := _filename_problem(filename):
            errors.append(FieldError("filename", FieldCode.INVALID, filename_problem))
        declared = normalised_type(content_type)
        if declared in NEVER:
            errors.append(
                FieldError(
                    "contentType", FieldCode.NOT_ALLOWED, f"{declared} is never accepted (active content)."
                )
            )
        elif declared not in self.allowed_types:
            allowed = ", ".join(sorted(self.allowed_types))
            errors.append(FieldError("contentType", FieldCode.NOT_ALLOWED, f"Allowed types: {allowed}."))
        if size < 1:
            errors.append(FieldError("size", FieldCode.INVALID, "size must be at least 1 byte."))
        elif size > self.max_bytes:
            errors.append(FieldError("size", FieldCode.TOO_LARGE, f"At most {self.max_bytes} bytes."))
        return errors


def normalised_type(content_type: str) -> str:
    """`Image/PNG; charset=x` -> `image/png`."""
    return content_type.split(";", 1)[0].strip().lower()


def detected_type(head: bytes) -> str:
    """The type libmagic sees in an object's first bytes."""
    found = normalised_type(magic.from_buffer(head, mime=True))
    return DETECTED_ALIASES.get(found, found)


def display_name(filename: str) -> str:
    """The name shown to people: NFC, trimmed, one line (the name was checked first)."""
    return " ".join(unicodedata.normalize("NFC", filename).split())[:FILENAME_MAX]


def _filename_problem(filename: str) -> str | None:
    name = unicodedata.normalize("NFC", filename).strip()
    if not name:
        return "filename must not be empty."
    if len(name) > FILENAME_MAX:
        return f"filename has at most {FILENAME_MAX} characters."
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith(".."):
        return "filename must be a plain file name, without a path."
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in name):
        return "filename must not contain control characters."
    return None
