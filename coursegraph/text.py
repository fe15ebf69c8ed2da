"""Text a client sends: normalised, bounded, and refused when it is not text (one rule for every domain).

JSON escapes let a client send a lone UTF-16 surrogate ("\\ud800"), which no UTF-8 store or answer can
hold; control characters have no place in names and titles.
"""

import unicodedata

from coursegraph.codes import FieldCode
from coursegraph.errors import FieldError

LINE_BREAKS = "\n\t\r"


def is_text(value: str) -> bool:
    """False for strings with a lone surrogate."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def not_text(value: str) -> str | None:
    """What makes `value` unfit for any store or answer (a NUL, a lone surrogate), or None."""
    if "\x00" in value:
        return "a NUL character"
    if not value.isascii() and not is_text(value):
        return "a lone UTF-16 surrogate"
    return None


def clean_text(
    value: str,
    field: str,
    *,
    maximum: int,
    required: bool,
    errors: list[FieldError],
    line_breaks: bool = True,
) -> str:
    """`value` NFC-normalised and stripped; a problem is added to `errors` (nothing is raised)."""
    if not is_text(value):
        errors.append(FieldError(field, FieldCode.INVALID, f"{field} must be valid Unicode text."))
        return value
    cleaned = unicodedata.normalize("NFC", value).strip()
    allowed = LINE_BREAKS if line_breaks else ""
    if required and not cleaned:
        errors.append(FieldError(field, FieldCode.REQUIRED, f"{field} must not be empty."))
    elif len(cleaned) > maximum:
        errors.append(FieldError(field, FieldCode.TOO_LONG, f"{field} must be at most {maximum} characters."))
    elif any(unicodedata.category(c) == "Cc" and c not in allowed for c in cleaned):
        errors.append(FieldError(field, FieldCode.INVALID, f"{field} must not contain control characters."))
    return cleaned
