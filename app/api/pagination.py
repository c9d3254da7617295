"""Cursor pagination on (timestamp, id): stable under inserts, one index range scan.

A cursor is opaque and URL-safe (base64url of the last row's timestamp and id). A page
is fetched with one row more than asked: that row only says another page exists, so
the last page has no next cursor.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from app.api.errors import ValidationFailed

T = TypeVar("T")


def encode(at: datetime, ident: uuid.UUID) -> str:
    raw = f"{at.isoformat()}|{ident}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None) -> tuple[datetime | None, uuid.UUID | None]:
    """The (timestamp, id) a page starts after; a bad cursor is a 422 naming it."""
    if not cursor:
        return None, None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, ident = raw.partition("|")
        return datetime.fromisoformat(at), uuid.UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed(
            [("cursor", "cursor", "not a cursor from a previous page")]
        ) from None


def cut(
    rows: Sequence[T], limit: int, position: Callable[[T], tuple[datetime, uuid.UUID]]
) -> tuple[list[T], str | None]:
    """The page (``rows`` were fetched with ``limit + 1``) and the next page's cursor,
    None when this page is the last."""
    page = list(rows[:limit])
    if len(rows) <= limit or not page:
        return page, None
    return page, encode(*position(page[-1]))


def encode_parts(*parts: object) -> str:
    """A cursor of any positions (their ``str``); ``decode_parts`` reads it back."""
    raw = "|".join(str(p) for p in parts).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_parts(cursor: str | None, n: int) -> list[str] | None:
    """The ``n`` positions of a cursor from ``encode_parts``; a bad cursor is a 422."""
    if not cursor:
        return None
    try:
        parts = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        parts = []
    if len(parts) != n:
        raise ValidationFailed([("cursor", "cursor", "not a cursor from a previous page")])
    return parts
