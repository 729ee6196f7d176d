"""What text the services accept.

JSON can spell a lone UTF-16 surrogate (`"\\ud800"`), which is not a character: Python decodes
it into a `str` that cannot be encoded as UTF-8, so it would fail far from the request
(hashing a password, encoding BSON, calling Stripe, rendering JSON) as a 500. Every JSON
request body is therefore checked once, right after it is parsed (`reject_invalid_text`, a
dependency of every route, see `common.service`), and refused with a 400 naming the field.

Text shown on one line (a ticket's title) must also be free of control characters.
"""

from __future__ import annotations

import email.message
import unicodedata
from functools import lru_cache
from typing import Any

from fastapi import Request

from common.errors import RequestValidationFailed

FORMATTING_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Bidirectional embeddings, overrides and isolates: invisible, and they reorder the text
displayed after them (a title could show as something else than it is)."""
LINE_BREAKING_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
"""Control characters (NUL, ESC, newline, DEL, ...) and the line and paragraph separators."""


def is_valid_unicode(text: str) -> bool:
    """False when `text` holds a lone surrogate (it then has no UTF-8 form)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def has_control_characters(text: str) -> bool:
    """True when `text` holds a character that has no place in one line of text.

    Other invisible format characters (Cf) stay allowed: the zero-width joiner builds emoji
    and the zero-width non-joiner is part of Persian and Indic spelling.
    """
    return any(
        unicodedata.category(char) in LINE_BREAKING_CATEGORIES or char in FORMATTING_CONTROLS
        for char in text
    )


def is_blank(text: str) -> bool:
    """True when `text` shows nothing: only whitespace and invisible format characters."""
    return all(char.isspace() or unicodedata.category(char) == "Cf" for char in text)


def invalid_text_location(document: Any) -> list[str | int] | None:
    """Where in a parsed JSON `document` the first string that is not valid Unicode is: the
    path of keys and indexes to it (to the object, for a key), or None when there is none."""
    pending: list[tuple[list[str | int], Any]] = [([], document)]
    while pending:  # not recursive: a deeply nested document must not exhaust the stack
        path, value = pending.pop()
        if isinstance(value, str):
            if not is_valid_unicode(value):
                return path
        elif isinstance(value, dict):
            if not all(is_valid_unicode(key) for key in value):
                return path
            pending.extend(([*path, key], item) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            pending.extend(
                ([*path, index], item) for index, item in reversed(list(enumerate(value)))
            )
    return None


@lru_cache(maxsize=64)
def _is_json(content_type: str | None) -> bool:
    """Whether FastAPI parses a body of this type as JSON (`application/json`, `.../x+json`)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


async def reject_invalid_text(request: Request) -> None:
    """FastAPI dependency of every route: a JSON body holding text that is not valid Unicode
    is a 400 naming the first such field (before any route or other dependency sees it)."""
    if not _is_json(request.headers.get("content-type")):
        return
    try:
        document = await request.json()  # already parsed (and kept) by a route taking a body
    except (ValueError, RecursionError):
        return  # not JSON: a route taking a body has answered 400 already; others ignore it
    location = invalid_text_location(document)
    if location is None:
        return
    names = [part for part in location if isinstance(part, str)]
    label = names[-1][:1].upper() + names[-1][1:] if names else "Request body"
    field = ".".join(str(part) for part in location) or "body"
    raise RequestValidationFailed([{"message": f"{label} must be valid Unicode", "field": field}])
