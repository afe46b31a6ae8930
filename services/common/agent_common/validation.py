"""Text checks every service applies to user input before it reaches PostgreSQL."""

from __future__ import annotations

from fastapi import HTTPException


def invalid(field: str, message: str, kind: str, where: str = "body") -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors."""
    return HTTPException(422, [{"loc": [where, field], "msg": message, "type": kind}])


def page_limit(limit: int | None, default: int, maximum: int) -> int:
    """The page size a list route was asked for (`?limit=`): the default when absent, refused
    above the maximum (both settings, so the check is here rather than in the route's schema)."""
    if limit is None:
        return default
    if limit > maximum:
        raise invalid("limit", f"Input should be less than or equal to {maximum}", "less_than_equal", "query")
    return limit


def clean_text(value: str, field: str, max_chars: int, *, required: bool = True) -> str:
    """Strip surrounding space; refuse empty, over-long, NUL-holding or unencodable text
    (PostgreSQL cannot store NUL, and lone surrogates are not UTF-8)."""
    text = value.strip()
    if required and not text:
        raise invalid(field, f"{field} must not be empty", "string_too_short")
    if len(text) > max_chars:
        raise invalid(field, f"{field} is longer than {max_chars} characters", "string_too_long")
    if "\x00" in text:
        raise invalid(field, f"{field} must not contain NUL characters", "string_nul")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(field, f"{field} is not valid Unicode text", "string_unicode") from None
    return text
